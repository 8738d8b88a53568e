#!/usr/bin/env bash
# bench/deploy: `dockerbank deploy demo` to healthy, side by side in one run
# with compose itself (the docker-compose v5.6.0 CLI, the same engine
# version dockerbank embeds) bringing up the same rendered file with
# `up -d --wait`. Rounds alternate between the two; medians are compared.
#
#   bash bench/deploy/run.sh [ROUNDS]      (default 7)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-7}
cache=${DOCKERBANK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dockerbank}
compose=$cache/compose-bin/docker-compose
db=$root/bin/dockerbank
site=$(mktemp -d /tmp/bench-deploy-site.XXXX)
export DOCKERBANK_HOME=$site

if [ ! -x "$compose" ]; then
	echo "building docker-compose v5.6.0 from the Go module proxy into $compose" >&2
	( cd "$root" && go mod download github.com/docker/compose/v5 )
	src=$cache/compose-src
	rm -rf "$src" && mkdir -p "$src"
	cp -r "$(cd "$root" && go list -m -f '{{.Dir}}' github.com/docker/compose/v5)/." "$src/"
	chmod -R u+w "$src"
	( cd "$src" && GOFLAGS=-buildvcs=false go build -o "$compose" ./cmd )
fi
[ -x "$db" ] || (cd "$root" && make build >/dev/null)

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# One instance renders the file compose will use.
$db deploy demo --name bd-ref -q >/dev/null
ref=$site/instances/bd-ref
secret=$(cat "$ref/secrets/db_password")
cp "$ref/compose.yaml" "$site/ref.yaml"
$db rm bd-ref --purge-data --confirm bd-ref --force -q >/dev/null

: >"$site/db.times"
: >"$site/compose.times"
for i in $(seq 1 "$rounds"); do
	t0=$(now)
	$db deploy demo --name "bd-$i" -q >/dev/null
	t1=$(now)
	awk "BEGIN{print $t1 - $t0}" >>"$site/db.times"
	$db rm "bd-$i" --purge-data --confirm "bd-$i" --force -q >/dev/null

	# the same rendered file, under another project name, with compose itself
	sed "s/bd-ref/bc-$i/g" "$site/ref.yaml" >"$site/bc.yaml"
	t0=$(now)
	DOCKERBANK_SECRET_DB_PASSWORD=$secret "$compose" -f "$site/bc.yaml" -p "bc-$i" up -d --wait --quiet-pull >/dev/null 2>&1
	t1=$(now)
	awk "BEGIN{print $t1 - $t0}" >>"$site/compose.times"
	DOCKERBANK_SECRET_DB_PASSWORD=$secret "$compose" -f "$site/bc.yaml" -p "bc-$i" down -v >/dev/null 2>&1
done
mdb=$(median <"$site/db.times")
mco=$(median <"$site/compose.times")
ratio=$(awk "BEGIN{printf \"%.3f\", $mdb / $mco}")
echo "deploy demo to healthy, median of $rounds rounds:"
printf '  dockerbank deploy          %6.2f s   (%s)\n' "$mdb" "$(tr '\n' ' ' <"$site/db.times")"
printf '  docker-compose up --wait   %6.2f s   (%s)\n' "$mco" "$(tr '\n' ' ' <"$site/compose.times")"
echo "  ratio dockerbank/compose   $ratio"
rm -rf "$site"
