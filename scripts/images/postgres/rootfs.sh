#!/bin/sh
# rootfs.sh DIR: prepares Debian's PostgreSQL 15 packages for the image.
# Debian's postinst creates a default cluster (/var/lib/postgresql/15/main,
# with its configuration in /etc/postgresql/15/main pointing at the snakeoil
# key): a database baked into the image. It goes here, before the import;
# the entrypoint creates the cluster on the volume at first start, like the
# official image.
set -eu
dir=$1
rm -rf "$dir"/var/lib/postgresql/15 "$dir"/etc/postgresql/15
mkdir -p "$dir/var/lib/postgresql/data" "$dir/run/postgresql"
chroot "$dir" chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /run/postgresql
chmod 700 "$dir/var/lib/postgresql/data"
chmod 2775 "$dir/run/postgresql"
