#!/usr/bin/env bash
# bench/offsite/run.sh: backup to the local repository alone vs backup plus
# a copy to each off-site server, side by side in one run over loopback:
# OpenSSH (sftp:), rclone serve restic over TLS (rest:) and SeaweedFS
# (s3:), all started by the benchmark (internal/testenv). Then 1% of the
# files change and the copy runs again (it must send at most 25% of the
# first copy). The volume holds BENCH_MB MiB (default 256): half random data
# in 1 MiB files, half text in 64 KiB files.
# Needs root, docker, restic, rclone, sshd and weed (scripts/deps.sh).
# Usage: bench/offsite/run.sh [RESULTS.md]   (default: prints to stdout)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/dev/stdout}
DOCKERBANK_BENCH_OFFSITE=1 go test -count=1 -timeout 60m -run TestOffsiteBench -v ./bench/offsite >/tmp/offsite-bench.$$.log 2>&1 || {
	tail -50 /tmp/offsite-bench.$$.log >&2
	exit 1
}
sed -n 's/^RESULT: //p' /tmp/offsite-bench.$$.log >"$OUT"
rm -f /tmp/offsite-bench.$$.log
