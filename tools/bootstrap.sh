#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the pinned lock. uv when it can be had (4 s), pip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="$(command -v python3.11 || command -v python3)"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "orderflow needs Python 3.11 (found $("$PYTHON" --version)); install python3.11 first" >&2
  exit 1
fi
UV="$(command -v uv || true)"
if [ -z "$UV" ]; then
  "$PYTHON" -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1 || true
  UV="$(command -v uv || "$PYTHON" -c 'import shutil,sysconfig,os; print(shutil.which("uv") or os.path.join(sysconfig.get_path("scripts"),"uv"))')"
  [ -x "$UV" ] || UV=""
fi
if [ -n "$UV" ]; then
  [ -x .venv/bin/python ] || "$UV" venv -q --python "$PYTHON" .venv
  "$UV" pip sync -q --python .venv/bin/python requirements.txt
  # This checkout itself, editable: Airflow then sees the orderflow provider (typed connection forms) and
  # plugin entry points, as in a seller's install of the wheel. The code stays at plugins/orderflow.
  "$UV" pip install -q --python .venv/bin/python --no-deps -e .
else
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
fi
echo "[orderflow] .venv ready ($(.venv/bin/python --version))"
