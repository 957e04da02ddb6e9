# Sourced by the benchmarks (needs $work, a scratch directory, and
# kernel.bpf_stats_enabled=1): per_event PREFIX COMMAND… runs COMMAND,
# floods a closed UDP port on loopback for 3 s (bench/udp_flood.py), and
# prints the BPF run time per event of the programs whose names start with
# PREFIX, their run count and the flood's rate.
per_event() {
    local prefix=$1; shift
    "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep 3  # compile, load, attach
    local pps
    pps=$(python3 bench/udp_flood.py 39999 3)
    bpftool -j prog show > "$work/progs.json"
    # SIGTERM: background jobs of a script ignore SIGINT.
    kill -TERM $pid; wait $pid || true
    python3 - "$work/progs.json" "$prefix" "$pps" <<'PY'
import json, sys
progs = [p for p in json.load(open(sys.argv[1])) if p.get("name", "").startswith(sys.argv[2])]
cnt = sum(p.get("run_cnt", 0) for p in progs)
ns = sum(p.get("run_time_ns", 0) for p in progs)
print(f"{ns / cnt if cnt else float('nan'):.1f} {cnt} {sys.argv[3]}")
PY
}
