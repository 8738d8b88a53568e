#!/usr/bin/env bash
# Audit benchmark: dockerbank audit vs trivy (secret scanner), side by side in
# one run, on (a) a planted-leak image and (b) an image of 100,000 small files
# outside /usr. Prints a markdown report (machine, date, commands, table).
#
#   bench/audit/run.sh [RUNS]        RUNS timed runs per tool and image (default 3)
#
# Env: TRIVY_DIR (default ~/.cache/dockerbank/trivy, outside the repo) holds the trivy
# binary; it is installed there from the Go module proxy when missing (about 8
# minutes). BENCH_WORK is the scratch directory (default: a new temp dir).
set -euo pipefail
runs=${1:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${BENCH_WORK:-$(mktemp -d /tmp/dockerbank-bench-audit.XXXXXX)}
trivy_dir=${TRIVY_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dockerbank/trivy}
trivy=$trivy_dir/trivy
mkdir -p "$work" "$trivy_dir"

if [ ! -x "$trivy" ]; then
	echo "installing trivy v0.74.0 into $trivy_dir (about 8 minutes)" >&2
	GOEXPERIMENT=jsonv2 GOBIN=$trivy_dir go install github.com/aquasecurity/trivy/cmd/trivy@v0.74.0
fi
if [ ! -x /usr/bin/time ]; then
	apt-get install -y time >&2 || { apt-get update >&2 && apt-get install -y time >&2; }
fi

(cd "$repo" && go build -o "$work/dockerbank" ./cmd/dockerbank && go build -o "$work/benchaudit" ./bench/audit)
"$work/benchaudit" gen planted "$work/planted.tar"
"$work/benchaudit" gen many 100000 "$work/many.tar"
"$work/benchaudit" gen many 100000 "$work/cand.tar" 20000

ours() { # image run
	/usr/bin/time -v -o "$work/$1.ours.$2.time" \
		"$work/dockerbank" audit image --input "$work/$1.tar" --format json >"$work/$1.ours.json" || [ $? -eq 1 ]
}
trivy_run() { # image run; a fresh cache each run: every layer is analysed cold
	rm -rf "$work/trivy-cache"
	/usr/bin/time -v -o "$work/$1.trivy.$2.time" \
		"$trivy" image --scanners secret --skip-db-update --offline-scan --input "$work/$1.tar" \
		--format json --cache-dir "$work/trivy-cache" --quiet --disable-telemetry --skip-version-check \
		>"$work/$1.trivy.json"
}
for img in planted many; do
	for r in $(seq 1 "$runs"); do
		ours "$img" "$r"
		trivy_run "$img" "$r"
	done
done
for r in $(seq 1 "$runs"); do
	ours cand "$r"
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
cat <<MD
- Machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/{print $2}') GiB memory, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (the machine is shared); Go $(go env GOVERSION); trivy v0.74.0.
- Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Images: planted $(du -h "$work/planted.tar" | cut -f1), many $(du -h "$work/many.tar" | cut -f1) (100,000 files of ~1 KiB under /app, uncompressed docker save layout).

Commands (each under \`/usr/bin/time -v\`, $runs runs, median wall and CPU time, largest peak RSS; trivy with a fresh cache each run):

    dockerbank audit image --input IMAGE.tar --format json
    trivy image --scanners secret --skip-db-update --offline-scan --input IMAGE.tar --format json \\
      --cache-dir FRESH --quiet --disable-telemetry --skip-version-check

MD
"$work/benchaudit" report "$work"
echo
echo "Raw outputs: $work" >&2
