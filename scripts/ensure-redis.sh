#!/usr/bin/env bash
# Makes sure redis-server is on PATH: the tests start real Redis processes.
# Installs it with apt-get when running as root on Debian/Ubuntu; otherwise
# says how to install it and fails.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found; installing it with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  # The package may start a system instance; the tests start their own.
  command -v redis-server >/dev/null 2>&1 && exit 0
fi
cat >&2 <<'MSG'
redis-server is required by the tests (they start real Redis processes).
Install it, then run make test again:
  Debian/Ubuntu: sudo apt-get install redis-server
  macOS:         brew install redis
MSG
exit 1
