#!/usr/bin/env bash
# Installs the browser the web app's end-to-end test drives: Debian's chromium and chromium-driver
# (/usr/bin/chromium, /usr/bin/chromedriver). Does nothing when both are already there. Needs root (or sudo).
set -euo pipefail
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup_browser.sh: need root (or sudo) to apt-get install chromium" >&2; exit 1; }
  SUDO="sudo"
fi
# apt-get's output (hundreds of lines) goes to a log; the screen gets one line, or the log's tail if it fails.
LOG="$(cd "$(dirname "$0")/.." && pwd)/.venv/setup_browser.log"
mkdir -p "$(dirname "$LOG")"
echo "== installing chromium + chromium-driver (for tests/test_webapp_browser.py; apt-get's output: $LOG)"
if ! { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    --no-install-recommends chromium chromium-driver; } >"$LOG" 2>&1; then
  tail -n 30 "$LOG" >&2
  echo "setup_browser.sh: apt-get failed; its whole output is in $LOG" >&2
  exit 1
fi
/usr/bin/chromium --version && /usr/bin/chromedriver --version
