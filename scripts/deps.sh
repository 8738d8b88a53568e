#!/usr/bin/env bash
# Installs the Debian packages dockerbank and its tests need, if missing:
# the Docker engine, restic, debootstrap and busybox-static (for the local
# test images) and chromium (for the dashboard's browser tests).
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v restic >/dev/null || need+=(restic)
command -v debootstrap >/dev/null || need+=(debootstrap)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ "${DOCKERBANK_BROWSER_TESTS:-1}" = 1 ]; then
	command -v chromium >/dev/null || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
