#!/bin/sh
# Entrypoint of dockerbank/orthanc: reads the passwords from *_FILE secrets,
# refuses to start without them, fills in the defaults of every variable
# orthanc.json uses (Orthanc 1.10 would turn an unset one into "" silently),
# then runs Orthanc. Other commands (storescu, echoscu, sh) run as given.
set -eu
die() {
	echo "orthanc entrypoint: $*" >&2
	exit 1
}
# file_env VAR: VAR from VAR_FILE when that is set, else from VAR itself.
file_env() {
	var=$1
	eval "val=\${$var:-}"
	eval "file=\${${var}_FILE:-}"
	if [ -n "$file" ]; then
		[ -r "$file" ] || die "${var}_FILE=$file cannot be read (is the secret mounted?)"
		val=$(cat "$file")
	fi
	export "$var=$val"
}
# plain VAR: a value that lands in orthanc.json between double quotes.
plain() {
	eval "val=\${$1}"
	nl='
'
	case $val in
	*'"'* | *'\'* | *"$nl"*) die "$1 contains a double quote, a backslash or a line break, which Orthanc's configuration cannot hold; choose another value" ;;
	esac
}
if [ "${1:-}" = Orthanc ]; then
	file_env ORTHANC_ADMIN_PASSWORD
	file_env ORTHANC_DB_PASSWORD
	[ -n "$ORTHANC_ADMIN_PASSWORD" ] ||
		die "no password for the REST API and DICOMweb user admin: set ORTHANC_ADMIN_PASSWORD_FILE to a secret file (or ORTHANC_ADMIN_PASSWORD)"
	[ -n "$ORTHANC_DB_PASSWORD" ] ||
		die "no password for the PostgreSQL index: set ORTHANC_DB_PASSWORD_FILE to a secret file (or ORTHANC_DB_PASSWORD)"
	export ORTHANC_NAME="${ORTHANC_NAME:-Orthanc}" DICOM_AET="${DICOM_AET:-ORTHANC}" \
		ORTHANC_DB_HOST="${ORTHANC_DB_HOST:-db}" ORTHANC_DB_NAME="${ORTHANC_DB_NAME:-orthanc}" \
		ORTHANC_DB_USER="${ORTHANC_DB_USER:-orthanc}"
	for v in ORTHANC_ADMIN_PASSWORD ORTHANC_DB_PASSWORD ORTHANC_NAME DICOM_AET ORTHANC_DB_HOST ORTHANC_DB_NAME ORTHANC_DB_USER; do
		plain "$v"
	done
	storage=/var/lib/orthanc/db
	[ -w "$storage" ] ||
		die "the storage directory $storage is not writable by uid $(id -u); the volume must belong to uid 999 gid 999 (chown -R 999:999 it)"
	unset ORTHANC_ADMIN_PASSWORD_FILE ORTHANC_DB_PASSWORD_FILE
fi
exec "$@"
