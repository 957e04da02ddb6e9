#!/usr/bin/env bash
# The kernel tests once more on a busy host: a loopback UDP flood to a
# closed port and an unrelated ntr run beside them. Each test must match
# only its own traffic and check only the programs it loaded. Run after
# `cargo test` has built the test binaries (the README's test command does).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 bench/udp_flood.py 39999 1800 >/dev/null &
flood=$!
target/debug/ntr -e 'on kfree_skb { @other = count(); }' >/dev/null 2>&1 &
other=$!
# SIGTERM: background jobs of a script ignore SIGINT; ntr detaches on both.
trap 'kill -TERM $flood $other 2>/dev/null || true; wait $flood $other 2>/dev/null || true' EXIT
sleep 2
kill -0 $flood $other  # both are running

status=0
NTR_REQUIRE_KERNEL=1 cargo test --locked --no-fail-fast \
    --test cli --test core --test drops --test filters --test network --test pcap --test pcap_filters --test probes --test repl --test verifier || status=$?
# The load lasted the whole run.
kill -0 $flood $other || { echo "busy-host: the flood or the other ntr run ended early" >&2; exit 1; }
exit $status
