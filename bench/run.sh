#!/usr/bin/env bash
# ntr against bpftrace, measured in the same run on this machine; prints
# ratios. Needs root. Usage: bash bench/run.sh (ROUNDS=N: rounds per
# per-event contest, 5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in bpftrace:bpftrace bpftool:bpftool /usr/bin/time:time python3:python3 gcc:gcc; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# bpftrace needs tracefs; ntr mounts it itself when needed.
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
cargo build --release --quiet
NTR=$PWD/target/release/ntr
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== start-up: the kstack one-liner's whole run (compile + load + attach + detach) against bpftrace's, ${ROUNDS:-5} alternating rounds"
python3 bench/startup.py "$NTR" "${ROUNDS:-5}"

echo "== per event: BPF run time (kernel.bpf_stats_enabled) and the flood's rate, ${ROUNDS:-5} alternating rounds each"
python3 bench/per_event.py "$NTR" "${ROUNDS:-5}"

echo "== dropwatch matching the flood: cause lines and their lookups (goal: 1 lookup per distinct namespace and question)"
gcc -O2 -o "$work/flood" bench/flood.c
"$NTR" run dropwatch -p port=39999 --json > "$work/dw.json" 2>/dev/null &
pid=$!
sleep 3
read -r matched_pps _ < <(taskset -c 1 "$work/flood" 39999 3)
kill -TERM $pid; wait $pid || true
python3 - "$work/dw.json" "$matched_pps" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
drops = sum(r["value"] for r in recs if r.get("type") == "map" and r.get("map") == "@drops")
causes = sum(1 for r in recs if r.get("type") == "record" and "cause" in r)
rows = sum(1 for r in recs if r.get("type") == "map" and r.get("map") == "@by_cause")
lookups = next(r["fact_lookups"] for r in recs if r.get("type") == "summary")
print(f"{drops} drops ({sys.argv[2]} pkt/s), {causes} cause lines printed, {rows} cause row(s) in the summary, {lookups} fact lookup(s): {lookups / max(rows, 1):.1f} per distinct cause")
PY

echo "== front end: 500 distinct tracepoints in one block, ntr check against bpftrace's compile; N blocks on one tracepoint, ${ROUNDS:-5} alternating rounds"
grep -v '^syscalls:' /sys/kernel/tracing/available_events | awk 'NR <= 500 { print "tracepoint:" $0 }' | paste -sd, > "$work/tp500.list"
{ printf 'on '; cat "$work/tp500.list"; echo ' { @[probe] = count(); }'; } > "$work/tp500.ntr"
{ cat "$work/tp500.list"; echo ' { @[probe] = count(); }'; } > "$work/tp500.bt"
python3 bench/frontend.py "$NTR" "${ROUNDS:-5}" "$work"

echo "== printing a map of 100,000 keys at exit (goal <= 0.1 s CPU)"
# Nine rounds at least: the two runs' CPU times wander by a few hundredths.
python3 bench/map_print.py "$NTR" "$(( ${ROUNDS:-5} > 9 ? ${ROUNDS:-5} : 9 ))"

echo "== compile time and peak RSS of large scripts (ntr check)"
bash bench/compile.sh "$NTR"
