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
    tf=$(mktemp)
    {
        echo "Measured $(date -u +%Y-%m-%d) on a shared 2-core VM under other builds:"
        echo "compare ratios, not absolute times."
        echo
        grep '^|' "$out"
    } >"$tf"
    awk -v tf="$tf" '
        /<!-- msg_bench:begin -->/ { print; while ((getline l < tf) > 0) print l; skip = 1; next }
        /<!-- msg_bench:end -->/ { skip = 0 }
        !skip' DESIGN.md >DESIGN.md.new && mv DESIGN.md.new DESIGN.md
    rm -f "$tf"
fi
