#!/usr/bin/env bash
# Load test on loopback, two set-ups side by side in one table:
#   - one machine: the release server on a fresh SQLite store;
#   - two replicas: two release servers on their own ports sharing one fresh PostgreSQL
#     database (a throwaway cluster, scripts/postgres.sh), the same route key file, the
#     load split evenly between them.
# wrk posts chat questions (scripts/load/chat.lua) at a few concurrency levels (the total
# number of connections, the same for both set-ups); the table gives requests per second,
# p50 and p99 latency and errors (non-2xx responses and socket errors), then each server's
# resident memory. Needs `wrk` (Debian package).
#
# Two replicas, two wrk processes (one per replica) rather than a load balancer in front:
# on one machine a proxy would take its share of the same cores from the replicas and add
# its own hop, and the figures would measure it too. Splitting the connections evenly is
# what a round-robin balancer does; both wrk runs start together, and the two-replica
# percentiles are those of all requests, merged from both latency distributions.
#
# Usage: scripts/load.sh [SECONDS] [CONNECTIONS...]        (default: 20 s; 1 2 8 32)
# Env: LOAD_REPLICA_DB=postgres (default) or sqlite (both replicas on one SQLite file),
#      GUICHET_MODELS (default ./models), GUICHET_BIN (default: target/release/guichet, built).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-20}
shift || true
conns=("${@:-1 2 8 32}")
conns=(${conns[*]})
replica_db=${LOAD_REPLICA_DB:-postgres}
case $replica_db in postgres | sqlite) ;; *)
  echo "LOAD_REPLICA_DB must be postgres or sqlite, not '$replica_db'" >&2
  exit 2
  ;;
esac
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
export GUICHET_MODELS=${GUICHET_MODELS:-$root/models}
[ -f "$GUICHET_MODELS/READY" ] || make -s models >/dev/null
if [ -n "${GUICHET_BIN:-}" ]; then
  bin=$GUICHET_BIN
else
  make -s build >/dev/null
  bin=$root/target/release/guichet
fi

tmp=$(mktemp -d)
pgdir=
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pgdir" ]; then
    bash scripts/postgres.sh stop "$pgdir" || true
    rm -rf "$pgdir"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# One client (wrk on loopback) speaks for every simulated resident: the per-client limits
# would refuse it at once, so they are raised; everything else is the production default.
export GUICHET_RATE_PUBLIC=1000000 GUICHET_MAX_CONNECTIONS_PER_CLIENT=4096 GUICHET_LOG=warn

# serve NAME PORT DB: starts a replica (working directory, log and cache in $tmp/NAME) and
# waits until /readyz answers; fails with the end of its log if it dies or stays unready.
serve() {
  local name=$1 port=$2 db=$3 i
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && GUICHET_BIND=127.0.0.1:$port GUICHET_DB=$db GUICHET_CACHE=$tmp/$name/cache \
    GUICHET_ROUTE_KEY_FILE=$tmp/route.key GUICHET_CORPUS=$root/corpus \
    GUICHET_POLICY=$root/calibration/policy.toml exec "$bin" serve) >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
  for i in $(seq 600); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    if ! kill -0 "$!" 2>/dev/null; then
      tail -n 20 "$tmp/$name.log" >&2
      echo "load.sh: the server $name stopped before it was ready (log above)" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "load.sh: the server $name was not ready after 120 s" >&2
  exit 1
}

