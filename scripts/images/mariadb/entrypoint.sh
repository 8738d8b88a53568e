#!/bin/sh
# Initialises /var/lib/mysql on first start, then runs the server.
set -eu
file_env() {
	var=$1 def=${2:-}
	eval "val=\${$var:-}"
	eval "file=\${${var}_FILE:-}"
	if [ -n "$file" ]; then val=$(cat "$file"); fi
	[ -n "$val" ] || val=$def
	export "$var=$val"
}
datadir=/var/lib/mysql
if [ "${1:-}" = mariadbd ] && [ ! -d "$datadir/mysql" ]; then
	file_env MARIADB_ROOT_PASSWORD
	file_env MARIADB_DATABASE
	file_env MARIADB_USER
	file_env MARIADB_PASSWORD
	if [ -z "$MARIADB_ROOT_PASSWORD" ]; then
		echo "entrypoint: MARIADB_ROOT_PASSWORD or MARIADB_ROOT_PASSWORD_FILE must be set" >&2
		exit 1
	fi
	mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal >/dev/null
	mariadbd --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
	pid=$!
	i=0
	until mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 60 ] || { echo "entrypoint: server did not start" >&2; exit 1; }
		sleep 0.5
	done
	{
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$MARIADB_ROOT_PASSWORD';"
		echo "CREATE USER 'root'@'%' IDENTIFIED BY '$MARIADB_ROOT_PASSWORD'; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
		[ -z "$MARIADB_DATABASE" ] || echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
		if [ -n "$MARIADB_USER" ]; then
			echo "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$MARIADB_PASSWORD';"
			[ -z "$MARIADB_DATABASE" ] || echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
		fi
		echo "FLUSH PRIVILEGES;"
	} | mariadb --socket=/run/mysqld/init.sock -uroot
	kill "$pid"
	wait "$pid" || true
	echo "entrypoint: initialised $datadir"
fi
if [ "${1:-}" = mariadbd ]; then
	shift
	exec mariadbd --datadir="$datadir" --bind-address=0.0.0.0 "$@"
fi
exec "$@"
