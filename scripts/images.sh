#!/usr/bin/env bash
# Builds the local images that the bank entries and the tests use, without
# any image registry: the images listed in scripts/images/images.list, a
# busybox image FROM scratch, PostgreSQL, MariaDB and Orthanc images from
# Debian packages (debootstrap + docker import, then a Dockerfile on top),
# and the OHIF viewer on Debian's nginx, whose files come from the npm
# registry once (checked against the registry's integrity, then cached in
# DOCKERBANK_IMAGE_WORK, default /var/tmp/dockerbank-images; the script says
# what it downloads).
#
#   scripts/images.sh [NAME...]     build the listed images (NAME: a directory
#                                   of images.list, e.g. orthanc); default all
#   scripts/images.sh --build TAG DIR
#                                   build one image from the Dockerfile in DIR
#                                   with the same checks (new images, tests)
#
# Every image is audited right after it is built (`dockerbank audit image`
# with the suppressions file audit-suppressions.yaml beside its Dockerfile,
# threshold low): an image with an unsuppressed finding of low severity or
# more is refused, left tagged TAG-candidate for inspection, and the script
# stops with the findings; TAG keeps the image it had before. Only an image
# that passes is tagged TAG.
#
# Images are cached: an image whose label org.dockerbank.recipe matches the
# hash of what it is built from (packages, scripts, build context) is not
# built again, so an image from an older recipe is rebuilt by the next run.
# FORCE=1 rebuilds everything. AUDIT_SARIF_DIR=DIR also writes the SARIF
# report of every listed image (built or cached) to DIR/NAME.sarif.
# DOCKERBANK_BIN names the dockerbank binary that audits; default: built
# from this checkout with go.
#
# With DOCKER_HOST at a Podman service (scripts/podman.sh), the images are
# built into Podman's storage the same way, except that an image (and its
# root file system) that the Docker engine at DOCKERBANK_IMAGES_FROM
# (default unix:///var/run/docker.sock) has in another recipe than Podman is
# copied from it first (docker save | docker load, audited there); the recipe
# check then decides, as for any image, whether it is current.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}
work=${DOCKERBANK_IMAGE_WORK:-/var/tmp/dockerbank-images}
list=$here/images/images.list
recipe_label=org.dockerbank.recipe

