// Inbox: picking a template fills the reply box with its rendered text (placeholders already
// filled by the server); the agent can edit it before sending. Sending disables the button so a
// double click cannot send the customer the same message twice.
(function () {
  "use strict";
  var select = document.getElementById("template-select");
  var body = document.getElementById("reply-body");
  var templateName = document.getElementById("template_name");
  var form = document.getElementById("reply-form");
  if (select && body) {
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      if (!option.value) { templateName.value = ""; return; }
      if (body.value.trim() && !window.confirm("Replace the text in the reply box with this template?")) {
        select.value = templateName.value; return;
      }
      body.value = option.dataset.body;
      templateName.value = option.value;
      body.focus();
    });
  }
  if (form) {
    form.addEventListener("submit", function () {
      var send = document.getElementById("send");
      send.disabled = true;
      send.textContent = "Sending…";
    });
  }
  var messages = document.getElementById("messages");
  if (messages && messages.lastElementChild) { messages.lastElementChild.scrollIntoView({block: "nearest"}); }
})();
