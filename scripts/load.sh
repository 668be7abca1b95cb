#!/usr/bin/env bash
# Load test on loopback: the release server on the demo corpus with a fresh SQLite store,
# wrk posting chat questions (scripts/load/chat.lua) at a few concurrency levels; prints
# wrk's latency percentiles and the server's resident memory. Needs `wrk` (Debian package).
# Usage: scripts/load.sh [SECONDS] [CONNECTIONS...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
conns=("${@:-1 2 8 32}")
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
make -s models build >/dev/null
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GUICHET_BIND=127.0.0.1:$port GUICHET_DB=$tmp/guichet.sqlite GUICHET_CACHE=$tmp/cache \
  GUICHET_LOG=warn ./target/release/guichet serve &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
rss() { awk '/VmRSS|VmHWM/ {printf "%s %d MiB  ", $1, $2/1024}' "/proc/$pid/status"; echo; }
echo "idle: $(rss)"
for c in ${conns[*]}; do
  echo "== $c connection(s), ${secs}s, threads $(( c < 2 ? c : 2 ))"
  wrk -t "$(( c < 2 ? c : 2 ))" -c "$c" -d "${secs}s" --latency -s scripts/load/chat.lua \
    "http://127.0.0.1:$port" | grep -E "Requests/sec|requests |Non-2xx|Socket errors"
  echo "after: $(rss)"
done
