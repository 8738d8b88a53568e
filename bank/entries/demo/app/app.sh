#!/bin/sh
# The demo app: migrates its schema to its version, then every DEMO_INTERVAL
# seconds writes a record to PostgreSQL, a file to /data/files and a line to
# /audit/audit.log. A failed write is logged and retried, as a real
# application would; only a schema migration that fails stops it.
set -u
trap 'exit 0' TERM INT
PGPASSWORD=$(cat /run/secrets/db_password) || exit 1
export PGPASSWORD
interval=${DEMO_INTERVAL:-30}
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }
until psql -qtAc 'select 1' >/dev/null 2>&1; do
	log "waiting for the database"
	sleep 1
done
migrate() {
	psql -q -v ON_ERROR_STOP=1 -c "$1" || { log "migration failed: $1" >&2; exit 1; }
}
migrate "create table if not exists records (
	id serial primary key,
	created timestamptz not null default now(),
	version text not null,
	payload text not null)"
case "$DEMO_VERSION" in
1.*) cols="version, payload" ;;
*)
	migrate "alter table records add column if not exists note text"
	cols="version, payload, note"
	;;
esac
mkdir -p /data/files
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) start version $DEMO_VERSION" >>/audit/audit.log
log "demo app $DEMO_VERSION started"
i=0
while :; do
	i=$((i + 1))
	ts=$(date -u +%Y%m%dT%H%M%SZ)
	case "$cols" in
	*note) vals="'$DEMO_VERSION', 'record $i at $ts', 'written by $DEMO_VERSION'" ;;
	*) vals="'$DEMO_VERSION', 'record $i at $ts'" ;;
	esac
	if id=$(psql -qtA -v ON_ERROR_STOP=1 -c "insert into records ($cols) values ($vals) returning id") && [ -n "$id" ]; then
		if printf 'record %s written at %s by %s\n' "$id" "$ts" "$DEMO_VERSION" >"/data/files/record-$id.txt" &&
			echo "$ts insert record $id" >>/audit/audit.log; then
			touch /tmp/healthy
		else
			log "writing record $id to the volumes failed" >&2
		fi
	else
		log "insert failed; retrying" >&2
	fi
	sleep "$interval" &
	wait $! || true
done