say() { printf '%s images: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	say "$*"
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

from=${DOCKERBANK_IMAGES_FROM:-unix:///var/run/docker.sock}
podman=
case $(docker version --format '{{range .Server.Components}}{{.Name}};{{end}}' 2>/dev/null) in
*"Podman Engine"*) podman=1 ;;
esac

# copy TAG: on Podman, copies TAG from the Docker engine at $from when that
# engine has it built from another recipe than Podman's copy (or Podman has
# none).
copy() {
	[ -n "$podman" ] && [ -z "${FORCE:-}" ] && [ "$from" != "${DOCKER_HOST:-}" ] || return 0
	local theirs
	theirs=$(DOCKER_HOST=$from docker image inspect -f "{{index .Config.Labels \"$recipe_label\"}}" "$1" 2>/dev/null) || return 0
	[ "$(docker image inspect -f "{{index .Config.Labels \"$recipe_label\"}}" "$1" 2>/dev/null)" != "$theirs" ] || return 0
	say "copying $1 from the engine at $from"
	DOCKER_HOST=$from docker save "$1" | docker load >/dev/null || die "copy of $1 from $from failed"
}

# recipe LABEL FILE...: a short hash of the suite, a label and the names,
# modes and contents of the files: what an image is built from.
recipe() {
	local label=$1
	shift
	{
		printf '%s\n%s\n' "$suite" "$label"
		local f
		for f in "$@"; do
			printf '== %s %s\n' "$(basename "$f")" "$(stat -c %a "$f")"
			cat "$f"
		done
	} | sha256sum | cut -c1-16
}

# current TAG RECIPE: the image exists, built from that recipe.
current() {
	[ -z "${FORCE:-}" ] || return 1
	[ "$(docker image inspect -f "{{index .Config.Labels \"$recipe_label\"}}" "$1" 2>/dev/null)" = "$2" ]
}

# need_dockerbank: sets dbk to the binary that audits the images.
dbk=
need_dockerbank() {
	[ -z "$dbk" ] || return 0
	if [ -n "${DOCKERBANK_BIN:-}" ]; then
		dbk=$DOCKERBANK_BIN
		return 0
	fi
	command -v go >/dev/null || die "the images are audited with dockerbank: install Go (PATH=\$PATH:/usr/local/go/bin) or set DOCKERBANK_BIN"
	say "building dockerbank to audit the images"
	(cd "$root" && go build -o "$tmp/dockerbank" ./cmd/dockerbank) || die "go build ./cmd/dockerbank failed"
	dbk=$tmp/dockerbank
}

# audit_args TAG DIR: the arguments of `dockerbank audit image` for an image
# built from DIR.
audit_args() {
	local args=(audit image "$1" --severity-threshold low)
	[ ! -f "$2/audit-suppressions.yaml" ] || args+=(--suppressions "$2/audit-suppressions.yaml")
	printf '%s\n' "${args[@]}"
}

# sarif TAG DIR NAME: with AUDIT_SARIF_DIR, writes the image's SARIF report.
sarif() {
	[ -n "${AUDIT_SARIF_DIR:-}" ] || return 0
	mkdir -p "$AUDIT_SARIF_DIR"
	need_dockerbank
	local args
	mapfile -t args < <(audit_args "$1" "$2")
	local rc=0
	"$dbk" "${args[@]}" --format sarif >"$AUDIT_SARIF_DIR/$3.sarif" || rc=$?
	[ "$rc" -le 1 ] || die "audit of $1 failed (exit $rc)"
	say "wrote $AUDIT_SARIF_DIR/$3.sarif"
}

# rootfs NAME PACKAGES DIR: a minimal Debian root file system with the
# packages, cleaned by images/scrub.sh and DIR/rootfs.sh before it is
# imported as dockerbank/NAME-rootfs:SUITE, so nothing they remove is in any
# layer. Prints the recipe.
rootfs() {
	local name=$1 packages=$2 dir=$3 tag="dockerbank/$1-rootfs:$suite"
	local files=("$here/images/scrub.sh")
	[ ! -f "$dir/rootfs.sh" ] || files+=("$dir/rootfs.sh")
	local r
	r=$(recipe "$packages" "${files[@]}")
	if ! current "$tag" "$r"; then
		say "debootstrap $name ($packages), one to five minutes"
		mkdir -p "$work"
		local fs log
		fs=$(mktemp -d "$work/$name.XXXXXX")
		log=$fs.log
		debootstrap --variant=minbase --include="$packages" "$suite" "$fs" "$mirror" </dev/null >"$log" 2>&1 ||
			{ tail -20 "$log" >&2; rm -rf "$fs"; die "debootstrap $name failed (log: $log)"; }
		"$here/images/scrub.sh" "$fs" || { rm -rf "$fs"; die "scrub.sh failed on the $name root file system"; }
		if [ -f "$dir/rootfs.sh" ]; then
			"$dir/rootfs.sh" "$fs" || { rm -rf "$fs"; die "$dir/rootfs.sh failed"; }
		fi
		tar -C "$fs" -c . | docker import -c "LABEL $recipe_label=$r" - "$tag" >/dev/null
		rm -rf "$fs" "$log"
	fi
	printf '%s\n' "$r"
}

# build_image TAG DIR [BASE]: builds DIR's Dockerfile (BASE: the recipe of
# the root file system it starts from), audits it, and tags it TAG only when
# the audit passes.
build_image() {
	local tag=$1 dir=$2 base=${3:-}
	[ -f "$dir/Dockerfile" ] || die "$dir has no Dockerfile"
	local ctx
	ctx=$(mktemp -d "$tmp/ctx.XXXXXX")
	cp -a "$dir/." "$ctx/"
	rm -f "$ctx/rootfs.sh" "$ctx/audit-suppressions.yaml"
	if [ -f "$ctx/context.sh" ]; then
		rm -f "$ctx/context.sh"
		DOCKERBANK_IMAGE_WORK=$work "$dir/context.sh" "$ctx" || die "$dir/context.sh failed"
	fi
	local files r
	mapfile -t files < <(find "$ctx" -type f | LC_ALL=C sort)
	r=$(recipe "$base" "${files[@]}")
	if current "$tag" "$r"; then
		return 0
	fi
	local candidate=$tag-candidate
	say "building $tag"
	docker build -q --build-arg SUITE="$suite" --label "$recipe_label=$r" -t "$candidate" "$ctx" >/dev/null ||
		die "docker build of $tag failed"
	need_dockerbank
	local args
	mapfile -t args < <(audit_args "$candidate" "$dir")
	say "auditing $tag"
	local out rc=0
	out=$("$dbk" "${args[@]}" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" >&2
		die "refused $tag: \`dockerbank ${args[*]}\` exit $rc (findings above); the image stays as $candidate for inspection. Fix the image (remove the file in the layer that creates it: scripts/images/scrub.sh or $dir/rootfs.sh), or suppress a finding with a reason and an expiry in $dir/audit-suppressions.yaml"
	fi
	docker tag "$candidate" "$tag"
	docker image rm "$candidate" >/dev/null
	say "$tag passed the audit ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

if [ "${1:-}" = --build ]; then
	[ $# -eq 3 ] || die "usage: scripts/images.sh --build TAG DIR"
	build_image "$2" "$(cd "$3" && pwd)"
	exit 0
fi

want=("$@")
built=()
mapfile -t lines < <(grep -Ev '^[[:space:]]*(#|$)' "$list")
for line in "${lines[@]}"; do
	read -r tag name packages <<<"$line"
	if [ ${#want[@]} -gt 0 ] && ! printf '%s\n' "${want[@]}" | grep -qx "$name"; then
		continue
	fi
	dir=$here/images/$name
	base=
	copy "$tag"
	if [ "$packages" != - ]; then
		copy "dockerbank/$name-rootfs:$suite"
		base=$(rootfs "$name" "$packages" "$dir")
	fi
	build_image "$tag" "$dir" "$base"
	sarif "$tag" "$dir" "$name"
	built+=("$tag")
done
[ ${#want[@]} -eq 0 ] || [ ${#built[@]} -eq ${#want[@]} ] ||
	die "unknown image name in: ${want[*]} (names: $(awk '!/^#/ && NF { printf "%s ", $2 }' "$list"))"
say "ready: ${built[*]}"
