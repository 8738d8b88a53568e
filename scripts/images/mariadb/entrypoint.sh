#!/bin/sh
# Initialises an empty /var/lib/mysql on first start (root password and an
# optional database and user from MARIADB_* variables or their *_FILE
# secrets, as the official image does), then runs the server.
set -eu
file_env() {
	var=$1 def=${2:-}
	eval "val=\${$var:-}"
	eval "file=\${${var}_FILE:-}"
	if [ -n "$file" ]; then val=$(cat "$file"); fi
	[ -n "$val" ] || val=$def
	export "$var=$val"
}
# sql_string VALUE: VALUE as a quoted SQL string literal.
sql_string() {
	printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"
}
# sql LINE: one statement for the client (printf: dash's echo would turn
# the backslashes of escaped passwords into escapes of its own).
sql() { printf '%s\n' "$1"; }
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
		# Like the official image: root@localhost by password or, for the
		# container's own root user (dumps inside the container), by the
		# unix socket; root@% by password; no password-less root@127.0.0.1.
		rootpw=$(sql_string "$MARIADB_ROOT_PASSWORD")
		sql "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';"
		sql "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');"
		sql "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD($rootpw) OR unix_socket;"
		sql "CREATE USER 'root'@'%' IDENTIFIED BY $rootpw; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
		[ -z "$MARIADB_DATABASE" ] || sql "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
		if [ -n "$MARIADB_USER" ]; then
			sql "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD");"
			[ -z "$MARIADB_DATABASE" ] || sql "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
		fi
		sql "FLUSH PRIVILEGES;"
	} | mariadb --socket=/run/mysqld/init.sock -uroot || { kill "$pid"; wait "$pid" || true; echo "entrypoint: setting up users failed" >&2; exit 1; }
	kill "$pid"
	wait "$pid" || true
	echo "entrypoint: initialised $datadir"
fi
if [ "${1:-}" = mariadbd ]; then
	shift
	exec mariadbd --datadir="$datadir" --bind-address=0.0.0.0 "$@"
fi
exec "$@"
