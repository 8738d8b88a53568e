#!/bin/sh
# context.sh CTX: puts the dist/ of the npm package named in package.txt
# into the build context as CTX/dist, without its app-config.js (the image
# has its own), and the package's LICENSE and package.json as CTX/package.
#
# The tarball is downloaded from the npm registry ($NPM_REGISTRY, default the
# public one) the first time only: its sha512 must equal the integrity in
# package.txt, which must equal the registry's dist.integrity for that
# version. It is then kept in $DOCKERBANK_IMAGE_WORK/npm (default
# /var/tmp/dockerbank-images/npm) and checked again on every later build,
# which needs no network.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ctx=$1
registry=${NPM_REGISTRY:-https://registry.npmjs.org}
cache=${DOCKERBANK_IMAGE_WORK:-/var/tmp/dockerbank-images}/npm
say() { printf '%s images: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	say "ohif: $*"
	exit 1
}
read -r name version integrity <<EOT
$(grep -Ev '^[[:space:]]*(#|$)' "$here/package.txt")
EOT
case $integrity in
sha512-*) ;;
*) die "package.txt: integrity of $name@$version must be sha512-BASE64, got '$integrity'" ;;
esac
# hex INTEGRITY: the digest of an npm integrity string, in hexadecimal.
hex() { printf '%s' "${1#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n'; }
# sha512 FILE: the file's sha512 in hexadecimal.
sha512() { sha512sum "$1" | cut -d' ' -f1; }
want=$(hex "$integrity")
file=$cache/$(printf '%s' "$name" | tr / _)-$version.tgz
if [ ! -f "$file" ] || [ "$(sha512 "$file")" != "$want" ]; then
	command -v curl >/dev/null || die "curl is needed to download $name@$version (scripts/deps.sh installs it)"
	command -v jq >/dev/null || die "jq is needed to read the registry's metadata (scripts/deps.sh installs it)"
	mkdir -p "$cache"
	meta=$(mktemp "$cache/meta.XXXXXX")
	tgz=$(mktemp "$cache/tgz.XXXXXX")
	trap 'rm -f "$meta" "$tgz"' EXIT
	url=$registry/$(printf '%s' "$name" | sed 's|/|%2F|')/$version
	curl -fsS --retry 3 --max-time 60 -o "$meta" "$url" || die "cannot read the metadata of $name@$version at $url"
	theirs=$(jq -r .dist.integrity "$meta")
	tarball=$(jq -r .dist.tarball "$meta")
	[ "$theirs" = "$integrity" ] ||
		die "the registry's dist.integrity of $name@$version is $theirs, package.txt pins $integrity: refusing the download (check the package before changing package.txt)"
	curl -fsS --retry 3 --max-time 900 -o "$tgz" "$tarball" || die "cannot download $tarball"
	got=$(sha512 "$tgz")
	[ "$got" = "$want" ] || die "the tarball $tarball has sha512 $got, not the registry's $integrity ($want): refused"
	mv "$tgz" "$file"
	say "downloaded $name@$version: $tarball ($(stat -c %s "$file" | awk '{ printf "%.1f MB", $1 / 1e6 }')), sha512 matches the registry's dist.integrity; cached as $file"
else
	say "using $name@$version from the cache ($file, integrity checked)"
fi
mkdir "$ctx/dist" "$ctx/package"
tar -xzf "$file" -C "$ctx/dist" --strip-components=2 --no-same-owner package/dist
[ -f "$ctx/dist/index.html" ] || die "$file holds no package/dist/index.html"
rm -f "$ctx/dist/app-config.js"
# the MIT licence travels with every copy
tar -xzf "$file" -C "$ctx/package" --strip-components=1 --no-same-owner package/LICENSE package/package.json
