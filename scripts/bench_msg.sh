#!/bin/sh
# Message benchmarks: runs benches/benches/msg.rs (PREFIX ping-pong beside
# the raw-syscall floor, dill's raw bytes, tokio, Go when installed, SUFFIX,
# and TCP loopback when built with TCP) and prints its table. Installs
# nothing: without `go`, the bench says so and leaves Go out.
#
#   scripts/bench_msg.sh [--design]
#
# With --design, the table replaces the block between the msg_bench markers
# in DESIGN.md (numbers are never copied by hand).
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR
cargo bench -q -p dill-bench --bench msg >"$out"
cat "$out"
if [ "${1:-}" = "--design" ]; then
    {
        echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg):"
        echo "compare ratios, not absolute times."
        echo
        grep '^|' "$out"
    } | scripts/put-block DESIGN.md msg_bench
fi
