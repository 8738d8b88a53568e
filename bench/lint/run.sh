#!/usr/bin/env bash
# bench/lint: `dockerbank lint` over every file of shared/corpus/compose,
# side by side in one run with dclint (zavoloklom/docker-compose-linter,
# from npm) on the same files. Rounds alternate between the two tools;
# medians are compared. Also runs the in-process Go benchmark.
#
#   bash bench/lint/run.sh [ROUNDS]      (default 7)
#
# dclint is installed into $DOCKERBANK_CACHE/dclint (default ~/.cache/dockerbank, never
# the repo); without npm the dclint column is skipped.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-7}
cache=${DOCKERBANK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dockerbank}
dclint_version=3.1.0

corpus=""
for d in "$root" "$root/.." "$root/../.." "$root/../../.."; do
	if [ -d "$d/shared/corpus/compose" ]; then corpus=$(cd "$d/shared/corpus/compose" && pwd); break; fi
done
[ -n "$corpus" ] || { echo "shared/corpus/compose not found above $root" >&2; exit 1; }
files=("$corpus"/*.yml)

db=$root/bin/dockerbank
(cd "$root" && go build -o "$db" ./cmd/dockerbank)

dclint=$cache/dclint/node_modules/.bin/dclint
if [ ! -x "$dclint" ] && command -v npm >/dev/null; then
	echo "installing dclint $dclint_version into $cache/dclint" >&2
	mkdir -p "$cache/dclint"
	npm install --prefix "$cache/dclint" --no-audit --no-fund "dclint@$dclint_version" >/dev/null 2>&1 || true
fi
[ -x "$dclint" ] || dclint=""

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
tmp=$(mktemp -d /tmp/bench-lint.XXXX)
trap 'rm -rf "$tmp"' EXIT

# Both tools are measured linting all files in one process (dockerbank
# lint --separate: each file is a project of its own) and with one process
# per file.
run_db()        { "$db" lint --site "$tmp/site" --separate "${files[@]}" >/dev/null 2>&1 || true; }
run_db_each()   { for f in "${files[@]}"; do "$db" lint --site "$tmp/site" "$f" >/dev/null 2>&1 || true; done; }
run_dclint()    { "$dclint" --no-color "${files[@]}" >/dev/null 2>&1 || true; }
run_dclint_each() { for f in "${files[@]}"; do "$dclint" --no-color "$f" >/dev/null 2>&1 || true; done; }

run_db; [ -z "$dclint" ] || run_dclint   # warm the page cache
for i in $(seq 1 "$rounds"); do
	t0=$(now); run_db; t1=$(now); ms "$t0" "$t1" >>"$tmp/db"
	t0=$(now); run_db_each; t1=$(now); ms "$t0" "$t1" >>"$tmp/db_each"
	if [ -n "$dclint" ]; then
		t0=$(now); run_dclint; t1=$(now); ms "$t0" "$t1" >>"$tmp/dclint"
		if [ "$i" = 1 ]; then # slow (Node start per file): once is enough
			t0=$(now); run_dclint_each; t1=$(now); ms "$t0" "$t1" >>"$tmp/dclint_each"
		fi
	fi
done

# CPU time and peak memory of one whole-corpus run (CPU time depends less
# on other load on the machine than wall time does).
/usr/bin/time -o "$tmp/usage" -f "%U %S %M" "$db" lint --site "$tmp/site" --separate "${files[@]}" >/dev/null 2>&1 || true
usage=$(tail -1 "$tmp/usage")
cpu=$(echo "$usage" | awk '{printf "%d", ($1 + $2) * 1000}')
peak=$(echo "$usage" | awk '{print $3}')
if [ -n "$dclint" ]; then
	/usr/bin/time -o "$tmp/dusage" -f "%U %S %M" "$dclint" --no-color "${files[@]}" >/dev/null 2>&1 || true
	dusage=$(tail -1 "$tmp/dusage")
	dcpu=$(echo "$dusage" | awk '{printf "%d", ($1 + $2) * 1000}')
	dpeak=$(echo "$dusage" | awk '{print $3}')
fi

# Findings per tool over the corpus (dockerbank: active findings at any severity).
db_findings=0; db_exit2=0
for f in "${files[@]}"; do
	set +e; out=$("$db" lint --site "$tmp/site" --format json "$f" 2>/dev/null); code=$?; set -e
	if [ "$code" = 2 ]; then db_exit2=$((db_exit2 + 1)); continue; fi
	n=$(printf '%s' "$out" | grep -c '"rule":' || true); db_findings=$((db_findings + n))
done

echo "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GB; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "corpus:    ${#files[@]} files in $corpus; $rounds rounds"
echo "dockerbank $(cd "$root" && git describe --always --dirty 2>/dev/null || echo dev): median $(median <"$tmp/db") ms for the corpus in one process (rounds: $(tr '\n' ' ' <"$tmp/db")), CPU ${cpu} ms, peak RSS ${peak} KB; median $(median <"$tmp/db_each") ms one process per file; $db_findings findings, $db_exit2 file(s) not analysable (exit 2)"
if [ -n "$dclint" ]; then
	# -o: dclint (Node) can lose the end of a large report written to a pipe.
	"$dclint" --no-color -o "$tmp/dclint.txt" "${files[@]}" >/dev/null 2>&1 || true
	dc_n=$(grep -oE '[0-9]+ problems' "$tmp/dclint.txt" | tail -1 | cut -d' ' -f1)
	echo "dclint $dclint_version: median $(median <"$tmp/dclint") ms for the corpus in one process (rounds: $(tr '\n' ' ' <"$tmp/dclint")), CPU ${dcpu} ms, peak RSS ${dpeak} KB; $(cat "$tmp/dclint_each") ms one process per file (one round); $dc_n problems"
	awk -v a="$(median <"$tmp/db")" -v b="$(median <"$tmp/dclint")" -v c="$(median <"$tmp/db_each")" -v d="$(median <"$tmp/dclint_each")" -v e="$cpu" -v f="$dcpu" \
		'BEGIN {printf "ratio:     dockerbank/dclint wall %.2f (one process), %.2f (process per file); CPU %.2f\n", a/b, c/d, e/f}'
else
	echo "dclint: not measured (npm not available)"
fi
echo "in-process (go test -bench BenchmarkCheckCorpus, all corpus files per op):"
(cd "$root" && go test ./internal/lint/ -run '^$' -bench BenchmarkCheckCorpus -benchmem -count 3 | grep Benchmark)
