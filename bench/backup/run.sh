#!/usr/bin/env bash
# bench/backup/run.sh: backup and restore of one ~800 MB volume of mixed
# random and text files, side by side in one run:
#   (a) classic:  docker run --rm -v VOL:/data busybox tar c /data | gzip > file
#   (b) cp+restic: docker cp of a created helper container | restic backup --stdin
#   (c) dockerbank backup (host mountpoint, the default) and --via tar
#   (e) restic alone on the same data: restic backup of the mountpoint and
#       pg_dump | restic backup --stdin of the group's database (the storage
#       engine's floor: the target is (c) <= 1.05 x (e) + 0.5 s per group)
# then a second backup after rewriting 1% of the files, restores, peak RSS,
# and (BENCH_PG_MB, default 1024) a hot pg_dump of a PostgreSQL database of that
# size while a client writes every 100 ms (failed client requests = downtime).
# Needs root (reads volume mountpoints), docker, restic, /usr/bin/time.
# Usage: bench/backup/run.sh [RESULTS.md]   (default: prints to stdout)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${1:-/dev/stdout}
W=$(mktemp -d /tmp/bk-bench.XXXX)
SITE=$W/site
export DOCKERBANK_HOME=$SITE DOCKERBANK_BANKS=$ROOT/bench/backup/bank
INST=bk-bench
BIN=$W/dockerbank
PG_MB=${BENCH_PG_MB:-1024}
go build -o "$BIN" ./cmd/dockerbank
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
cleanup() {
	"$BIN" rm "$INST" --purge-data --confirm "$INST" --force -q >/dev/null 2>&1 || true
	"$BIN" rm "$INST-r" --purge-data --confirm "$INST-r" --force -q >/dev/null 2>&1 || true
	"$BIN" rm "$INST-s" --purge-data --confirm "$INST-s" --force -q >/dev/null 2>&1 || true
	docker rm -f bk-bench-helper >/dev/null 2>&1 || true
	docker volume rm bk-bench-classic bk-bench-cp >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT

"$BIN" deploy bkbench --name "$INST" -q >/dev/null
VOL=${INST}_data
MP=$(docker volume inspect -f '{{.Mountpoint}}' "$VOL")

# 400 MiB random in 40 files, 400 MiB text in 4000 files.
mkdir -p "$MP/random" "$MP/text"
for i in $(seq 1 40); do head -c 10485760 /dev/urandom >"$MP/random/r$i.bin"; done
python3 - "$MP/text" <<'PY'
import os, random, sys
d = sys.argv[1]
words = [w.strip() for w in open("/usr/share/dict/words")] if os.path.exists("/usr/share/dict/words") else \
    ["patient", "visit", "record", "dose", "mg", "result", "normal", "follow-up", "consent", "cohort", "lab", "value"]
rnd = random.Random(1)
for i in range(4000):
    with open(os.path.join(d, "t%04d.txt" % i), "w") as f:
        n = 0
        lines = []
        while n < 102400:
            l = "%d;%s;%s\n" % (rnd.randrange(10**9), " ".join(rnd.choice(words) for _ in range(8)), rnd.random())
            lines.append(l); n += len(l)
        f.write("".join(lines)[:102400])
PY
chown -R 1000:1000 "$MP"
sync
SIZE=$(du -sb "$MP" | cut -f1)
NFILES=$(find "$MP" -type f | wc -l)

export RESTIC_PASSWORD=bench
PEER_REPO=$W/peer-repo
RESTIC_REPOSITORY=$PEER_REPO restic init -q
FLOOR_REPO=$W/floor-repo
RESTIC_REPOSITORY=$FLOOR_REPO restic init -q
"$BIN" backup init -q # both repositories exist before the timed runs

classic() { # $1 = output file
	docker run --rm -v "$VOL":/data:ro dockerbank/busybox:1.36 tar c /data | gzip >"$1"
}
cprestic() {
	docker rm -f bk-bench-helper >/dev/null 2>&1 || true
	docker create --name bk-bench-helper --log-driver none -v "$VOL":/data:ro dockerbank/busybox:1.36 true >/dev/null
	docker cp bk-bench-helper:/data - | RESTIC_REPOSITORY=$PEER_REPO restic backup -q --stdin --stdin-filename data.tar --host bench
	docker rm -f bk-bench-helper >/dev/null
}
run_timed() { # label cmd...
	local t0 t1
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	t0=$(now); "${@:2}" >/dev/null; t1=$(now)
	eval "T_$1=$(secs "$t0" "$t1")"
}
rss() { # cmd...: peak RSS (KiB) of the largest process in the tree
	/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
}
own_rss() { # cmd...: peak RSS (KiB) of the command's own process (VmHWM), without children
	"$@" >/dev/null &
	local pid=$! hwm=0 v
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
		[ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
		sleep 0.1
	done
	wait "$pid"
	echo "$hwm"
}

# Full backups.
resticonly() { # restic alone on the same data: the volume's mountpoint and a pg_dump of the database, side by side as dockerbank stores them
	docker exec "${INST}-pg-1" pg_dump -U bench bench |
		RESTIC_REPOSITORY=$FLOOR_REPO restic backup -q --host bench --stdin --stdin-filename bench.sql &
	local dump=$!
	(cd "$MP" && RESTIC_REPOSITORY=$FLOOR_REPO restic backup -q --host bench .)
	wait "$dump"
}
run_timed a1 classic "$W/full.tar.gz"
run_timed b1 cprestic
run_timed c1 "$BIN" backup "$INST" -q
run_timed d1 "$BIN" backup "$INST" -q --via tar
run_timed e1 resticonly

# Change 1% of the files, back up again.
for i in $(seq 0 100 3999); do printf '%s\n' "changed $(date +%s%N)" >>"$MP/text/t$(printf %04d "$i").txt"; done
head -c 10485760 /dev/urandom >"$MP/random/r1.bin"
run_timed a2 classic "$W/incr.tar.gz"
run_timed b2 cprestic
run_timed c2 "$BIN" backup "$INST" -q
run_timed d2 "$BIN" backup "$INST" -q --via tar
run_timed e2 resticonly
RSS_C=$(rss "$BIN" backup "$INST" -q)
RSS_D=$(rss "$BIN" backup "$INST" -q --via tar)
OWN_C=$(own_rss "$BIN" backup "$INST" -q)

# Restores into empty volumes.
docker volume create bk-bench-classic >/dev/null
docker volume create bk-bench-cp >/dev/null
run_timed ar sh -c "gzip -dc '$W/incr.tar.gz' | docker run --rm -i -v bk-bench-classic:/data dockerbank/busybox:1.36 tar x -C / "
docker create --name bk-bench-helper --log-driver none -v bk-bench-cp:/data dockerbank/busybox:1.36 true >/dev/null
run_timed br sh -c "RESTIC_REPOSITORY=$PEER_REPO restic dump -q latest /data.tar | docker cp - bk-bench-helper:/"
docker rm -f bk-bench-helper >/dev/null
run_timed cr "$BIN" restore "$INST" --as "$INST-r" -q
"$BIN" rm "$INST-r" --purge-data --confirm "$INST-r" --force -q >/dev/null

# Hot PostgreSQL dump while a client writes every 100 ms.
PGC=${INST}-pg-1
ROWS=$((PG_MB * 1024 / 1))
docker exec "$PGC" psql -U bench -qc "create table big(id bigint primary key, payload text)"
docker exec "$PGC" psql -U bench -qc "insert into big select g, repeat(md5(g::text), 30) from generate_series(1, $ROWS) g"
docker exec "$PGC" psql -U bench -qc "create table ticks(id serial primary key, at timestamptz default now())"
DBSIZE=$(docker exec "$PGC" psql -U bench -tAc "select pg_database_size('bench')")
fails=0; ok=0
( while [ ! -e "$W/stop" ]; do
	if docker exec "$PGC" psql -U bench -qtAc "insert into ticks default values" >/dev/null 2>&1; then echo ok; else echo fail; fi
	sleep 0.1
done >"$W/ticks" ) &
CLIENT=$!
run_timed pg "$BIN" backup "$INST" -q
touch "$W/stop"; wait "$CLIENT"
ok=$(grep -c ok "$W/ticks" || true); fails=$(grep -c fail "$W/ticks" || true)

# A volume of many small files (BENCH_SMALL_FILES, default 1,000,000): time
# and peak RSS of a first and an unchanged second backup.
NSMALL=${BENCH_SMALL_FILES:-1000000}
"$BIN" deploy bkbench --name "$INST-s" -q >/dev/null
SMP=$(docker volume inspect -f '{{.Mountpoint}}' "${INST}-s_data")
python3 - "$SMP" "$NSMALL" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range((n + 999) // 1000):
    sub = os.path.join(d, "d%04d" % i)
    os.mkdir(sub)
    for j in range(min(1000, n - i * 1000)):
        with open(os.path.join(sub, "f%04d.txt" % j), "w") as f:
            f.write("record %d %d\n" % (i, j))
PY
sync
t0=$(now); S1_OWN=$(own_rss "$BIN" backup "$INST-s" -q); t1=$(now); T_s1=$(secs "$t0" "$t1")
t0=$(now); S2_OWN=$(own_rss "$BIN" backup "$INST-s" -q); t1=$(now); T_s2=$(secs "$t0" "$t1")
S_ALL=$(rss "$BIN" backup "$INST-s" -q)
"$BIN" rm "$INST-s" --purge-data --confirm "$INST-s" --force -q >/dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }
{
	echo "### Run of $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), Docker $(docker version -f '{{.Server.Version}}'), $(restic version | cut -d' ' -f1-2)"
	echo
	echo "Command: \`bench/backup/run.sh\` (page cache dropped before every timed step)."
	echo "Volume: $NFILES files, $(awk -v s="$SIZE" 'BEGIN{printf "%.0f MiB", s/1048576}') (40 x 10 MiB random, 4000 x 100 KiB text)."
	echo
	echo "| step | (a) docker run tar \\| gzip | (b) docker cp \\| restic --stdin | (c) dockerbank (mountpoint) | (c') dockerbank --via tar | (e) restic backup alone |"
	echo "|---|---|---|---|---|---|"
	echo "| full backup (s) | $T_a1 | $T_b1 | $T_c1 | $T_d1 | $T_e1 |"
	echo "| after changing 1% of the files (s) | $T_a2 | $T_b2 | $T_c2 | $T_d2 | $T_e2 |"
	echo "| restore (s) | $T_ar | $T_br | $T_cr (new instance, verified against the manifest) | - | - |"
	echo
	echo "Against the floor (target: (c) <= 1.05 x (e) + 0.5 s): full $T_c1 s vs $(awk -v e="$T_e1" 'BEGIN{printf "%.2f", 1.05*e+0.5}') s allowed ($(awk -v c="$T_c1" -v e="$T_e1" 'BEGIN{print (c <= 1.05*e+0.5) ? "met" : "missed"}')); second $T_c2 s vs $(awk -v e="$T_e2" 'BEGIN{printf "%.2f", 1.05*e+0.5}') s allowed ($(awk -v c="$T_c2" -v e="$T_e2" 'BEGIN{print (c <= 1.05*e+0.5) ? "met" : "missed"}'))."
	echo
	echo "Ratios: full backup (a)/(c) = $(ratio "$T_a1" "$T_c1")x faster than classic; (c)/(b) = $(ratio "$T_c1" "$T_b1") (target <= 1.3);"
	echo "second backup (c2)/(c1) = $(ratio "$T_c2" "$T_c1") (target <= 0.25); restore (cr)/(c1) = $(ratio "$T_cr" "$T_c1") (target <= 1.5)."
	echo
	echo "Peak RSS of the dockerbank process (VmHWM) during a backup of this volume: $((OWN_C / 1024)) MiB. Of the largest process in the tree (dockerbank or its restic child): mountpoint $((RSS_C / 1024)) MiB, --via tar $((RSS_D / 1024)) MiB."
	echo
	echo "Volume of $NSMALL small files: first backup $T_s1 s, dockerbank's own peak RSS $((S1_OWN / 1024)) MiB; unchanged second backup $T_s2 s, $((S2_OWN / 1024)) MiB; largest process in the tree (restic) $((S_ALL / 1024)) MiB."
	echo
	echo "Hot PostgreSQL dump: database of $(awk -v s="$DBSIZE" 'BEGIN{printf "%.0f MiB", s/1048576}'), backup of the whole instance took $T_pg s; a client inserting every 100 ms meanwhile: $ok requests ok, $fails failed."
	echo
} >>"$OUT"
