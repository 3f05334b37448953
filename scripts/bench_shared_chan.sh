#!/bin/sh
# Cross-thread channels: dill's shared channels beside std mpsc (blocking
# threads), tokio's multi-thread runtime (2 workers) and Go (GOMAXPROCS=2),
# all in one run, then the ratios. Also dill's buffered local channel
# against the unbuffered one. Installs nothing: without `go`, says so and
# leaves Go out.
#
#   scripts/bench_shared_chan.sh [--design]
#
# With --design, the tables replace the block between the shared_chan
# markers in DESIGN.md.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR
cargo bench -q -p dill-bench --bench shared_chan >>"$out"
# The same dill cases with the scheduler sleeping at once instead of
# yielding up to 50 us first (the choice DESIGN.md explains).
DILL_SHARED_WAIT_US=0 cargo bench -q -p dill-bench --bench shared_chan -- dill_shared |
    sed 's/^\(dill_shared_[a-z_]*\) /\1_no_wait /' >>"$out"
if command -v go >/dev/null 2>&1; then
    (cd benches/go/chan && GOMAXPROCS=2 go run .) >>"$out"
else
    echo "go: not installed, Go's figures are left out" >&2
fi
table=$(awk '
    { v[$1] = $2; order[n++] = $1 }
    function row(name, base) {
        if (!(name in v)) return
        if (base in v && v[name] > 0)
            printf "| %s | %.1f | %.2f |\n", name, v[name], v[name] / v[base]
        else
            printf "| %s | %.1f | |\n", name, v[name]
    }
    END {
        print "| round trip across two threads | ns | × dill |"
        print "| --- | ---: | ---: |"
        row("dill_shared_ping_pong", "dill_shared_ping_pong")
        row("dill_shared_ping_pong_no_wait", "dill_shared_ping_pong")
        row("std_mpsc_ping_pong", "dill_shared_ping_pong")
        row("tokio_mt_ping_pong", "dill_shared_ping_pong")
        row("tokio_two_rt_ping_pong", "dill_shared_ping_pong")
        row("go_ping_pong", "dill_shared_ping_pong")
        row("go_locked_ping_pong", "dill_shared_ping_pong")
        print ""
        print "| one way across two threads, buffer 128 | ns/msg | × dill |"
        print "| --- | ---: | ---: |"
        row("dill_shared_one_way", "dill_shared_one_way")
        row("dill_shared_one_way_no_wait", "dill_shared_one_way")
        row("std_mpsc_one_way", "dill_shared_one_way")
        row("tokio_mt_one_way", "dill_shared_one_way")
        row("tokio_two_rt_one_way", "dill_shared_one_way")
        row("go_one_way", "dill_shared_one_way")
        row("go_locked_one_way", "dill_shared_one_way")
        print ""
        print "| one way, one thread | ns/msg | × buffered |"
        print "| --- | ---: | ---: |"
        row("dill_local_buffered_one_way", "dill_local_buffered_one_way")
        row("dill_local_one_way", "dill_local_buffered_one_way")
    }' "$out")
echo "$table"
if [ "${1:-}" = "--design" ]; then
    echo "$table" | scripts/put-block DESIGN.md shared_chan
fi
