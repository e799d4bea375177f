#!/bin/sh
# Creates the secret files deploy/compose.yml reads, once: random passwords, mode 0600, never overwritten.
# The agents' tokens are created by Plum itself after the first start (see deploy/README.md).
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
rand() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
[ -s secrets/postgres_password ] || rand > secrets/postgres_password
[ -s secrets/plum_database_url ] || printf 'postgres://postgres:%s@postgres:5432/plum\n' "$(cat secrets/postgres_password)" > secrets/plum_database_url
[ -s secrets/meili_master_key ] || rand > secrets/meili_master_key
for a in agent-1 agent-2; do [ -e "secrets/$a.token" ] || : > "secrets/$a.token"; done
echo "deploy/secrets/ is ready; create the agents' tokens after the first start (deploy/README.md)"
