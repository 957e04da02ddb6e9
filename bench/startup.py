#!/usr/bin/env python3
"""Start-up goals of issue 11: the kstack one-liner's whole run (compile,
load, attach, detach) against bpftrace's, and `begin { exit(); }`, in
alternating rounds (ntr, bpftrace, empty; then the other way round). Each
run's wall time, CPU time (user + system) and peak RSS come from its own
wait4; the ratios are per round, shown as min/median/max.

Usage (root): python3 bench/startup.py NTR [ROUNDS]
"""
import os
import statistics
import subprocess
import sys
import time

NTR = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
RUNS = {
    "ntr": [NTR, "-e", "on kfree_skb { @[kstack, reason] = count(); } begin { exit(); }"],
    "bpftrace": ["bpftrace", "-e", "tracepoint:skb:kfree_skb { @[kstack, args->reason] = count(); } BEGIN { exit(); }"],
    "empty": [NTR, "-e", "begin { exit(); }"],
}


def once(argv):
    """(wall s, CPU s, peak RSS MiB) of one run. The peak RSS comes from a
    second run under GNU time: a child forked from this python counts
    python's pages until it execs."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv[0]} failed: {' '.join(argv)}")
    timed = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", "/dev/stdout", *argv], capture_output=True, text=True, check=True)
    return wall, usage.ru_utime + usage.ru_stime, int(timed.stdout.split()[-1]) / 1024


for argv in RUNS.values():  # warm the page cache
    once(argv)
got = {name: [] for name in RUNS}
for n in range(ROUNDS):
    names = list(RUNS) if n % 2 == 0 else list(RUNS)[::-1]
    for name in names:
        got[name].append(once(RUNS[name]))


def spread(values, fmt):
    return f"min {fmt(min(values))}, median {fmt(statistics.median(values))}, max {fmt(max(values))}"


for i, (what, unit, goal) in enumerate([("wall", "ms", 0.05), ("CPU", "ms", 0.15), ("peak RSS", "MiB", 0.10)]):
    scale = 1000 if unit == "ms" else 1
    ntr = [r[i] * scale for r in got["ntr"]]
    bt = [r[i] * scale for r in got["bpftrace"]]
    ratios = [a / b for a, b in zip(ntr, bt)]
    m = statistics.median(ratios)
    print(f"   {what}: ntr median {statistics.median(ntr):.1f} {unit}, bpftrace median {statistics.median(bt):.1f} {unit}; "
          f"ratio {spread(ratios, lambda x: f'{x:.3f}')} over {ROUNDS} rounds (goal <= {goal}: {'met' if m <= goal else 'NOT met'})")
wall = [r[0] * 1000 for r in got["empty"]]
rss = [r[2] for r in got["empty"]]
print(f"   begin {{ exit(); }}: wall {spread(wall, lambda x: f'{x:.1f}')} ms (goal <= 8: {'met' if statistics.median(wall) <= 8 else 'NOT met'}); "
      f"peak RSS {spread(rss, lambda x: f'{x:.1f}')} MiB (goal <= 8: {'met' if statistics.median(rss) <= 8 else 'NOT met'})")
