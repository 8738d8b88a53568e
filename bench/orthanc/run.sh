#!/usr/bin/env bash
# bench/orthanc/run.sh: an Orthanc 1.10.1 archive (PostgreSQL index, files on
# a volume) of BENCH_ORTHANC_N (default 20000) generated DICOM instances,
# loaded over REST in parallel, backed up side by side in one run:
#   (a) the Orthanc Book's procedure by hand: stop Orthanc, pg_dump the index,
#       tar the storage directory, start Orthanc again
#   (b) dockerbank backup (hot: nothing stopped)
# each while a client polls the REST API every 100 ms (failed polls =
# downtime); both again after 1% new instances; then an in-place
# `dockerbank restore` and a `dockerbank verify` drill, timed.
# The loaded archive is cached: the instance `orthbench` of the site in
# BENCH_CACHE (default /var/tmp/dockerbank-orthanc-bench) is kept, stopped,
# between runs with exactly N instances; a rerun starts it and only
# recreates the backup repository. BENCH_FRESH=1 removes the cache first.
# BENCH_ORTHANC_KB=K loads files of about K KiB (square images with noisy
# low bits, like an MR/CT slice) into a second archive of its own: instance
# orthbench<K>k, cache /var/tmp/dockerbank-orthanc-bench-<K>k. Without it:
# 64x64 noiseless images of 8.6 KB, the first archive. BENCH_LOAD_ONLY=1
# stops after loading (to fill a cache in the background); BENCH_WORKERS
# (default 4) parallel uploads.
# Needs root (reads the volume's mountpoint), docker, restic, the images of
# scripts/images.sh. Work files (manual dumps) go to BENCH_DIR (default: a
# new directory under ${TMPDIR:-/tmp}), removed at the end.
# Usage: bench/orthanc/run.sh [RESULTS.md]   (default: prints to stdout)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/dev/stdout}
N=${BENCH_ORTHANC_N:-20000}
MORE=$((N / 100))
W=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/orthanc-bench.XXXX")}
KB=${BENCH_ORTHANC_KB:-}
WORKERS=${BENCH_WORKERS:-4}
if [ -n "$KB" ]; then
	CACHE=${BENCH_CACHE:-/var/tmp/dockerbank-orthanc-bench-${KB}k}
	INST=orthbench${KB}k
	SIZE=(-kb "$KB")
else
	CACHE=${BENCH_CACHE:-/var/tmp/dockerbank-orthanc-bench}
	INST=orthbench
	SIZE=()
