#!/usr/bin/env bash
# Browser tests drive the system's Chromium (Playwright cannot download browsers here), and as root they run in a
# loopback-only network namespace, which needs `ip` (iproute2) to bring the loopback interface up. Installs what
# is missing from Debian when we are root; otherwise says exactly what to install. (.ci/run calls it before
# `npm ci`: better-sqlite3 compiles its native module with g++, make and python3 where no prebuilt binary can be
# fetched, so those are ensured here too.)
set -euo pipefail
chromium_path="${CHROMIUM_PATH:-/usr/bin/chromium}"
missing=()
[ -x "$chromium_path" ] || missing+=(chromium)
if [ "$(id -u)" = 0 ] && ! command -v ip >/dev/null; then missing+=(iproute2); fi
if [ "$(id -u)" = 0 ]; then
  command -v g++ >/dev/null || missing+=(g++)
  command -v make >/dev/null || missing+=(make)
  command -v python3 >/dev/null || missing+=(python3)
fi
if [ ${#missing[@]} = 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing from Debian for the browser tests: ${missing[*]}…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
cat >&2 <<MSG
The browser tests need Chromium at $chromium_path.
Install it with:   sudo apt-get install -y chromium      (Debian/Ubuntu)
or point CHROMIUM_PATH at a Chromium/Chrome binary (version 120 or newer, with WebGPU).
MSG
exit 1
