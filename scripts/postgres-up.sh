#!/usr/bin/env bash
# Start Debian's PostgreSQL cluster (installed, stopped on a fresh machine) and create the
# test role and database. Idempotent. Prints the SQLAlchemy URL the tests use.
set -euo pipefail
# Only the URL goes to stdout (fd 3): pg_ctlcluster and psql chatter ("Removed stale pid
# file.", notices) goes to stderr, or it would end up inside the URL.
exec 3>&1 1>&2
version=${PG_VERSION:-15}
cluster=${PG_CLUSTER:-main}
role=${PG_ROLE:-casebus}
password=${PG_PASSWORD:-casebus}
db=${PG_DB:-casebus_test}

if ! command -v pg_ctlcluster >/dev/null; then
  echo "pg_ctlcluster not found: install PostgreSQL $version (apt-get install postgresql-$version)" >&2
  exit 1
fi
if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c && $4=="online"' | grep -q .; then
  # A second try rides out a lock file whose dead owner is still being reaped.
  pg_ctlcluster "$version" "$cluster" start 3>&- || { sleep 2; pg_ctlcluster "$version" "$cluster" start 3>&-; }
fi
port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $3}')
as_pg() { (cd / && runuser -u postgres -- "$@"); }
for _ in $(seq 1 50); do as_pg pg_isready -q -p "$port" && break; sleep 0.2; done
as_pg psql -p "$port" -qtAc "SELECT 1 FROM pg_roles WHERE rolname='$role'" | grep -q 1 \
  || as_pg psql -p "$port" -qc "CREATE ROLE $role LOGIN PASSWORD '$password' CREATEDB"
# Lets the test fixtures end leftover connections when they drop their databases.
as_pg env PGOPTIONS="-c client_min_messages=warning" psql -p "$port" -qc "GRANT pg_signal_backend TO $role"
as_pg psql -p "$port" -qtAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
  || as_pg createdb -p "$port" -O "$role" "$db"
echo "postgresql+psycopg://$role:$password@127.0.0.1:$port/$db" >&3
