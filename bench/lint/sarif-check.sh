#!/usr/bin/env bash
# bench/lint/sarif-check.sh: validate `dockerbank lint --format sarif` for
# every corpus file with Microsoft's SARIF Multitool (`validate`: the SARIF
# 2.1.0 schema plus the SDK's own rules), an independent check beside the
# schema test in internal/lint. The multitool comes from npm
# (@microsoft/sarif-multitool-linux, MIT) into $DOCKERBANK_CACHE, never the repo.
#
#   bash bench/lint/sarif-check.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${DOCKERBANK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dockerbank}
version=5.7.0
tool=$cache/sarif-multitool/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
if [ ! -x "$tool" ]; then
	echo "installing @microsoft/sarif-multitool-linux $version into $cache/sarif-multitool" >&2
	mkdir -p "$cache/sarif-multitool"
	npm install --prefix "$cache/sarif-multitool" --no-audit --no-fund "@microsoft/sarif-multitool-linux@$version" >/dev/null
	chmod u+x "$tool"
fi
corpus=""
for d in "$root" "$root/.." "$root/../.." "$root/../../.."; do
	if [ -d "$d/shared/corpus/compose" ]; then corpus=$(cd "$d/shared/corpus/compose" && pwd); break; fi
done
[ -n "$corpus" ] || { echo "shared/corpus/compose not found above $root" >&2; exit 1; }
db=$root/bin/dockerbank
(cd "$root" && go build -o "$db" ./cmd/dockerbank)
tmp=$(mktemp -d /tmp/sarif-check.XXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
for f in "$corpus"/*.yml; do
	out=$tmp/$(basename "$f" .yml).sarif
	"$db" lint --site "$tmp/site" --format sarif "$f" >"$out" 2>/dev/null || true
	[ -s "$out" ] || continue # not analysable (exit 2): no SARIF log
	n=$((n + 1))
done
"$tool" validate "$tmp"/*.sarif -o "$tmp/validation.sarif" | grep -E "(warning|error) SARIF" || true
problems=$(grep -c '"ruleId"' "$tmp/validation.sarif" || true)
echo "SARIF Multitool $version validate: $n SARIF logs from the corpus, $problems problems"
[ "$problems" = 0 ]
