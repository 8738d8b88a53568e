#!/bin/sh
# rootfs.sh DIR: prepares Debian's MariaDB 10.11 packages for the image.
# Debian's postinst initialises a data directory in /var/lib/mysql: a
# database baked into the image, and the reason the entrypoint's first-start
# initialisation (passwords from *_FILE secrets) never ran. It is emptied
# here, before the import, so a new volume starts empty as with the official
# image.
set -eu
dir=$1
rm -rf "$dir"/var/lib/mysql
mkdir -p "$dir/var/lib/mysql" "$dir/run/mysqld"
chroot "$dir" chown mysql:mysql /var/lib/mysql /run/mysqld
chmod 750 "$dir/var/lib/mysql"
