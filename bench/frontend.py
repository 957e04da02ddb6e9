#!/usr/bin/env python3
"""Front-end goals of issue 11, in alternating rounds with min/median/max:
`ntr check` of one block on 500 distinct tracepoints against bpftrace's
compile of the same (`--emit-elf`), and `ntr check` of 1,000 blocks on one
tracepoint against 10 (the cost per block).

Usage (root): python3 bench/frontend.py NTR ROUNDS WORK
(WORK holds tp500.ntr and tp500.bt, which bench/run.sh writes)
"""
import os
import statistics
import subprocess
import sys
import time

NTR, ROUNDS, WORK = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for n in (10, 1000):
    with open(os.path.join(WORK, f"same{n}.ntr"), "w") as f:
        f.write("on kfree_skb { @c = count(); }\n" * n)
RUNS = {
    "ntr": [NTR, "check", os.path.join(WORK, "tp500.ntr")],
    "bpftrace": ["bpftrace", "--emit-elf", os.path.join(WORK, "tp500.o"), os.path.join(WORK, "tp500.bt")],
    "10 blocks": [NTR, "check", os.path.join(WORK, "same10.ntr")],
    "1000 blocks": [NTR, "check", os.path.join(WORK, "same1000.ntr")],
}


def once(argv):
    start = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - start


for argv in RUNS.values():  # warm the page cache
    once(argv)
got = {name: [] for name in RUNS}
for n in range(ROUNDS):
    for name in list(RUNS) if n % 2 == 0 else list(RUNS)[::-1]:
        got[name].append(once(RUNS[name]))


def spread(values, fmt):
    return f"min {fmt(min(values))}, median {fmt(statistics.median(values))}, max {fmt(max(values))}"


ntr, bt = got["ntr"], got["bpftrace"]
ratios = [a / b for a, b in zip(ntr, bt)]
print(f"   500 tracepoints: ntr check {spread([t * 1000 for t in ntr], lambda x: f'{x:.0f}')} ms "
      f"(goal <= 200: {'met' if statistics.median(ntr) <= 0.2 else 'NOT met'}); bpftrace --emit-elf median {statistics.median(bt) * 1000:.0f} ms; "
      f"ratio {spread(ratios, lambda x: f'{x:.3f}')} over {ROUNDS} rounds (goal <= 0.5: {'met' if statistics.median(ratios) <= 0.5 else 'NOT met'})")
per_block = [(b - a) / 990 * 1000 for a, b in zip(got["10 blocks"], got["1000 blocks"])]
print(f"   blocks on one tracepoint: 10 blocks median {statistics.median(got['10 blocks']) * 1000:.1f} ms, 1,000 blocks median "
      f"{statistics.median(got['1000 blocks']) * 1000:.1f} ms; per block {spread(per_block, lambda x: f'{x:.3f}')} ms over {ROUNDS} rounds "
      f"(goal <= 0.1: {'met' if statistics.median(per_block) <= 0.1 else 'NOT met'})")
