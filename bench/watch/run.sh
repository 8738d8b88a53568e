#!/usr/bin/env bash
# bench/watch: the cost of watching 50 running containers.
#
# Phases, each DURATION seconds, on the same 50 busybox containers, in one run:
#   idle         nothing watches: baseline CPU of dockerd, containerd and the shims
#   serve        dockerbank serve --interval 15s (cgroup files), /metrics scraped every 15 s
#   serve-api    dockerbank serve --interval 15s --no-cgroup (one one-shot stats request per container)
#   docker-stats `docker stats` streaming all 50 containers (the stats-API approach of
#                Portainer, Dozzle and ctop)
#   idle-after   baseline again, to show the drift caused by other load on the machine
# For each phase: CPU of the watcher itself and of dockerd, containerd and the shims,
# in percent of one core (from /proc/<pid>/stat utime+stime), and the watcher's peak RSS.
#
# Usage: bench/watch/run.sh [DURATION_SECONDS] [CONTAINERS]   (defaults 120, 50)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-120}
N=${2:-50}
PREFIX=wt-bench
SITE=$(mktemp -d /tmp/wt-bench-site.XXXXXX)
PORT=18181
HZ=$(getconf CLK_TCK)
OUT=${OUT:-bench/results/watch-$(date -u +%Y%m%dT%H%M%SZ).txt}
mkdir -p "$(dirname "$OUT")"

go build -o bin/dockerbank ./cmd/dockerbank

cleanup() {
	[[ -n "${WPID:-}" ]] && kill "$WPID" 2>/dev/null || true
	docker ps -aq --filter "label=org.dockerbank.instance=$PREFIX" | xargs -r docker rm -f >/dev/null
	rm -rf "$SITE"
}
trap cleanup EXIT

echo "starting $N containers" >&2
for i in $(seq 1 "$N"); do
	docker run -d --name "$PREFIX-$i" --label "org.dockerbank.instance=$PREFIX" \
		--label "com.docker.compose.service=s$i" --label org.dockerbank.role=app \
		dockerbank/busybox:1.36 sleep 1000000 >/dev/null
done
# Record the instance in the bench site so that serve watches these containers.
mkdir -p "$SITE/instances/$PREFIX"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf 'name: %s\nentry: bench\nversion: "1"\nstate: up\ncreated: %s\nchanged: %s\n' "$PREFIX" "$now" "$now" >"$SITE/instances/$PREFIX/instance.yaml"

