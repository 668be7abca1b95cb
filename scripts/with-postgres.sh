#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL: installs the server if needed
# (scripts/postgres.sh install), starts a cluster in a temporary folder on the first free
# port from 55433, exports its URL as GUICHET_TEST_PG, runs the command, then stops the
# cluster and removes the folder whether the command passed or failed. Exits with the
# command's own status. Used by `make test`.
# Usage: scripts/with-postgres.sh CMD [ARGS...]
set -euo pipefail
[ $# -ge 1 ] || {
  echo "usage: scripts/with-postgres.sh CMD [ARGS...]" >&2
  exit 2
}
pg=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/postgres.sh

bash "$pg" install
dir=$(mktemp -d "${TMPDIR:-/tmp}/guichet-pg.XXXXXX")
cleanup() {
  bash "$pg" stop "$dir" || echo "with-postgres.sh: could not stop the cluster in $dir" >&2
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

err=$(mktemp)
url=
for port in $(seq 55433 55532); do
  rc=0
  url=$(bash "$pg" start "$dir" "$port" 2>"$err") || rc=$?
  [ "$rc" = 3 ] || break # 3: port taken, try the next one
done
if [ "$rc" != 0 ]; then
  cat "$err" >&2
  rm -f "$err"
  echo "with-postgres.sh: no PostgreSQL could be started (last port tried: $port)" >&2
  exit 1
fi
rm -f "$err"
echo "with-postgres.sh: PostgreSQL at $url (data in $dir)" >&2

export GUICHET_TEST_PG=$url
rc=0
"$@" || rc=$?
exit "$rc"
