#!/usr/bin/env bash
# Quick start on a fresh machine: installs what is missing, makes sure a
# Docker engine runs, builds the local images and the binary, deploys the
# embedded demo entry and shows it healthy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
DOCKERBANK_BROWSER_TESTS=0 scripts/deps.sh
scripts/engine.sh
scripts/images.sh
make build
export DOCKERBANK_HOME=${DOCKERBANK_HOME:-/var/lib/dockerbank}
if bin/dockerbank ps demo >/dev/null 2>&1; then
	bin/dockerbank start demo
else
	bin/dockerbank deploy demo
fi
bin/dockerbank ls
