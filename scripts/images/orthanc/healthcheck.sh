#!/bin/sh
# Healthy when Orthanc's REST API answers an authenticated request: proves
# the server runs, its index database is open and the admin password works.
# The password goes to curl on standard input, never on a command line.
set -eu
pw=${ORTHANC_ADMIN_PASSWORD:-}
if [ -n "${ORTHANC_ADMIN_PASSWORD_FILE:-}" ]; then
	pw=$(cat "$ORTHANC_ADMIN_PASSWORD_FILE")
fi
[ -n "$pw" ] || { echo "healthcheck: no admin password (ORTHANC_ADMIN_PASSWORD_FILE)" >&2; exit 1; }
printf 'user = "admin:%s"\n' "$pw" |
	curl --config - --fail --silent --show-error --max-time 5 --output /dev/null http://127.0.0.1:8042/system
