#!/bin/sh
# unpack.sh ZIP DEST: unpack a REDCap zip into the web root DEST.
# An installation zip holds redcap/ (the whole web root); an upgrade zip holds
# only redcap_vX.Y.Z/ (one version directory, placed next to the others).
set -eu
zip=$1
dest=$2
mkdir -p /tmp
work=$(mktemp -d)
unzip -q "$zip" -d "$work"
mkdir -p "$dest"
if [ -d "$work/redcap" ]; then
	cp -a "$work/redcap/." "$dest/"
else
	found=
	for d in "$work"/redcap_v*; do
		[ -d "$d" ] || continue
		cp -a "$d" "$dest/"
		found=1
	done
	if [ -z "$found" ]; then
		echo "unpack: $zip holds neither redcap/ nor redcap_v*/" >&2
		exit 1
	fi
fi
rm -rf "$work"
