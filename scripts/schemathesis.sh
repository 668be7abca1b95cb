#!/usr/bin/env bash
# Schema-driven fuzzing: schemathesis (PyPI, pinned, in a venv under target/ made on first
# use) reads the server's own description (`GET /openapi.json`, generated from the code)
# and sends what it derives from it to a real `guichet serve` on loopback (the demo
# corpus, the real model, a fresh SQLite store): valid requests and broken ones. Checks:
# no 5xx other than a documented 503 with Retry-After, every status, content type, header
# and body as documented. Bounded: SCHEMATHESIS_EXAMPLES cases per operation (default 50).
#
# Usage: scripts/schemathesis.sh [extra schemathesis arguments]
# Env: GUICHET_MODELS (default ./models), GUICHET_BIN (default target/debug/guichet, built
#      if missing), SCHEMATHESIS_EXAMPLES, SCHEMATHESIS_SEED (default 15),
#      SCHEMATHESIS_PYTHON (the venv's interpreter; default the newest 3.12+ found, else
#      python3), SCHEMATHESIS_VENV (default target/schemathesis-VERSION-pyX.Y).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=4.32.5
# CPython 3.11's parser can fail inside Hypothesis ("AST constructor recursion depth
# mismatch") in schemathesis's coverage phase: a newer interpreter when there is one.
pick_python() {
  local p
  for p in python3.13 python3.12 \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -Vr) python3; do
    if "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo python3
}
python=${SCHEMATHESIS_PYTHON:-$(pick_python)}
pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
venv=${SCHEMATHESIS_VENV:-$root/target/schemathesis-$version-py$pyver}
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
export GUICHET_MODELS=${GUICHET_MODELS:-$root/models}
[ -f "$GUICHET_MODELS/READY" ] || make -s models >/dev/null
bin=${GUICHET_BIN:-$root/target/debug/guichet}
[ -x "$bin" ] || cargo build --locked --bin guichet

tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=fuzz-admin-token-0123456789abcdef
# Every channel on (with secrets the fuzzer does not know: its calls are refused as
# unsigned, which is what the description says), and the per-client limits raised: one
# client sends every request here.
(cd "$tmp" && GUICHET_BIND=127.0.0.1:$port GUICHET_DB=$tmp/guichet.sqlite \
  GUICHET_CACHE=$tmp/cache GUICHET_CORPUS=$root/corpus \
  GUICHET_POLICY=$root/calibration/policy.toml GUICHET_ADMIN_TOKEN=$token \
  GUICHET_WEBHOOK_SECRET=fuzz-webhook-secret GUICHET_TELEGRAM_SECRET=fuzz-telegram-secret \
  GUICHET_META_APP_SECRET=fuzz-meta-secret GUICHET_META_VERIFY_TOKEN=fuzz-verify-token \
  GUICHET_RATE_PUBLIC=1000000 GUICHET_RATE_AGENTS=1000000 GUICHET_LOG=warn \
  exec "$bin" serve) >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 900); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 20 "$tmp/server.log" >&2
    echo "schemathesis.sh: the server stopped before it was ready" >&2
    exit 1
  fi
  sleep 0.2
done

status=0
# Run from the temporary folder: schemathesis keeps its example database in the working
# directory (.schemathesis/).
(cd "$tmp" && "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" \
  --seed "${SCHEMATHESIS_SEED:-15}" \
  --workers 2 \
  --request-timeout 60 \
  --header "Authorization: Bearer $token" \
  --suppress-health-check all \
  "$@") || status=$?
if [ "$status" != 0 ]; then
  echo "--- the server's warnings and errors:" >&2
  grep -E "WARN|ERROR" "$tmp/server.log" | tail -n 20 >&2 || true
fi
if grep -q "panicked" "$tmp/server.log"; then
  grep -B2 -A5 "panicked" "$tmp/server.log" >&2
  echo "schemathesis.sh: the server panicked" >&2
  status=1
fi
exit "$status"
