#!/bin/sh
# context.sh CTX: the build context gets Debian's static busybox binary.
set -eu
[ -x /bin/busybox ] || { echo "busybox: /bin/busybox is missing; install busybox-static (scripts/deps.sh)" >&2; exit 1; }
cp /bin/busybox "$1/busybox"
