#!/usr/bin/env python3
"""Per-event goals of issue 11, each a ratio measured in the same run, in
alternating rounds (bench/rounds.py says how).

Usage (root): python3 bench/per_event.py NTR [ROUNDS]
"""
import statistics
import sys

from rounds import NONE, bpftrace, contest, ntr, ntr_run, setup

setup(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5)

contest("keyed count: ntr @[sym(location), reason] = count() against bpftrace",
        ntr("ntr", "on kfree_skb { @[sym(location), reason] = count(); }"),
        bpftrace("bpftrace", "tracepoint:skb:kfree_skb { @[ksym(args->location), args->reason] = count(); }"),
        "ns", ("<=", 0.5), floor=(ntr("an empty ntr program", "on kfree_skb { }"), bpftrace("an empty bpftrace program", "tracepoint:skb:kfree_skb { }")))
contest("stack-keyed count: @[kstack, reason] = count() against bpftrace",
        ntr("ntr", "on kfree_skb { @[kstack, reason] = count(); }"),
        bpftrace("bpftrace", "tracepoint:skb:kfree_skb { @[kstack, args->reason] = count(); }"),
        "ns", ("<=", 0.9), floor=ntr("the kernel's stack walk alone", "on kfree_skb { @s = kstack; }"))
contest("kstack(5) against a full kstack (ntr, @[…] = count())",
        ntr("kstack(5)", "on kfree_skb { @[kstack(5)] = count(); }"),
        ntr("kstack", "on kfree_skb { @[kstack] = count(); }"),
        "ns", ("<=", 0.3), floor=ntr("the kernel's walk of 5 frames alone", "on kfree_skb { @s = kstack(5); }"))
printf_sides = [ntr("ntr printf", 'on kfree_skb { printf("%d %s %d\\n", pid, comm, reason); }'),
                bpftrace("bpftrace printf", 'tracepoint:skb:kfree_skb { printf("%d %s %d\\n", pid, comm, args->reason); }')]
seen = contest("printf per event (goal for ntr alone: <= 1500 ns), against bpftrace's", *printf_sides, "ns", ("<=", 1.0))
print(f"   ntr printf per event: median {statistics.median(seen['ntr printf']):,.0f} ns (goal <= 1500)")
contest("the flood's rate while ntr prints every event, against nothing attached", printf_sides[0], NONE, "pps", (">=", 0.5))
contest("dropwatch unfiltered (flows, conntrack, hook, backtraces) against bpftrace @[kstack, args->reason] = count()",
        ntr_run("dropwatch", "run dropwatch"),
        bpftrace("bpftrace", "tracepoint:skb:kfree_skb { @[kstack, args->reason] = count(); }"),
        "ns", ("<=", 0.6), floor=ntr("the kernel's walk of the 12 frames dropwatch takes", "on kfree_skb { @s = kstack(12); }"))
contest("the flood's rate under dropwatch filtered to another port, against nothing attached",
        ntr_run("filtered dropwatch", "run dropwatch -p port=9418"), NONE, "pps", (">=", 0.97))
