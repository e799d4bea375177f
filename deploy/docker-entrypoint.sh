#!/bin/sh
# Entry point of Plum's container image: runs `plum` with the container's arguments.
# Secrets from files: for every PLUM_<NAME>_FILE variable (e.g. PLUM_DATABASE_URL_FILE=/run/secrets/plum_database_url),
# PLUM_<NAME> is set to the file's content (trailing newline removed), as the official database images do.
# An empty PLUM_<NAME>_FILE is ignored (compose passes optional ones empty).
set -eu
for var in $(env | sed -n 's/^\(PLUM_[A-Z0-9_]*\)_FILE=..*/\1/p'); do
  file=$(printenv "${var}_FILE")
  if [ ! -r "$file" ]; then
    echo "plum: ${var}_FILE names ${file}, which cannot be read (mount the secret, or unset ${var}_FILE)" >&2
    exit 78
  fi
  value=$(cat "$file")
  export "$var=$value"
  unset "${var}_FILE"
done
exec node "$(dirname "$0")/../bin/plum.mjs" "$@"