rss() { awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$1/status"; }

# load NAME CONNS PORT...: CONNS connections split evenly over the ports, one wrk each,
# all at once; leaves their results in $tmp/NAME-CONNS-*.out.
load() {
  local name=$1 c=$2 k i n t
  shift 2
  k=$#
  local wrks=()
  for ((i = 0; i < k; i++)); do
    n=$((c / k + (i < c % k ? 1 : 0)))
    [ "$n" -gt 0 ] || continue
    t=$((n < 2 ? n : 2))
    [ "$k" -gt 1 ] && t=1 # as many wrk threads in all as the one-machine run's two
    local port=${@:i+1:1}
    LOAD_TAG=$name$c-$i LOAD_OUT=$tmp/$name-$c-$i.out \
      wrk -t "$t" -c "$n" -d "${secs}s" --timeout 10s --latency -s scripts/load/chat.lua \
      "http://127.0.0.1:$port" >"$tmp/$name-$c-$i.wrk" 2>&1 &
    wrks+=($!)
  done
  for i in "${wrks[@]}"; do
    wait "$i" || { cat "$tmp/$name-$c"-*.wrk >&2; echo "load.sh: wrk failed (output above)" >&2; exit 1; }
  done
}

# merge FILES...: "req/s p50_ms p99_ms errors" over the wrk results given; the quantiles of
# all requests together, from each run's quantiles weighted by its number of requests.
merge() {
  awk '
    FNR == 1 { f++ }
    $1 == "requests" { n[f] = $2; total += $2 }
    $1 == "duration_us" { rate += (n[f] / ($2 / 1e6)) }
    $1 == "non2xx" || $1 == "socket" { errors += $2 }
    $1 == "socket" { sock += $2 }
    $1 == "status" { st[$2] += $3 }
    $1 == "q" { j[f]++; q[f, j[f]] = $2; cand[$2] = 1 }
    # The share of run g at or under x: its quantiles are sorted, so a binary search.
    function below(g, x,   lo, hi, mid) {
      lo = 0; hi = j[g]
      while (lo < hi) { mid = int((lo + hi + 1) / 2); if (q[g, mid] <= x) lo = mid; else hi = mid - 1 }
      return lo / j[g]
    }
    function cdf(x,   g, s) {
      s = 0
      for (g = 1; g <= f; g++) s += n[g] * below(g, x)
      return s / total
    }
    function quantile(p,   x, best) {
      best = -1
      for (x in cand) if ((best < 0 || x + 0 < best) && cdf(x + 0) >= p) best = x + 0
      return best
    }
    END {
      if (total == 0) { printf "%9s %8s %8s %7s", "0", "-", "-", errors; exit }
      printf "%9.1f %8.1f %8.1f %7d", rate, quantile(0.50) / 1000, quantile(0.99) / 1000, errors
      if (errors > 0) {
        printf "\t"
        for (code in st) printf "%s %d, ", code, st[code]
        printf "socket %d", sock
      }
    }' "$@"
}

echo "load: ${secs} s per run, POST /v1/chat (scripts/load/chat.lua), $(nproc) cores, loopback" >&2

# One machine, SQLite.
port=$(free_port)
serve one "$port" "$tmp/one/guichet.sqlite"
rss_one_idle=$(rss "$pid_one")
for c in "${conns[@]}"; do
  echo "== one machine (SQLite), $c connection(s)" >&2
  load one "$c" "$port"
done
rss_one=$(rss "$pid_one")
kill "$pid_one"
wait "$pid_one" 2>/dev/null || true

# Two replicas on one database.
if [ "$replica_db" = postgres ]; then
  bash scripts/postgres.sh install
  pgdir=$(mktemp -d "${TMPDIR:-/tmp}/guichet-load-pg.XXXXXX")
  for pgport in $(seq 55433 55532); do
    rc=0
    pgurl=$(bash scripts/postgres.sh start "$pgdir" "$pgport" 2>"$tmp/pg.err") || rc=$?
    [ "$rc" = 3 ] || break
  done
  [ "$rc" = 0 ] || { cat "$tmp/pg.err" >&2; exit 1; }
  psql -q "$pgurl" -c "CREATE DATABASE guichet_load"
  shared_db=${pgurl%/postgres}/guichet_load
  label="2 replicas, PostgreSQL"
else
  shared_db=$tmp/shared.sqlite
  label="2 replicas, one SQLite file"
fi
port_a=$(free_port)
# The first replica imports the corpus and migrates; the second starts on a ready store,
# as in a deployment, and with the first one's embedding cache (another machine would
# have its own, built the same way).
serve a "$port_a" "$shared_db"
if [ "$replica_db" = postgres ]; then
  # A build that does not know postgres:// would take the URL for a relative SQLite path
  # (each replica its own file): make sure the tables are really in PostgreSQL.
  tables=$(psql -Atq "$shared_db" -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
  if [ "$tables" = 0 ]; then
    echo "load.sh: this build of guichet did not create its tables in PostgreSQL (GUICHET_DB=postgres:// not supported?); LOAD_REPLICA_DB=sqlite runs both replicas on one SQLite file" >&2
    exit 1
  fi
fi
mkdir -p "$tmp/b"
[ ! -d "$tmp/a/cache" ] || cp -r "$tmp/a/cache" "$tmp/b/cache"
port_b=$(free_port)
while [ "$port_b" = "$port_a" ]; do port_b=$(free_port); done
serve b "$port_b" "$shared_db"
rss_a_idle=$(rss "$pid_a") rss_b_idle=$(rss "$pid_b")
for c in "${conns[@]}"; do
  echo "== $label, $c connection(s) in all" >&2
  load two "$c" "$port_a" "$port_b"
done
rss_a=$(rss "$pid_a") rss_b=$(rss "$pid_b")

# One table: a line per concurrency level, both set-ups side by side.
echo
printf '%-6s | %-41s | %-41s\n' "" "one machine, SQLite" "$label"
printf '%-6s | %9s %8s %8s %7s       | %9s %8s %8s %7s\n' conns "req/s" "p50 ms" "p99 ms" errors \
  "req/s" "p50 ms" "p99 ms" errors
details=()
for c in "${conns[@]}"; do
  one=$(merge "$tmp"/one-"$c"-*.out) two=$(merge "$tmp"/two-"$c"-*.out)
  printf '%-6s | %s       | %s\n' "$c" "${one%%$'\t'*}" "${two%%$'\t'*}"
  [[ $one != *$'\t'* ]] || details+=("one machine, $c connection(s): ${one#*$'\t'}")
  [[ $two != *$'\t'* ]] || details+=("$label, $c connection(s): ${two#*$'\t'}")
done
echo
echo "peak resident memory (VmHWM): one machine ${rss_one_idle} MiB idle, ${rss_one} MiB after;" \
  "replicas ${rss_a_idle} + ${rss_b_idle} MiB idle, ${rss_a} + ${rss_b} MiB after"
echo "errors: non-2xx responses plus socket errors (connect, read, write, and no answer within 10 s)"
for d in "${details[@]}"; do echo "  $d"; done
if [ ${#details[@]} -gt 0 ]; then
  # What the servers said about them (time stamps cut, so that equal lines count together).
  said=$(for log in "$tmp"/one.log "$tmp"/a.log "$tmp"/b.log; do
    grep -hE ' (ERROR|WARN) ' "$log" | cut -d' ' -f2- | sed -E 's/[0-9]+ ms|[0-9]+(\.[0-9]+)?(ms|µs|s)\b/…/g' \
      | sort | uniq -c | sort -rn | head -n 5 | sed "s|^|  $(basename "$log" .log): |" || true
  done)
  if [ -n "$said" ]; then
    echo "servers' errors and warnings, most frequent first:"
    echo "$said"
  fi
fi
