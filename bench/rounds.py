"""Measuring tools against each other under a loopback UDP flood, in the
same run: the machinery the per-event benchmarks share.

Each contest runs its sides in alternating rounds (A B, then B A, ...)
under the C flood generator (bench/flood.c) pinned to CPU 1, and prints the
per-round ratio's min/median/max. A side's cost per event is the BPF run
time its programs took during the flood over their run count
(kernel.bpf_stats_enabled, read before and after the flood, so the start-up
does not count); rate contests compare the flood's own rate with stats off.
A round where the flood lost more than 5% of its time (other programs ran
on its CPU, or the hypervisor gave the CPU away: steal time) is done again,
up to three times. Needs root, bpftool and gcc.
"""
import atexit
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PORT, SECONDS, FLOOD_CPU = 39999, 2.0, "1"
DISTURBED = 0.05
# Set by setup().
NTR, FLOOD, ROUNDS = "", "", 5


def setup(ntr, rounds):
    """Measure `ntr`, `rounds` rounds per contest; builds the flood
    generator (bench/flood.c) and checks what the rounds need."""
    global NTR, FLOOD, ROUNDS
    NTR, ROUNDS = ntr, rounds
    here = os.path.dirname(os.path.abspath(__file__))
    FLOOD = os.path.join(tempfile.mkdtemp(), "flood")
    subprocess.run(["gcc", "-O2", "-o", FLOOD, os.path.join(here, "flood.c")], check=True)
    atexit.register(shutil.rmtree, os.path.dirname(FLOOD))
    atexit.register(set_stats, False)


def progs():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {p["id"]: p for p in json.loads(out)}


def steal_ticks():
    """Clock ticks the hypervisor gave the flood's CPU to others (/proc/stat)."""
    for line in open("/proc/stat"):
        if line.startswith(f"cpu{FLOOD_CPU} "):
            return int(line.split()[8])
    return 0


def flood():
    """The flood's rate, and the share of its time it lost: waiting for its
    CPU while runnable (other programs) or to the hypervisor (steal)."""
    stolen = steal_ticks()
    out = subprocess.run(["taskset", "-c", FLOOD_CPU, FLOOD, str(PORT), str(SECONDS)], capture_output=True, text=True, check=True).stdout
    stolen = (steal_ticks() - stolen) / os.sysconf("SC_CLK_TCK")
    pps, delay = out.split()
    return float(pps), (int(delay) / 1e9 + stolen) / SECONDS


def set_stats(on):
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1" if on else "0")


class Side:
    """One tool run: a shell command whose programs' names start with
    `prefix`; None runs nothing (the flood alone)."""

    def __init__(self, label, prefix, cmd):
        self.label, self.prefix, self.cmd = label, prefix, cmd

    def run(self, stats):
        set_stats(stats)
        if self.cmd is None:
            pps, delay = flood()
            return {"pps": pps, "delay": delay}
        before = set(progs())
        proc = subprocess.Popen(self.cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            ids = self.wait_attached(before, proc)
            time.sleep(0.3)
            first = progs()
            pps, delay = flood()
            last = progs()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
        runs = sum(last[i].get("run_cnt", 0) - first[i].get("run_cnt", 0) for i in ids if i in first and i in last)
        ns = sum(last[i].get("run_time_ns", 0) - first[i].get("run_time_ns", 0) for i in ids if i in first and i in last)
        return {"pps": pps, "delay": delay, "events": runs, "ns": ns / runs if runs else float("nan")}

    def wait_attached(self, before, proc):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                sys.exit(f"{self.label}: `{self.cmd}` ended early (exit {proc.returncode})")
            ids = [i for i, p in progs().items() if i not in before and p.get("name", "").startswith(self.prefix)]
            if ids:
                return ids
            time.sleep(0.1)
        sys.exit(f"{self.label}: no program attached after 60 s")


def measure(side, stats):
    for _ in range(3):
        r = side.run(stats)
        if r["delay"] <= DISTURBED:
            return r
        print(f"   ({side.label}: the flood lost {r['delay']:.0%} of its time to others; round done again)", flush=True)
    return r


def contest(title, a, b, metric, goal, floor=None):
    """Ratio a/b of `metric` ("ns": BPF time per event, "pps": the flood's
    rate) over alternating rounds; `goal` is a (comparison, bound) pair.
    `floor`, run in the same rounds, is the least a side can cost (one
    side, or one per side): what each side spends above it is printed too."""
    print(f"== {title}", flush=True)
    stats = metric == "ns"
    floors = [] if floor is None else list(floor) if isinstance(floor, tuple) else [floor, floor]
    sides = [a, b] + list({f.label: f for f in floors}.values())
    ratios, seen = [], {s.label: [] for s in sides}
    for n in range(ROUNDS):
        order = sides if n % 2 == 0 else sides[::-1]
        res = {s.label: measure(s, stats) for s in order}
        for s in order:
            seen[s.label].append(res[s.label][metric])
        ratios.append(res[a.label][metric] / res[b.label][metric])
    set_stats(False)
    unit = "ns/event" if stats else "pkt/s"
    med = {label: statistics.median(vals) for label, vals in seen.items()}
    for label, vals in seen.items():
        print(f"   {label}: median {med[label]:,.0f} {unit} (rounds: {', '.join(f'{v:,.0f}' for v in vals)})")
    op, bound = goal
    m = statistics.median(ratios)
    met = m <= bound if op == "<=" else m >= bound
    print(f"   ratio {a.label}/{b.label}: min {min(ratios):.3f}, median {m:.3f}, max {max(ratios):.3f} over {ROUNDS} rounds "
          f"(goal {op} {bound}: {'met' if met else 'NOT met'})", flush=True)
    if floors:
        fa, fb = floors
        above = [(x - y) / (u - v) for x, y, u, v in zip(seen[a.label], seen[fa.label], seen[b.label], seen[fb.label])]
        print(f"   above the floor ({fa.label}{'' if fa is fb else ' / ' + fb.label}): {a.label} {med[a.label] - med[fa.label]:,.0f} ns, "
              f"{b.label} {med[b.label] - med[fb.label]:,.0f} ns; ratio of that work min {min(above):.3f}, median {statistics.median(above):.3f}, "
              f"max {max(above):.3f}", flush=True)
    return seen


def ntr(label, script):
    return Side(label, "ntr_", f"exec {NTR} -e '{script}'")


def ntr_run(label, args):
    """`ntr ARGS` (a library script), as a shell command line's words."""
    return Side(label, "ntr_", f"exec {NTR} {args}")


def bpftrace(label, script):
    return Side(label, "kfree_skb", f"exec bpftrace -e '{script}'")


NONE = Side("nothing attached", "", None)

