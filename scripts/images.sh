#!/usr/bin/env bash
# Builds the local images that the demo entry and the tests use, without any
# registry: a busybox image FROM scratch, and PostgreSQL and MariaDB images
# from Debian packages (debootstrap + docker import). Images are cached by
# tag: an image that exists is not built again (FORCE=1 rebuilds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}
work=${DOCKERBANK_IMAGE_WORK:-/var/tmp/dockerbank-images}

have() { [ -z "${FORCE:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }

say() { printf '%s images: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build_busybox() {
	local tag=dockerbank/busybox:1.36
	have "$tag" && return 0
	say "building $tag"
	local ctx
	ctx=$(mktemp -d)
	cp /bin/busybox "$ctx/busybox"
	cp "$here/images/busybox/Dockerfile" "$ctx/"
	docker build -q -t "$tag" "$ctx" >/dev/null
	rm -rf "$ctx"
}

# rootfs NAME PACKAGES: a minimal Debian root file system imported as
# dockerbank/NAME-rootfs:SUITE.
rootfs() {
	local name=$1 packages=$2 tag="dockerbank/$1-rootfs:$suite"
	have "$tag" && return 0
	say "debootstrap $name ($packages), about a minute"
	local dir="$work/$name"
	rm -rf "$dir"
	mkdir -p "$dir"
	debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" >"$work/$name.log" 2>&1 ||
		{ tail -20 "$work/$name.log" >&2; exit 1; }
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
	tar -C "$dir" -c . | docker import - "$tag" >/dev/null
	rm -rf "$dir"
}

build_from() {
	local tag=$1 dir=$2
	have "$tag" && return 0
	say "building $tag"
	docker build -q --build-arg SUITE="$suite" -t "$tag" "$dir" >/dev/null
}

mkdir -p "$work"
build_busybox
rootfs postgres "postgresql-15,ca-certificates"
build_from dockerbank/postgres:15 "$here/images/postgres"
rootfs mariadb "mariadb-server,mariadb-client"
build_from dockerbank/mariadb:10.11 "$here/images/mariadb"
say "ready: $(docker image ls --format '{{.Repository}}:{{.Tag}}' 'dockerbank/*' | tr '\n' ' ')"
