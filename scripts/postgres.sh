#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and load runs: Debian's server binaries, a cluster in a
# folder of your choice, trust auth on 127.0.0.1 only, tuned for speed rather than
# durability (fsync off: never for data you keep). PostgreSQL refuses to run as root, so as
# root the cluster belongs to the `postgres` user the Debian package creates; otherwise to
# you. The Debian default cluster is never used.
#
#   scripts/postgres.sh install           Debian's postgresql package, if no initdb is found
#   scripts/postgres.sh start DIR [PORT]  create (first time) and start; prints the URL
#   scripts/postgres.sh stop DIR          fast shutdown; nothing to do if not running
#   scripts/postgres.sh restart DIR       stop, then start with the same settings
#   scripts/postgres.sh url DIR           the cluster's URL
#
# The URL is the only thing written to standard output; messages go to standard error.
# `start` exits 3 when PORT is already taken (scripts/with-postgres.sh tries the next one).
set -euo pipefail

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

usage() {
  grep '^#   scripts/postgres.sh' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2
  exit 2
}

# The newest installed server's bin folder (PG_BIN overrides).
pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    echo "$PG_BIN"
    return
  fi
  local found
  found=$(compgen -G "/usr/lib/postgresql/*/bin/initdb" | sort -V | tail -n 1 || true)
  [ -n "$found" ] || die "no PostgreSQL server found (/usr/lib/postgresql/*/bin/initdb): run 'scripts/postgres.sh install'"
  dirname "$found"
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cmd_install() {
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "installing PostgreSQL needs root (or sudo): apt-get install postgresql"
    sudo=(sudo)
  fi
  echo "postgres.sh: installing Debian's postgresql package" >&2
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql)
  if ! "${apt[@]}" >/dev/null; then
    # A fresh machine's package lists may be missing or stale: refresh them once.
    "${sudo[@]}" apt-get update -q >/dev/null
    "${apt[@]}" >/dev/null
  fi
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
}

port_in_use() {
  # A connect that succeeds means someone listens; bash's /dev/tcp needs no extra tool.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The port written in the cluster's configuration (the last `port =` line wins, as in PostgreSQL).
conf_port() {
  local p
  p=$(sed -n 's/^port = \([0-9][0-9]*\).*/\1/p' "$1/postgresql.conf" 2>/dev/null | tail -n 1)
  [ -n "$p" ] || die "$1 holds no cluster made by this script (no port in $1/postgresql.conf)"
  echo "$p"
}

url_of() {
  echo "postgres://postgres@127.0.0.1:$1/postgres"
}

create_cluster() {
  local dir=$1 port=$2 bin=$3
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "$dir is neither empty nor a cluster: give an empty or new folder"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    runuser -u postgres -- test -w "$dir" \
      || die "the postgres user cannot reach $dir (a parent folder is closed to it): use a folder under /tmp, such as \$(mktemp -d)"
  fi
  chmod 700 "$dir"
  local out
  out=$(as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-locale \
    --no-instructions 2>&1) || { echo "$out" >&2; die "initdb failed in $dir"; }
  # Trust is acceptable only because nothing but this machine's loopback can connect.
  as_owner tee "$dir/pg_hba.conf" >/dev/null <<'EOF'
# Throwaway test cluster (scripts/postgres.sh): this machine only, no password.
local all all trust
host  all all 127.0.0.1/32 trust
EOF
  as_owner tee -a "$dir/postgresql.conf" >/dev/null <<EOF

# scripts/postgres.sh: loopback only, socket in the data folder, speed over durability.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 400
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
port = $port
EOF
}

cmd_start() {
  [ $# -ge 1 ] && [ $# -le 2 ] || usage
  local dir port bin
  dir=$(realpath -m "$1")
  bin=$(pg_bin)
  if [ -f "$dir/PG_VERSION" ]; then
    port=$(conf_port "$dir")
    if [ $# = 2 ] && [ "$2" != "$port" ]; then
      echo "port = $2" | as_owner tee -a "$dir/postgresql.conf" >/dev/null
      port=$2
    fi
    if as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      echo "postgres.sh: already running in $dir" >&2
      url_of "$port"
      return 0
    fi
  else
    [ $# = 2 ] || die "$dir holds no cluster yet: give a PORT to create one"
    port=$2
  fi
  [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65535 ] \
    || die "PORT must be a number from 1024 to 65535, not '$port'"
  if port_in_use "$port"; then
    echo "postgres.sh: 127.0.0.1:$port is already in use: choose another port" >&2
    exit 3
  fi
  [ -f "$dir/PG_VERSION" ] || create_cluster "$dir" "$port" "$bin"
  # pg_ctl opens the log as the owner, so it lives in the cluster's folder.
  if ! as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null; then
    tail -n 20 "$dir/server.log" >&2 || true
    die "PostgreSQL did not start in $dir (log above: $dir/server.log)"
  fi
  local i
  for i in $(seq 100); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    [ "$i" = 100 ] && die "PostgreSQL in $dir started but does not accept connections on 127.0.0.1:$port"
    sleep 0.1
  done
  url_of "$port"
}

cmd_stop() {
  [ $# = 1 ] || usage
  local dir bin
  dir=$(realpath -m "$1")
  [ -f "$dir/postmaster.pid" ] || return 0
  bin=$(pg_bin)
  as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1 || return 0
  as_owner "$bin/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null
}

cmd_restart() {
  [ $# = 1 ] || usage
  [ -f "$1/PG_VERSION" ] || die "$1 holds no cluster"
  cmd_stop "$1"
  cmd_start "$1"
}

cmd_url() {
  [ $# = 1 ] || usage
  url_of "$(conf_port "$1")"
}

[ $# -ge 1 ] || usage
sub=$1
shift
case $sub in
  install) [ $# = 0 ] || usage; cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  restart) cmd_restart "$@" ;;
  url) cmd_url "$@" ;;
  *) usage ;;
esac
