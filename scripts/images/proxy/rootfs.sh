#!/bin/sh
# rootfs.sh DIR: prepares Debian's haproxy for the image.
# - The haproxy user gets the fixed uid/gid 999:999 (adduser picks the next
#   free system id at install time).
# - Debian's /etc/haproxy (a sample configuration, error pages) goes: the
#   image's configuration is /etc/dockerbank-proxy/haproxy.cfg; logs go to
#   standard error, so rsyslog and logrotate hooks go too.
set -eu
dir=$1
uid=999 gid=999
old_uid=$(awk -F: '$1 == "haproxy" { print $3 }' "$dir/etc/passwd")
old_gid=$(awk -F: '$1 == "haproxy" { print $3 }' "$dir/etc/group")
[ -n "$old_uid" ] && [ -n "$old_gid" ] || { echo "proxy rootfs: no haproxy user in $dir/etc/passwd" >&2; exit 1; }
if awk -F: -v u=$uid -v n=haproxy '$3 == u && $1 != n { found = 1 } END { exit !found }' "$dir/etc/passwd" ||
	awk -F: -v g=$gid -v n=haproxy '$3 == g && $1 != n { found = 1 } END { exit !found }' "$dir/etc/group"; then
	echo "proxy rootfs: uid or gid $uid is taken by another user or group in $dir" >&2
	exit 1
fi
chroot "$dir" groupmod -g "$gid" haproxy
chroot "$dir" usermod -u "$uid" -g "$gid" -s /usr/sbin/nologin haproxy
find "$dir" -xdev -uid "$old_uid" -exec chown -h "$uid" {} +
find "$dir" -xdev -gid "$old_gid" -exec chgrp -h "$gid" {} +
rm -f "$dir"/etc/passwd- "$dir"/etc/group- "$dir"/etc/shadow- "$dir"/etc/gshadow-
rm -rf "$dir"/etc/haproxy "$dir"/etc/rsyslog.d "$dir"/etc/logrotate.d/haproxy
mkdir -p "$dir/var/lib/haproxy"
chown "$uid:$gid" "$dir/var/lib/haproxy"
