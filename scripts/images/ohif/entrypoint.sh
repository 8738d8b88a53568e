#!/bin/sh
# Entrypoint of dockerbank/ohif: makes nginx's directories under /tmp (the
# root file system may be read-only), points nginx's resolver at the
# container's DNS server (the engine's: Docker's 127.0.0.11, Podman's
# gateway), then runs the command (nginx in the foreground).
set -eu
mkdir -p /tmp/nginx
ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
[ -n "$ns" ] || { echo "ohif entrypoint: no nameserver in /etc/resolv.conf; nginx needs one to find orthanc" >&2; exit 1; }
case $ns in
*:*) ns="[$ns]" ;;
esac
printf 'resolver %s valid=10s ipv6=off;\n' "$ns" >/tmp/nginx/resolver.conf
exec "$@"
