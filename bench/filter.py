#!/usr/bin/env python3
"""The cost of a tcpdump filter expression per event, beside the equivalent
tuple() filter, for a filter matching the flood and one that does not; each
above a program with no filter (alternating rounds, bench/rounds.py).

Usage (root): python3 bench/filter.py NTR [ROUNDS]
"""
import sys

from rounds import contest, ntr, setup

setup(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5)
for port, what in ((39999, "matching the flood"), (9418, "not matching")):
    contest(f'filter(skb, "udp dst port {port}") against tuple(proto=udp, dport={port}), {what}',
            ntr("filter", f'on kfree_skb if filter(skb, "udp dst port {port}") {{ @n = count(); }}'),
            ntr("tuple", f"on kfree_skb if tuple(proto=udp, dport={port}) {{ @n = count(); }}"),
            "ns", ("<=", 1.0), floor=ntr("no filter", "on kfree_skb { @n = count(); }"))
