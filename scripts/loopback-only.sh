#!/usr/bin/env bash
# Runs a command with loopback as the only network, so WebRTC tests (ICE, mDNS) send nothing off the machine:
# as root, in a network namespace of its own (`unshare -n`, then `ip link set lo up`). Where that is not possible
# (not root, or no permission for namespaces) the command runs as it is, talking only to 127.0.0.1.
set -euo pipefail
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  exec unshare -n bash -c 'ip link set lo up && exec "$@"' bash "$@"
fi
echo "loopback-only: not in a network namespace (needs root, unshare and ip); running as is" >&2
exec "$@"
