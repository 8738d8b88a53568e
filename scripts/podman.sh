#!/usr/bin/env bash
# Runs Podman's Docker-compatible API service for dockerbank and its tests,
# on a socket of its own, with a configuration of its own: the host's global
# containers.conf and storage are left alone.
#
#   scripts/podman.sh start    start the service in the background (if its
#                              socket does not answer yet) and print
#                              DOCKER_HOST=unix://... for it
#   scripts/podman.sh stop     stop the service that start started
#   scripts/podman.sh env      write the configuration, print what to export
#   scripts/podman.sh serve SOCKET
#                              run the service in the foreground on SOCKET
#                              (a path); the tests start theirs this way
#
# The configuration (written on every call, under DOCKERBANK_PODMAN_DIR,
# default /var/lib/dockerbank-podman) makes Podman usable where it is not by
# default:
# - ulimits: Podman gives containers nofile=1048576 unless told otherwise;
#   where the host's hard limit is lower, every container fails to start
#   ("error setting rlimit type 7"), and the same for nproc (type 6). The
#   defaults here are the hard limits the service runs with.
# - cgroup manager cgroupfs and the file events logger: without systemd
#   (containers, CI machines) the systemd and journald defaults fail.
# - storage (overlay), state and volumes under DOCKERBANK_PODMAN_DIR, run
#   files under DOCKERBANK_PODMAN_RUN (default /run/dockerbank-podman): images
#   built by scripts/images.sh for this service stay apart from the host's
#   own Podman images.
set -euo pipefail
dir=${DOCKERBANK_PODMAN_DIR:-/var/lib/dockerbank-podman}
run=${DOCKERBANK_PODMAN_RUN:-/run/dockerbank-podman}
sock=$run/podman.sock

say() { printf 'podman: %s\n' "$*" >&2; }

limit() { # limit ulimit-flag cap: the hard limit, at most cap
	local v
	v=$(ulimit -H "$1")
	if [ "$v" = unlimited ] || [ "$v" -gt "$2" ]; then v=$2; fi
	echo "$v"
}

configure() {
	command -v podman >/dev/null || { say "podman is not installed; run scripts/deps.sh (DOCKERBANK_PODMAN=1)"; exit 1; }
	mkdir -p "$dir/storage" "$run"
	local nofile nproc
	nofile=$(limit -n 1048576)
	# Podman lowers its own nproc limit to 32768 when it starts (seen with
	# strace, Podman 4.3): a container may not have more than that.
	nproc=$(limit -u 32768)
	cat >"$dir/containers.conf" <<EOF
# Written by scripts/podman.sh; changes are overwritten.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$run/events.log"
static_dir = "$dir/storage/libpod"
tmp_dir = "$run/libpod"
volume_path = "$dir/storage/volumes"

[network]
network_backend = "netavark"
network_config_dir = "$dir/networks"
EOF
	cat >"$dir/storage.conf" <<EOF
# Written by scripts/podman.sh; changes are overwritten.
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$run/storage"
EOF
	export CONTAINERS_CONF=$dir/containers.conf CONTAINERS_STORAGE_CONF=$dir/storage.conf
	clear_stale_aardvark
}

# Rootful netavark (Podman's network backend) reloads aardvark-dns, the
# DNS server of every Podman network on the host, by sending SIGHUP to the
# pid in its pid file, without checking what that process is. An
# aardvark-dns that was killed (not stopped: it removes the file when it
# exits) leaves the file behind, and once the pid is reused netavark's next
# network setup hangs up an unrelated process (a CI run lost a test binary
# to it) and starts no DNS server. Remove the file when its pid is not an
# aardvark-dns; the path is fixed in Podman for rootful services.
clear_stale_aardvark() {
	local f=/run/containers/networks/aardvark-dns/aardvark.pid pid comm
	[ -f "$f" ] || return 0
	pid=$(tr -dc 0-9 <"$f")
	comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
	if [ -z "$pid" ] || [ "$comm" != aardvark-dns ]; then
		say "removing the stale aardvark-dns pid file $f (pid ${pid:-none} is ${comm:-not running})"
		rm -f "$f"
	fi
}

answers() {
	curl -fsS --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1
}

case ${1:-} in
env)
	configure
	echo "export CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF DOCKER_HOST=unix://$sock"
	;;
serve)
	[ -n "${2:-}" ] || { say "usage: scripts/podman.sh serve SOCKET"; exit 3; }
	configure
	exec podman system service --time=0 "unix://$2"
	;;
start)
	configure
	if ! answers; then
		say "starting podman system service on $sock (log: $run/service.log)"
		rm -f "$sock"
		nohup podman system service --time=0 "unix://$sock" >"$run/service.log" 2>&1 &
		echo $! >"$run/service.pid"
		for _ in $(seq 1 120); do
			answers && break
			sleep 0.5
		done
		answers || { say "the service did not answer within 60 s:"; tail -20 "$run/service.log" >&2; exit 1; }
	fi
	echo "DOCKER_HOST=unix://$sock"
	;;
stop)
	if [ -f "$run/service.pid" ]; then
		kill "$(cat "$run/service.pid")" 2>/dev/null || true
		rm -f "$run/service.pid"
	fi
	;;
*)
	say "usage: scripts/podman.sh start | stop | env | serve SOCKET"
	exit 3
	;;
esac
