#!/usr/bin/env bash
# What the tests need from Debian, installed only when missing: Chromium for the browser tests
# (driven by Playwright; never `playwright install`) and the psql client (the compose init script
# test runs it against the real server), and redis-server (the Celery cluster test's private broker).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
# The Celery cluster test (tests/cluster) starts a private redis-server on a free port.
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "[orderflow] installing from Debian: ${missing[*]}"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
