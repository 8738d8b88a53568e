#!/bin/sh
# scrub.sh DIR: cleans a Debian root file system made by debootstrap before
# it is imported as an image's first layer. What is removed here never
# reaches any layer; a later `rm` in a Dockerfile would only hide it.
# Runs for every image with a root file system, before the image's own
# rootfs.sh.
set -eu
dir=$1
[ -f "$dir/etc/debian_version" ] || { echo "scrub: $dir is not a Debian root file system" >&2; exit 1; }
# package caches and indexes: large and useless in an image
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/*
# keys generated at build time would be the same in every copy of the image
# (ssl-cert's snakeoil pair, dropbear/ssh host keys)
rm -f "$dir"/etc/ssl/private/ssl-cert-snakeoil.key "$dir"/etc/ssl/certs/ssl-cert-snakeoil.pem \
	"$dir"/etc/ssh/ssh_host_*_key "$dir"/etc/ssh/ssh_host_*_key.pub "$dir"/etc/dropbear/dropbear_*_host_key
# a machine id identifies one machine, not an image
if [ -s "$dir/etc/machine-id" ]; then : >"$dir/etc/machine-id"; fi
rm -f "$dir/var/lib/dbus/machine-id"
# no image here runs su, passwd, mount or newgrp: setuid/setgid bits only
# widen what a process that breaks out of its service user can do
find "$dir" -xdev -type f -perm /6000 -exec chmod u-s,g-s {} +
# build logs of debootstrap and dpkg
rm -f "$dir"/var/log/bootstrap.log "$dir"/var/log/dpkg.log "$dir"/var/log/alternatives.log "$dir"/var/log/apt/*.log
