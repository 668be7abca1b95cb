#!/usr/bin/env bash
# guichet browser tests (`make e2e`): the website chat widget in Debian's chromium,
# driven by playwright-core, checked by axe-core, against the real server and model.
#
# Installs what it needs (chromium from Debian, the pinned npm packages), builds the
# debug binary (the one `cargo test` has just built, so CI compiles once), starts
# the city's identity provider (e2e/oidc/provider.mjs) and `guichet serve` on free loopback
# ports, runs `node --test`, and stops both.
# Also writes the coverage report (`guichet report`) from what the tests sent and opens it.
# Screenshots and the server's log go to target/e2e/.
#
# Env: GUICHET_MODELS (default ./models), E2E_KEEP_SERVER_LOG=1 prints the log on success.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/target/e2e
mkdir -p "$OUT"

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing chromium (Debian package)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

echo "e2e: installing playwright-core, axe-core and oidc-provider (pinned by e2e/package-lock.json)"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

echo "e2e: building guichet (debug, as cargo test does)"
cargo build --locked --bin guichet
BIN=$ROOT/target/debug/guichet

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
PORT=$(free_port)
CITY_PORT=$(free_port)
while [ "$CITY_PORT" = "$PORT" ]; do CITY_PORT=$(free_port); done
OIDC_PORT=$(free_port)
while [ "$OIDC_PORT" = "$PORT" ] || [ "$OIDC_PORT" = "$CITY_PORT" ]; do OIDC_PORT=$(free_port); done

WORK=$(mktemp -d)
SERVER_PID=
PROVIDER_PID=
cleanup() {
  for pid in "$SERVER_PID" "$PROVIDER_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The "city site" of the tests lives on CITY_PORT (its own origin): only it may call the API
# from a browser; the same page served from another host name must be refused.
export GUICHET_BIND=127.0.0.1:$PORT
export GUICHET_ALLOWED_ORIGINS=http://127.0.0.1:$CITY_PORT
export GUICHET_CORPUS=$ROOT/corpus
export GUICHET_MODELS=${GUICHET_MODELS:-$ROOT/models}
export GUICHET_DB=$WORK/guichet.sqlite
export GUICHET_CACHE=$ROOT/target/e2e/cache
export RUST_LOG=${RUST_LOG:-info}
# The agents' API, which the hand-off tests drive as an agent would.
export GUICHET_ADMIN_TOKEN=e2e-agent-token-$(node -e "console.log(require('crypto').randomBytes(12).toString('hex'))")

# The city's identity provider for staff single sign-on: oidc-provider on OIDC_PORT, with
# guichet registered as a client whose callback is under GUICHET_PUBLIC_URL.
export GUICHET_PUBLIC_URL=http://127.0.0.1:$PORT
export GUICHET_OIDC_ISSUER=http://127.0.0.1:$OIDC_PORT
export GUICHET_OIDC_CLIENT_ID=guichet-e2e
export GUICHET_OIDC_CLIENT_SECRET=e2e-oidc-secret-$(node -e "console.log(require('crypto').randomBytes(12).toString('hex'))")
echo "e2e: starting the identity provider on 127.0.0.1:$OIDC_PORT"
OIDC_PORT=$OIDC_PORT OIDC_CLIENT_ID=$GUICHET_OIDC_CLIENT_ID OIDC_CLIENT_SECRET=$GUICHET_OIDC_CLIENT_SECRET \
  OIDC_REDIRECT_URI=$GUICHET_PUBLIC_URL/console/login/oidc/callback \
  node e2e/oidc/provider.mjs >"$OUT/oidc-provider.log" 2>&1 &
PROVIDER_PID=$!
for _ in $(seq 1 60); do
  if grep -q "^oidc-provider ready on $GUICHET_OIDC_ISSUER\$" "$OUT/oidc-provider.log"; then break; fi
  if ! kill -0 "$PROVIDER_PID" 2>/dev/null; then
    echo "e2e: the identity provider exited before it was ready:" >&2
    cat "$OUT/oidc-provider.log" >&2
    exit 1
  fi
  sleep 0.5
done
if ! grep -q "^oidc-provider ready on $GUICHET_OIDC_ISSUER\$" "$OUT/oidc-provider.log"; then
  echo "e2e: the identity provider was not ready after 30 s:" >&2
  cat "$OUT/oidc-provider.log" >&2
  exit 1
fi

echo "e2e: starting guichet on 127.0.0.1:$PORT"
"$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "e2e: guichet exited before it was ready:" >&2
    cat "$OUT/server.log" >&2
    exit 1
  fi
  sleep 0.5
done
if ! curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null; then
  echo "e2e: guichet was not ready after 300 s:" >&2
  tail -50 "$OUT/server.log" >&2
  exit 1
fi

export GUICHET_URL=http://127.0.0.1:$PORT
export CITY_PORT
export E2E_OUT=$OUT
export GUICHET_ROOT=$ROOT
export GUICHET_BIN=$BIN
status=0
# E2E_ONLY=e2e/tests/x.test.mjs runs one file (while working on it).
# shellcheck disable=SC2086
node --test --test-concurrency=1 ${E2E_ONLY:-e2e/tests/*.test.mjs} || status=$?
if [ "$status" -ne 0 ]; then
  echo "e2e: failed; last lines of the server's log:" >&2
  tail -30 "$OUT/server.log" >&2
  echo "e2e: last lines of the identity provider's log:" >&2
  tail -15 "$OUT/oidc-provider.log" >&2
elif [ "${E2E_KEEP_SERVER_LOG:-}" = 1 ]; then
  cat "$OUT/server.log"
fi
echo "e2e: screenshots in $OUT"
exit "$status"