fi
mkdir -p "$W/manual"
export DOCKERBANK_HOME=$CACHE/site
BIN=$W/dockerbank H=$W/benchorthanc
go build -o "$BIN" ./cmd/dockerbank
go build -o "$H" ./bench/orthanc
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
POLLER=
cleanup() {
	[ -z "$POLLER" ] || kill "$POLLER" 2>/dev/null || true
	# Back to the cached state: N instances, stopped; every other
	# instance (a drill's, a restore's staging copy) removed.
	if [ -n "${URL:-}" ]; then
		api delete -seed 1 -from "$N" -n "$MORE" >/dev/null 2>&1 || true
	fi
	for i in $("$BIN" ls --json 2>/dev/null | python3 -c 'import json,sys; [print(i["instance"]["name"]) for i in json.load(sys.stdin)]' 2>/dev/null); do
		if [ "$i" = "$INST" ]; then
			"$BIN" stop "$INST" -q >/dev/null 2>&1 || true
		else
			"$BIN" rm "$i" --purge-data --confirm "$i" --force -q >/dev/null 2>&1 || true
		fi
	done
	[ -n "${BENCH_DIR:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
if [ "${BENCH_FRESH:-}" = 1 ] && [ -d "$CACHE/site" ]; then
	"$BIN" rm "$INST" --purge-data --confirm "$INST" --force -q >/dev/null 2>&1 || true
	rm -rf "$CACHE"
fi
mkdir -p "$CACHE"
if [ -f "$CACHE/site/instances/$INST/instance.yaml" ]; then
	"$BIN" start "$INST" -q >/dev/null
else
	"$BIN" deploy orthanc --name "$INST" --version 1.10.1 --set HTTP_PORT="$(freeport)" --set DICOM_PORT="$(freeport)" -q >/dev/null
fi
# A new repository every run; the cached site keeps only the instance.
rm -rf "$CACHE/site/backups" "$CACHE/site/cache"
PORT=$(sed -n 's/^ *HTTP_PORT: *"\{0,1\}\([0-9]*\)"\{0,1\}$/\1/p' "$CACHE/site/instances/$INST/instance.yaml")
URL=http://127.0.0.1:$PORT PW=$CACHE/site/instances/$INST/secrets/admin_password
ORTHANC=$INST-orthanc-1 DB=$INST-db-1
MP=$(docker volume inspect -f '{{.Mountpoint}}' "${INST}_storage")
api() { "$H" "$1" -url "$URL" -password-file "$PW" "${@:2}"; }
wait_up() { until api count >/dev/null 2>&1; do sleep 0.1; done; }
wait_up

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
HAVE=$(api count)
if [ "$HAVE" -ge "$N" ]; then
	LOAD="cached from an earlier run"
	T_LOAD=-
else # stores the missing ones; those already there answer AlreadyStored
	t0=$(now); LOAD=$(api load -seed 1 -from 0 -n "$N" -workers "$WORKERS" "${SIZE[@]}"); t1=$(now)
	T_LOAD=$(secs "$t0" "$t1")
fi
if [ "${BENCH_LOAD_ONLY:-}" = 1 ]; then
	echo "$INST: $(api count) instances, loaded in ${T_LOAD}s ($LOAD)"
	exit 0
fi
COUNT=$(api count)
STORAGE_MB=$(du -sm "$MP" | cut -f1)
INDEX_MB=$(docker exec "$DB" psql -U orthanc -d orthanc -tAc "select pg_database_size('orthanc') / 1048576")
"$BIN" backup init -q

manual() { # the Orthanc Book's procedure, into $W/manual
	docker stop "$ORTHANC" >/dev/null
	docker exec "$DB" pg_dump -U orthanc -Fc orthanc >"$W/manual/index.dump"
	tar -C "$MP" -cf "$W/manual/storage.tar" .
	docker start "$ORTHANC" >/dev/null
	wait_up
}
timed() { # label cmd...: sets T_label (seconds) and D_label (REST downtime)
	local a b p f l
	"$H" poll -url "$URL" -password-file "$PW" -out "$W/poll-$1" &
	POLLER=$! # the poller itself: it writes its result on SIGTERM
	sleep 1
	a=$(now)
	"${@:2}" >"$W/out-$1" 2> >(tee "$W/err-$1" >&2)
	b=$(now)
	kill "$POLLER"
	wait "$POLLER" || true
	POLLER=
	read -r _ p _ f _ l _ _ <"$W/poll-$1"
	printf -v "T_$1" '%s' "$(secs "$a" "$b")"
	printf -v "D_$1" '%s of %s polls failed, longest outage %ss' "$f" "$p" "$l"
}
repo_mb() { du -sm "$CACHE/site/backups" | cut -f1; }

# (c) the floor of any restic-based backup: restic alone on the same data
# (the storage directory and a plain pg_dump of the index, piped, the two
# side by side like dockerbank's), into its own repository; no fingerprint,
# no manifest, nothing consistent between the two.
export RESTIC_REPOSITORY=$W/restic RESTIC_PASSWORD=bench
restic init -q
restic_alone() {
	docker exec "$DB" pg_dump -U orthanc -d orthanc --no-sync | restic backup -q --host bench --stdin --stdin-filename index.sql &
	local dump=$!
	restic backup -q --host bench "$MP"
	wait "$dump"
}

timed manual1 manual
MANUAL_MB=$(du -cm "$W/manual/index.dump" "$W/manual/storage.tar" | tail -1 | cut -f1)
timed db1 "$BIN" backup "$INST" --json
REPO1=$(repo_mb)
timed restic1 restic_alone
t0=$(now); LOAD2=$(api load -seed 1 -from "$N" -n "$MORE" -workers "$WORKERS" "${SIZE[@]}"); t1=$(now)
timed manual2 manual
timed db2 "$BIN" backup "$INST" --json
REPO2=$(repo_mb)
timed restic2 restic_alone
unset RESTIC_REPOSITORY RESTIC_PASSWORD
ADDED2=$(python3 -c 'import json,sys; print(sum(m.get("added",0) for m in json.load(open(sys.argv[1]))[0]["members"]) // 1048576)' "$W/out-db2")
timed restore "$BIN" restore "$INST"
COUNT_AFTER=$(api count)
timed verify "$BIN" verify "$INST"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
RATIO=$(awk -v a="$T_db1" -v b="$T_db2" 'BEGIN{printf "%.0f%%", 100*b/a}')
RRATIO=$(awk -v a="$T_restic1" -v b="$T_restic2" 'BEGIN{printf "%.0f%%", 100*b/a}')
# The project's goal: within 1.05x restic alone + 0.5 s per group.
goal() { awk -v r="$1" -v d="$2" 'BEGIN{printf "goal %.1fs, dockerbank %.2fx restic", 1.05*r+0.5, d/r}'; }
G1=$(goal "$T_restic1" "$T_db1") G2=$(goal "$T_restic2" "$T_db2")
# Where the time of each dockerbank backup went, from its progress events
# (--json writes them to stderr as JSON lines).
steps() {
	python3 - "$W/err-$1" <<'PY'
import json, sys
started = set()
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    t, ph = e.get("time", "")[11:22], e.get("phase")
    mib = lambda n: "%.1f MiB" % (n / 1048576)
    if ph == "step" and ("as the application" in e["message"] or e["message"].startswith("dump ")):
        print("    %s %s" % (t, e["message"]))
    elif ph == "capture" and e.get("volume") not in started:
        started.add(e.get("volume"))
        print("    %s capture of %s starts (every dump's snapshot fixed)" % (t, e.get("volume")))
    elif ph in ("dumped", "captured"):
        print("    %s %s %s: %s in %.1fs, %s new in the repository" % (t, ph, e["volume"], mib(e["bytesDone"]), e["seconds"], mib(e["bytesAdded"])))
    elif ph == "group":
        print("    %s group %s complete" % (t, e["target"]))
PY
}

{
	echo "### Orthanc: the Orthanc Book's manual backup vs dockerbank backup ($(date -u +%Y-%m-%d))"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
	echo "Docker $(docker version -f '{{.Server.Version}}'), $(restic version | cut -d' ' -f1-2). Shared with other work: load average $LOAD_BEFORE before, $LOAD_AFTER after."
	echo "Command: \`bench/orthanc/run.sh\` (BENCH_ORTHANC_N=$N)."
	echo
	if [ -n "$KB" ]; then
		DESC="about $KB KiB each: square 16-bit MONOCHROME2 MR images with 8 noisy low bits"
	else
		DESC="8.6 KB each: 64x64 16-bit MONOCHROME2, noiseless"
	fi
	echo "Archive: $COUNT instances ($DESC, generated by internal/dicom), storage ${STORAGE_MB} MiB, index ${INDEX_MB} MiB;"
	if [ "$T_LOAD" = - ]; then
		echo "loaded over REST by an earlier run (cached)."
	else
		echo "loaded over REST with $WORKERS parallel clients in ${T_LOAD}s ($LOAD)."
	fi
	echo
	echo "| step | time | Orthanc REST during it (polled every 100 ms) | stored |"
	echo "|---|---|---|---|"
	echo "| (a) manual: stop, pg_dump -Fc, tar storage, start | ${T_manual1}s | $D_manual1 | ${MANUAL_MB} MiB (dump + tar) |"
	echo "| (b) dockerbank backup | ${T_db1}s | $D_db1 | repository ${REPO1} MiB |"
	echo "| +1% ($MORE) instances: $LOAD2 | | | |"
	echo "| (a) manual again (full every time) | ${T_manual2}s | $D_manual2 | ${MANUAL_MB}+ MiB again |"
	echo "| (b) dockerbank backup, second | ${T_db2}s (${RATIO} of the first) | $D_db2 | ${ADDED2} MiB added, repository ${REPO2} MiB |"
	echo "| (c) restic alone (storage directory + piped pg_dump, side by side): first | ${T_restic1}s | | ($G1) |"
	echo "| (c) restic alone, second | ${T_restic2}s (${RRATIO} of the first) | | ($G2) |"
	echo "| dockerbank restore in place (staging copy, pre-restore backup, replace) | ${T_restore}s | $D_restore | $COUNT_AFTER instances after |"
	echo "| dockerbank verify (restic check 5%, drill into a throwaway instance) | ${T_verify}s | $D_verify | |"
	echo
	echo "Steps of the first and the second dockerbank backup (progress lines):"
	echo
	steps db1
	echo
	steps db2
} >"$OUT"
