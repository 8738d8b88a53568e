#!/bin/bash
# Healthy when HAProxy answers GET /healthz on port 8405 (monitor-uri in
# every configuration dockerbank renders). bash's /dev/tcp: no curl needed.
set -eu
exec 3<>/dev/tcp/127.0.0.1/8405
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 4 status <&3
case $status in
"HTTP/1."?" 200 "*) exit 0 ;;
esac
echo "healthcheck: haproxy answered: $status" >&2
exit 1
