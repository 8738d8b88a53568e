#!/bin/sh
# rootfs.sh DIR: prepares Debian's nginx for the image: Debian's sites,
# default page and logs go (the image has one configuration,
# /etc/ohif/nginx.conf, and logs to standard output and error).
set -eu
dir=$1
rm -rf "$dir"/etc/nginx/sites-enabled "$dir"/etc/nginx/sites-available "$dir"/etc/nginx/conf.d \
	"$dir"/etc/nginx/snippets "$dir"/etc/nginx/modules-enabled "$dir"/var/www/html "$dir"/var/log/nginx
