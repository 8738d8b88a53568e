#!/bin/sh
# Runs REDCap's cron.php once a minute, as the REDCap install guide asks of a
# system cron job. Only a round that succeeds touches the stamp the health
# check reads, so a cron.php that keeps failing makes the service unhealthy.
while :; do
	if php /var/www/html/cron.php >/dev/null 2>&1; then
		touch /tmp/redcap-cron.stamp
	else
		echo "redcap-cron: cron.php exited with status $?" >&2
	fi
	sleep 60
done
