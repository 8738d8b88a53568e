#!/usr/bin/env bash
# Quick start on a fresh machine: installs what is missing (also what
# `make test` needs: chromium, Podman, the off-site test servers), makes sure
# a Docker engine runs, builds the local images (for Docker and for Podman's
# test service) and the binary, deploys the embedded demo entry and shows it
# healthy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
scripts/deps.sh
scripts/engine.sh
scripts/images.sh
if command -v podman >/dev/null; then
	# The same images in the storage of the Podman service that the tests
	# against Podman start (copied from Docker's, not built again).
	podman_host=$(scripts/podman.sh start)
	DOCKER_HOST=${podman_host#DOCKER_HOST=} scripts/images.sh
	scripts/podman.sh stop
fi
make build
export DOCKERBANK_HOME=${DOCKERBANK_HOME:-/var/lib/dockerbank}
if bin/dockerbank ps demo >/dev/null 2>&1; then
	bin/dockerbank start demo
else
	bin/dockerbank deploy demo
fi
bin/dockerbank ls
