#!/bin/sh
# rootfs.sh DIR: prepares Debian's Orthanc packages for the image.
# - The orthanc user gets the fixed uid/gid 999:999 (adduser picks the next
#   free system id at install time, which changes with the package set), so
#   storage volumes stay readable by every rebuild of the image.
# - Debian's files in /etc/orthanc (orthanc.json, credentials.json and one
#   file per plugin) go: the image's one orthanc.json configures everything,
#   and credentials.json must never be in a layer.
# - The storage directory exists empty, owned by orthanc, for the volume.
set -eu
dir=$1
uid=999 gid=999
old_uid=$(awk -F: '$1 == "orthanc" { print $3 }' "$dir/etc/passwd")
old_gid=$(awk -F: '$1 == "orthanc" { print $3 }' "$dir/etc/group")
[ -n "$old_uid" ] && [ -n "$old_gid" ] || { echo "orthanc rootfs: no orthanc user in $dir/etc/passwd" >&2; exit 1; }
if awk -F: -v u=$uid -v n=orthanc '$3 == u && $1 != n { found = 1 } END { exit !found }' "$dir/etc/passwd" ||
	awk -F: -v g=$gid -v n=orthanc '$3 == g && $1 != n { found = 1 } END { exit !found }' "$dir/etc/group"; then
	echo "orthanc rootfs: uid or gid $uid is taken by another user or group in $dir" >&2
	exit 1
fi
chroot "$dir" groupmod -g "$gid" orthanc
chroot "$dir" usermod -u "$uid" -g "$gid" -s /usr/sbin/nologin orthanc
find "$dir" -xdev -uid "$old_uid" -exec chown -h "$uid" {} +
find "$dir" -xdev -gid "$old_gid" -exec chgrp -h "$gid" {} +
rm -rf "$dir"/etc/orthanc/* "$dir"/var/lib/orthanc/* "$dir"/var/log/orthanc
# usermod keeps backups of the account files
rm -f "$dir"/etc/passwd- "$dir"/etc/group- "$dir"/etc/shadow- "$dir"/etc/gshadow-
mkdir -p "$dir/var/lib/orthanc/db"
chown "$uid:$gid" "$dir/var/lib/orthanc/db"
chmod 750 "$dir/var/lib/orthanc/db"
