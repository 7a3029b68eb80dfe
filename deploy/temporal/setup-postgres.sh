#!/bin/sh
# Creates Temporal's two databases on the stack's PostgreSQL and brings their schemas up to
# the server's version (adapted from temporalio/samples-server compose/scripts). Safe to
# run again: `create` of an existing database fails and is ignored, updates are no-ops.
set -eu
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
PORT=${DB_PORT:-5432}
until nc -z -w 10 "$POSTGRES_SEEDS" "$PORT"; do sleep 1; done
for db in temporal temporal_visibility; do
  tool="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -u $POSTGRES_USER -p $PORT --db $db"
  $tool create || true
  $tool setup-schema -v 0.0 || true
done
temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$PORT" \
  --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$PORT" \
  --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "Temporal schemas are up to date"
