#!/usr/bin/env bash
# Installs the Debian packages dockerbank and its tests need, if missing:
# the Docker engine, restic, debootstrap, busybox-static, curl and jq (for
# the local test images), chromium (for the browser tests of the dashboard
# and the OHIF viewer) and
# openssh-server (for the test of an engine reached over ssh://), dcmtk
# (dcmdump and dcm2pnm check the DICOM files internal/dicom writes), and
# Podman with netavark and aardvark-dns (compose service names resolve
# between containers) for the tests against Podman (DOCKERBANK_PODMAN=0
# leaves it out).
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v restic >/dev/null || need+=(restic)
command -v debootstrap >/dev/null || need+=(debootstrap)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# the OHIF image's files come from the npm registry (scripts/images/ohif/context.sh)
command -v curl >/dev/null || need+=(curl)
command -v jq >/dev/null || need+=(jq)
[ -x /usr/sbin/sshd ] || need+=(openssh-server) # the ssh:// engine test runs its own sshd
command -v dcmdump >/dev/null || need+=(dcmtk)
if [ "${DOCKERBANK_PODMAN:-1}" = 1 ]; then
	# Podman's containers-common only recommends netavark; catatonit is the
	# init of `init: true` services.
	command -v podman >/dev/null || need+=(podman netavark aardvark-dns catatonit)
fi
if [ "${DOCKERBANK_BROWSER_TESTS:-1}" = 1 ]; then
	command -v chromium >/dev/null || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# Packages must not start services here (sshd on port 22, say): the
	# scripts and tests start what they need themselves.
	norc=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && norc=1
	fi
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
	[ -z "$norc" ] || rm -f /usr/sbin/policy-rc.d
fi
# The off-site backup tests run real servers on loopback: rclone (restic's
# REST protocol) from Debian, and SeaweedFS's weed (an S3 server) built
# from the Go module proxy into the user's cache. weed's go.mod has replace
# directives, so `go install pkg@version` refuses it: build it as the main
# module from a copy of the module (about 9 min of CPU on 2 cores).
command -v rclone >/dev/null || {
	echo "deps: installing rclone" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rclone >/dev/null
}
weed_version=v0.0.0-20261109003541-7506e5f91cd6
weed_bin="${XDG_CACHE_HOME:-$HOME/.cache}/dockerbank/bin/weed"
if [ ! -x "$weed_bin" ] || [ "$(cat "$weed_bin.version" 2>/dev/null)" != "$weed_version" ]; then
	echo "deps: building SeaweedFS weed $weed_version (S3 server for the off-site tests)" >&2
	tmp=$(mktemp -d)
	(cd "$tmp" && go mod download -json "github.com/seaweedfs/seaweedfs@$weed_version" >mod.json)
	src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$tmp/mod.json")
	cp -r "$src" "$tmp/src" && chmod -R u+w "$tmp/src"
	mkdir -p "$(dirname "$weed_bin")"
	(cd "$tmp/src" && go build -o "$weed_bin" ./weed)
	echo "$weed_version" >"$weed_bin.version"
	rm -rf "$tmp"
fi
