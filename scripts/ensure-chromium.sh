#!/usr/bin/env bash
# Browser tests drive the system's Chromium (Playwright cannot download browsers here). Installs Debian's
# chromium when it is missing and we are root; otherwise says exactly what to install.
set -euo pipefail
chromium_path="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$chromium_path" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser tests…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
cat >&2 <<MSG
The browser tests need Chromium at $chromium_path.
Install it with:   sudo apt-get install -y chromium      (Debian/Ubuntu)
or point CHROMIUM_PATH at a Chromium/Chrome binary (version 120 or newer, with WebGPU).
MSG
exit 1
