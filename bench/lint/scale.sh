#!/usr/bin/env bash
# bench/lint/scale.sh: `dockerbank lint` on generated compose files with
# many services (each with env_file, ports, a volume and a depends_on), to
# show that time grows linearly. Side by side in the same run: the
# dockerbank built from BASE (default main; the quadratic version before
# the fix) and, when npm is there, dclint (zavoloklom/docker-compose-linter).
#
#   bash bench/lint/scale.sh [N...]      (default 1000 5000 20000)
#
# BASE=<git rev> picks the comparison build; BASE= skips it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 5000 20000)
base=${BASE-main}
cache=${DOCKERBANK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dockerbank}
tmp=$(mktemp -d /tmp/bench-lint-scale.XXXX)
trap 'rm -rf "$tmp"' EXIT

db=$tmp/dockerbank
(cd "$root" && go build -o "$db" ./cmd/dockerbank)
old=""
if [ -n "$base" ]; then
	git -C "$root" worktree add -q --detach "$tmp/base" "$base"
	(cd "$tmp/base" && go build -o "$tmp/dockerbank-base" ./cmd/dockerbank)
	git -C "$root" worktree remove --force "$tmp/base"
	old=$tmp/dockerbank-base
fi
dclint=$cache/dclint/node_modules/.bin/dclint
[ -x "$dclint" ] || dclint=""

gen() {
	local n=$1 f=$2
	{
		echo "services:"
		for ((i = 0; i < n; i++)); do
			printf '  s%d:\n    image: nginx:1.25.3\n    env_file: [.env]\n    environment:\n      A: b\n    ports: ["127.0.0.1:%d:80"]\n    volumes: ["data%d:/data"]\n' "$i" $((10000 + i % 50000)) "$i"
			[ "$i" -gt 0 ] && printf '    depends_on:\n      s%d: {condition: service_started}\n' $((i - 1))
		done
		echo "volumes:"
		for ((i = 0; i < n; i++)); do printf '  data%d: {}\n' "$i"; done
	} >"$f"
	: >"$(dirname "$f")/.env"
}

secs() { # command... -> wall seconds (capped at 600 s)
	local s e
	s=$(date +%s%N)
	timeout 600 "$@" >/dev/null 2>&1 || true
	e=$(date +%s%N)
	echo "scale=2; ($e - $s) / 1000000000" | bc
}

printf '%-9s %-12s %-14s %-10s\n' services dockerbank "base($base)" dclint
for n in "${sizes[@]}"; do
	mkdir -p "$tmp/$n"
	f=$tmp/$n/compose.yaml
	gen "$n" "$f"
	a=$(secs "$db" lint "$f")
	b=-
	[ -n "$old" ] && b=$(secs "$old" lint "$f")
	c=-
	[ -n "$dclint" ] && c=$(secs "$dclint" "$f")
	printf '%-9s %-12s %-14s %-10s\n' "$n" "$a" "$b" "$c"
done
