// Packing station: a keyboard-wedge scanner types characters then Enter, many codes a second.
// Every code is read and cleared synchronously on Enter and queued; one sender posts the queue in
// order (a burst goes in one request) and retries the same batch after a network error. Each
// scan carries its own id, so a batch re-posted after a lost answer is not counted twice.
(function () {
  "use strict";
  var station = document.getElementById("station");
  if (!station) { return; }
  var scanInput = document.getElementById("scan");
  var feedback = document.getElementById("feedback");
  var pendingEl = document.getElementById("pending");
  var csrf = station.dataset.csrf;
  var queue = [];
  var sending = false;
  var packed = station.dataset.packed === "true";
  var seq = 0;
  var sessionKey = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);

  // -- sounds: generated with WebAudio, no audio files -------------------------------------------
  var audio = null;
  function tone(freq, start, length, type, ctx) {
    var osc = ctx.createOscillator();
    var gain = ctx.createGain();
    osc.type = type;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.25, ctx.currentTime + start);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + start + length);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.start(ctx.currentTime + start);
    osc.stop(ctx.currentTime + start + length + 0.02);
  }
  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") { audio.resume(); }
      if (ok) { tone(1320, 0, 0.09, "sine", audio); }
      else { tone(220, 0, 0.18, "square", audio); tone(180, 0.22, 0.25, "square", audio); }
    } catch (e) { /* no audio device: the colours still tell */ }
  }
  station.dataset.sounds = "0";

  function show(kind, text) {
    feedback.textContent = text;
    feedback.className = "feedback feedback-" + kind;
  }

  function keepFocus() {
    var dialog = document.getElementById("override-dialog");
    if (dialog && dialog.open) { return; }
    if (scanInput && !scanInput.disabled && document.activeElement !== scanInput) { scanInput.focus(); }
  }

  function updateProgress(progress) {
    document.getElementById("overall-counted").textContent = progress.counted;
    var bar = document.getElementById("overall-progress");
    bar.max = progress.expected || 1;
    bar.value = progress.counted;
    progress.lines.forEach(function (line) {
      var lineEl = station.querySelector('.line[data-line="' + CSS.escape(line.order_line_id) + '"]');
      if (!lineEl) { return; }
      lineEl.querySelector(".line-counted").textContent = line.counted;
      lineEl.classList.toggle("line-done", line.expected > 0 && line.counted >= line.expected);
      line.components.forEach(function (c) {
        var li = lineEl.querySelector('.component[data-component="' + c.component_id + '"]');
        if (!li) { return; }
        li.querySelector(".c-counted").textContent = c.counted;
        li.classList.toggle("done", c.counted >= c.expected);
      });
    });
  }

  function logScan(r) {
    var log = document.getElementById("scan-log");
    var li = document.createElement("li");
    li.className = r.ok ? "scan-ok" : "scan-bad";
    var code = document.createElement("code");
    code.textContent = r.code;
    li.appendChild(code);
    li.appendChild(document.createTextNode(" " + r.message));
    log.insertBefore(li, log.firstChild);
  }

  function markPacked() {
    packed = true;
    station.dataset.packed = "true";
    scanInput.disabled = true;
    document.getElementById("order-status").textContent = "packed";
    show("ok", "All items verified: order PACKED. Print the label.");
    var done = document.getElementById("done-panel");
    done.hidden = false;
    var frame = document.getElementById("label-frame");
    if (frame && frame.dataset.src) { frame.src = frame.dataset.src; }
    var first = done.querySelector(".btn-print");
    if (first) { first.focus(); }
    var override = document.querySelector(".override");
    if (override) { override.hidden = true; }
  }

  function setPending() {
    var n = queue.length;
    pendingEl.hidden = n === 0;
    pendingEl.textContent = n ? n + " scan(s) being checked…" : "";
    station.dataset.pending = String(n + (sending ? 1 : 0));
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {error: "Unexpected answer (" + resp.status + ")"}; })
        .then(function (data) { data._status = resp.status; return data; });
    });
  }

  function pump() {
    if (sending || queue.length === 0) { setPending(); return; }
    sending = true;
    var batch = queue.slice(0);
    setPending();
    post(station.dataset.scanUrl, {scans: batch}).then(function (data) {
      if (data._status === 401) {
        show("error", data.error + " ");
        var a = document.createElement("a");
        a.href = data.login_url; a.textContent = "Log in"; feedback.appendChild(a);
        sending = false; setPending(); return;
      }
      if (data._status !== 200) {
        // Refused as a whole (order no longer packable, no permission): nothing was counted.
        queue.splice(0, batch.length);
        beep(false);
        show("error", data.error || ("Refused (" + data._status + ")"));
        sending = false; station.dataset.pending = String(queue.length); setPending();
        pump();
        return;
      }
      queue.splice(0, batch.length);
      var last = null;
      data.results.forEach(function (r) { logScan(r); last = r; });
      var anyBad = data.results.some(function (r) { return !r.ok; });
      updateProgress(data.progress);
      if (anyBad) {
        var bad = data.results.filter(function (r) { return !r.ok; });
        beep(false);
        show("error", bad[bad.length - 1].message);
      } else if (last) {
        beep(true);
        show("ok", "✓ " + last.message);
      }
      if (data.packed) { markPacked(); }
      else if (data.progress.complete) { show("ok", "All items scanned. The order is packed once its label exists."); }
      sending = false;
      setPending();
      pump();
    }).catch(function () {
      // Network trouble: keep the batch at the head of the queue and post it again.
      show("error", "Connection problem: scans kept, retrying…");
      sending = false;
      setPending();
      setTimeout(pump, 1000);
    });
  }

  if (scanInput) {
    scanInput.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") { return; }
      ev.preventDefault();
      var code = scanInput.value.trim();
      scanInput.value = "";
      if (!code || packed) { return; }
      seq += 1;
      queue.push({id: sessionKey + "-" + seq, code: code});
      setPending();
      pump();
    });
    scanInput.addEventListener("blur", function () { setTimeout(keepFocus, 150); });
    document.addEventListener("click", function (ev) {
      if (ev.target.closest("a, button, dialog, textarea, select")) { return; }
      keepFocus();
    });
  }

  // -- label printing (logged: the first print and every reprint) --------------------------------
  Array.prototype.forEach.call(document.querySelectorAll(".btn-print"), function (btn) {
    btn.addEventListener("click", function () {
      var status = btn.parentNode.querySelector(".print-status");
      post(station.dataset.printUrl, {shipment_id: Number(btn.dataset.shipment)}).then(function (data) {
        if (data._status !== 200) { status.textContent = data.error || "Print not logged"; return; }
        status.textContent = data.is_reprint ? "Reprint logged" : "Print logged";
        var frame = document.getElementById("label-frame");
        if (frame.src.indexOf(btn.dataset.src) === -1) { frame.src = btn.dataset.src; }
        // Print the PDF straight from its frame. Under browser automation (navigator.webdriver)
        // Chromium's headless PDF viewer crashes the page on print(), so there (and whenever
        // printing from the frame fails) the label opens in its own tab with the viewer's print.
        if (navigator.webdriver) { window.open(btn.dataset.src, "_blank"); return; }
        try { frame.contentWindow.focus(); frame.contentWindow.print(); }
        catch (e) { window.open(btn.dataset.src, "_blank"); }
      });
    });
  });

  // -- override of a missing scan (needs a reason and the Packing Override permission) -----------
  var overrideOpen = document.getElementById("override-open");
  if (overrideOpen) {
    var dialog = document.getElementById("override-dialog");
    overrideOpen.addEventListener("click", function () { dialog.showModal(); });
    document.getElementById("override-cancel").addEventListener("click", function () { dialog.close(); keepFocus(); });
    document.getElementById("override-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var reason = document.getElementById("override-reason").value.trim();
      if (reason.length < 5) { return; }
      post(station.dataset.completeUrl, {override_reason: reason}).then(function (data) {
        dialog.close();
        if (data._status === 200) { updateProgress(data.progress); markPacked(); }
        else { beep(false); show("error", data.error || "Override refused"); keepFocus(); }
      });
    });
  }

  var finish = document.getElementById("finish");
  if (finish) {
    finish.addEventListener("click", function () {
      post(station.dataset.completeUrl, {}).then(function (data) {
        if (data._status === 200) { finish.hidden = true; updateProgress(data.progress); markPacked(); }
        else { beep(false); show("error", data.error || "Not packed"); }
      });
    });
  }

  if (packed) { var p = document.querySelector(".btn-print"); if (p) { p.focus(); } }
  else { keepFocus(); }
  setPending();
})();