ticks() { # sum of utime+stime of the given pids
	local sum=0 p
	for p in "$@"; do
		[[ -r /proc/$p/stat ]] || continue
		local f
		f=$(sed 's/^.*) //' "/proc/$p/stat")
		set -- $f
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}
engine_pids() { pgrep -x dockerd; pgrep -x containerd; }
shim_pids() { pgrep -f containerd-shim-runc-v2 || true; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

pct() { awk -v t="$1" -v hz="$HZ" -v s="$2" 'BEGIN { printf "%.2f", 100 * t / hz / s }'; }

# measure NAME [WATCHER_PID]: prints one result line.
measure() {
	local name=$1 wpid=${2:-} start end e0 e1 s0 s1 w0=0 w1=0 peak=0 scrape=0
	e0=$(ticks $(engine_pids)); s0=$(ticks $(shim_pids))
	[[ -n "$wpid" ]] && w0=$(ticks "$wpid")
	start=$(date +%s.%N)
	local t=0
	while (( t < DURATION )); do
		sleep 5
		t=$((t + 5))
		if [[ -n "$wpid" ]]; then
			local r; r=$(rss_kb "$wpid"); (( r > peak )) && peak=$r
		fi
		if [[ "$name" == serve* ]] && (( t % 15 == 0 )); then
			curl -sf "http://127.0.0.1:$PORT/metrics" -o /dev/null && scrape=$((scrape + 1))
		fi
	done
	end=$(date +%s.%N)
	e1=$(ticks $(engine_pids)); s1=$(ticks $(shim_pids))
	[[ -n "$wpid" ]] && w1=$(ticks "$wpid")
	local secs; secs=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
	if [[ $name == idle* ]]; then
		echo "$(pct $((e1 - e0)) "$secs") $(pct $((s1 - s0)) "$secs")" >>"$SITE/idle"
	fi
	printf '%-13s watcher %6s%%  dockerd+containerd %6s%%  shims %6s%%  watcher peak RSS %6.1f MiB  scrapes %d\n' \
		"$name" "$(pct $((w1 - w0)) "$secs")" "$(pct $((e1 - e0)) "$secs")" "$(pct $((s1 - s0)) "$secs")" \
		"$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" "$scrape"
}

warm() { sleep 20; } # let a watcher start and settle before measuring

{
echo "# bench/watch $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), docker $(docker version --format '{{.Server.Version}}'), cgroup $(stat -fc %T /sys/fs/cgroup)"
echo "# $N containers (dockerbank/busybox:1.36 sleep), ${DURATION}s per phase, CPU in percent of one core"
measure idle

DOCKERBANK_HOME=$SITE ./bin/dockerbank serve --listen 127.0.0.1:$PORT --interval 15s -q 2>/dev/null &
WPID=$!
warm
curl -sf "http://127.0.0.1:$PORT/metrics" | grep -c "^container_memory_working_set_bytes{.*instance=\"$PREFIX\"" | sed 's/^/# series container_memory_working_set_bytes for the bench instance: /'
measure serve "$WPID"
kill "$WPID"; wait "$WPID" 2>/dev/null || true

DOCKERBANK_HOME=$SITE ./bin/dockerbank serve --listen 127.0.0.1:$PORT --interval 15s --no-cgroup -q 2>/dev/null &
WPID=$!
warm
measure serve-api "$WPID"
kill "$WPID"; wait "$WPID" 2>/dev/null || true

docker stats $(docker ps -q --filter "label=org.dockerbank.instance=$PREFIX") >/dev/null &
WPID=$!
warm
measure docker-stats "$WPID"
# docker stats ignores SIGTERM and SIGINT when not on a terminal.
kill -KILL "$WPID"; wait "$WPID" 2>/dev/null || true
WPID=

measure idle-after

# The engine's share of one collection, measured in a burst: K collections
# back to back, engine CPU over the burst minus the idle rate over the same
# time, divided by K, then scaled to one collection per 15 s.
go build -o bin/bench-burst ./bench/watch/burst
read -r IDLE_E IDLE_S < <(awk '{ e += $1; s += $2; n++ } END { print e / n, s / n }' "$SITE/idle")
for mode in cgroup api; do
	K=$([[ $mode == cgroup ]] && echo 400 || echo 4)
	e0=$(ticks $(engine_pids)); s0=$(ticks $(shim_pids)); b0=$(date +%s.%N)
	line=$(./bin/bench-burst "$PREFIX" "$K" "$mode")
	b1=$(date +%s.%N); e1=$(ticks $(engine_pids)); s1=$(ticks $(shim_pids))
	awk -v mode="$mode" -v k="$K" -v hz="$HZ" -v e=$((e1 - e0)) -v s=$((s1 - s0)) -v b0="$b0" -v b1="$b1" -v line="$line" \
		-v idle_e="$IDLE_E" -v idle_s="$IDLE_S" 'BEGIN {
		secs = b1 - b0
		extra = (e + s) / hz - (idle_e + idle_s) / 100 * secs
		if (extra < 0) extra = 0
		printf "burst-%-7s %s; engine+shims %.2f s CPU in %.1f s (idle rate would give %.2f s): %.1f ms per collection = %.3f%% of a core at one collection per 15 s\n", mode, line, (e + s) / hz, secs, (idle_e + idle_s) / 100 * secs, 1000 * extra / k, 100 * extra / k / 15
	}'
done
} | tee "$OUT"
