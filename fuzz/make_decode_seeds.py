#!/usr/bin/env python3
"""Writes the decode target's seeds (seeds/decode/): for every type, one
event record of each output and map entries of each kind, all well formed
(see runtime/src/replay.rs for the input layout). Run from fuzz/."""
import os, random, struct

# Slot sizes of runtime/src/replay.rs's TYPES, in order.
SLOTS = [8] * 8 + [8, 8, 16, 64, 8, 8, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 80, 80, 96, 8, 8, 16, 224, 8, 8]
OUTPUTS = 6
MAP_KINDS = 10  # count sum min max avg min(time) hist lhist lhist value
HIST = (6, 7, 8)
rng = random.Random(10)
out = "seeds/decode"
os.makedirs(out, exist_ok=True)

def value(size):
    # Plausible values: small numbers, addresses, strings, IPv4 tuples.
    b = bytearray(rng.choice([0, 1, 2, 7, 0x41]) for _ in range(size))
    if size >= 8 and rng.random() < 0.5:
        b[:8] = struct.pack("<Q", rng.choice([0, 1, 42, 1 << 40, 0xffffffff81000000, (1 << 64) - 14]))
    return bytes(b)

def chunk(b):
    return struct.pack("<H", len(b)) + b

def write(name, data):
    open(f"{out}/{name}", "wb").write(data)

for t in range(len(SLOTS)):
    for json in (0, 1):
        # Events: one field of type t, a record for each output.
        size = 8 + SLOTS[t]
        recs = b"".join(chunk(struct.pack("<II", e, 0) + value(SLOTS[t])) for e in range(OUTPUTS))
        write(f"ok-event-{t}-{json}", bytes([json, 0, 0, t, t % 8]) + recs)
    # Maps: key of type t, each kind, 2 CPUs.
    for kind in range(MAP_KINDS):
        cpus = 2
        key = SLOTS[t] + (8 if kind in HIST else 0)
        if kind in (2, 3, 4, 5):
            val = 16 * cpus
        elif kind == 9:
            val = SLOTS[t]
        else:
            val = 8 * cpus
        entries = b""
        for i in range(3):
            k = bytearray(value(key))
            if kind in HIST:
                k[-8:] = struct.pack("<Q", i + 1)
            v = bytearray(value(val))
            if kind in (2, 3, 4, 5):
                for c in range(cpus):
                    v[16 * c + 8:16 * c + 16] = struct.pack("<Q", 1)
            entries += chunk(bytes(k)) + chunk(bytes(v))
        write(f"ok-map-{t}-{kind}", bytes([2 | (kind & 1), cpus - 1, 0, t, kind]) + entries)

# Several fields at once.
for i in range(20):
    n = rng.randint(2, 4)
    ts = [rng.randrange(len(SLOTS)) for _ in range(n)]
    body = b"".join(value(SLOTS[t]) for t in ts)
    recs = b"".join(chunk(struct.pack("<II", e, 0) + body) for e in range(OUTPUTS))
    write(f"ok-fields-{i}", bytes([i & 1, 0, n - 1] + ts + [rng.randrange(16)]) + recs)
