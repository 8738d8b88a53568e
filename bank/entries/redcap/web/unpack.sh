#!/bin/sh
# unpack.sh ZIP DEST: unpack a REDCap installation zip into the web root DEST.
# An installation zip holds redcap/ (the whole web root). An upgrade zip holds
# only redcap_vX.Y.Z/ and no index.php, install.php or cron.php: refused
# (dockerbank build checks this before, with a longer message).
set -eu
zip=$1
dest=$2
mkdir -p /tmp
work=$(mktemp -d)
unzip -q "$zip" -d "$work"
mkdir -p "$dest"
if [ ! -d "$work/redcap" ]; then
	echo "unpack: $zip holds no redcap/: an upgrade package cannot build a new instance; use the installation zip redcapX.Y.Z.zip" >&2
	exit 1
fi
for f in index.php install.php cron.php; do
	if [ ! -f "$work/redcap/$f" ]; then
		echo "unpack: $zip lacks redcap/$f; use the installation zip redcapX.Y.Z.zip" >&2
		exit 1
	fi
done
cp -a "$work/redcap/." "$dest/"
rm -rf "$work"
