#!/usr/bin/env bash
# Makes sure a Docker engine answers: when none does at DOCKER_HOST (or the
# default socket), starts dockerd in the background and waits for it.
set -euo pipefail
if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	exit 0
fi
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != unix:///var/run/docker.sock ]; then
	echo "engine: no engine answers at DOCKER_HOST=$DOCKER_HOST; start it, or unset DOCKER_HOST to use a local one" >&2
	exit 1
fi
echo "engine: starting dockerd (log: /var/log/dockerd.log)" >&2
nohup dockerd >/var/log/dockerd.log 2>&1 &
for _ in $(seq 1 120); do
	if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
		echo "engine: Docker $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') is up" >&2
		exit 0
	fi
	sleep 0.5
done
echo "engine: dockerd did not answer within 60 s; see /var/log/dockerd.log:" >&2
tail -20 /var/log/dockerd.log >&2
exit 1
