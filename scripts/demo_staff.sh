#!/usr/bin/env bash
# The demo's staff accounts, one per role, for `make run` (never created by `guichet serve`
# itself): idempotent, an account already there is left as it is. Prints how to sign in.
# These passwords are public: demo only, on loopback.
set -euo pipefail
BIN=${1:-./target/release/guichet}
PASSWORD=${GUICHET_DEMO_PASSWORD:-belleval-demo-2026}

add() { # email name role [service]
  local email=$1 name=$2 role=$3 service=${4:-}
  local args=(staff add "$email" --name "$name" --role "$role")
  if [ -n "$service" ]; then args+=(--service "$service"); fi
  if out=$(GUICHET_STAFF_PASSWORD=$PASSWORD "$BIN" "${args[@]}" 2>&1); then
    :
  elif ! grep -q "existe déjà" <<<"$out"; then
    echo "$out" >&2
    exit 1
  fi
}

add camille.agent@belleval.example Camille agent
add nadia.editrice@belleval.example Nadia editor etat-civil
add yann.validateur@belleval.example Yann validator etat-civil
add dominique.admin@belleval.example Dominique admin

URL=${GUICHET_PUBLIC_URL:-http://${GUICHET_BIND:-127.0.0.1:8080}}
cat <<MSG

Console du personnel : $URL/console/  (comptes de démonstration, mot de passe : $PASSWORD)
  agent          camille.agent@belleval.example
  éditeur        nadia.editrice@belleval.example      (état civil)
  validateur     yann.validateur@belleval.example     (état civil)
  administrateur dominique.admin@belleval.example

MSG
