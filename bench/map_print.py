#!/usr/bin/env python3
"""CPU time ntr spends printing a map of 100,000 keys at exit (issue 11:
goal <= 0.1 s). A seeker process makes 100,000 `lseek`s on an fd of its
own; ntr counts them by offset, once with the map printed (`@at`) and once
with it kept unprinted (`@_at`), in alternating rounds. The difference of
ntr's own CPU time (user + system, from wait4) is the print: reading the
map back, combining, sorting and formatting it.

Usage (root): python3 bench/map_print.py NTR [ROUNDS]
"""
import os
import statistics
import subprocess
import sys
import time

NTR = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
KEYS = 100_000
SEEKER = f"""import os, sys
os.dup2(os.open('/dev/null', os.O_RDONLY), 99)
sys.stdin.readline()
for i in range({KEYS}): os.lseek(99, i, 0)
"""


def run(map_name):
    """ntr's CPU seconds and the rows it printed."""
    seeker = subprocess.Popen([sys.executable, "-c", SEEKER], stdin=subprocess.PIPE)
    script = (f"on sys_enter_lseek if pid == {seeker.pid} && fd == 99 {{ @{map_name}[offset] = count(); "
              f"if offset == {KEYS - 1} {{ exit(); }} }}")
    out = open("/dev/shm/ntr-map-print.out", "w+")
    ntr = subprocess.Popen([NTR, "-e", script, "--map-size", "131072"], stdout=out, stderr=subprocess.PIPE, text=True)
    # Attached once it says so on stderr.
    line = ntr.stderr.readline()
    if "Attached" not in line:
        sys.exit(f"ntr did not attach: {line}{ntr.stderr.read()}")
    seeker.stdin.write(b"go\n")
    seeker.stdin.close()
    seeker.wait()
    _, status, usage = os.wait4(ntr.pid, 0)
    ntr.returncode = os.waitstatus_to_exitcode(status)
    if ntr.returncode != 0:
        sys.exit(f"ntr failed ({ntr.returncode}): {ntr.stderr.read()}")
    out.seek(0)
    rows = sum(1 for l in out if l.startswith(f"@{map_name}["))
    out.close()
    os.unlink("/dev/shm/ntr-map-print.out")
    return (usage.ru_utime, usage.ru_stime), rows


printed, kept = [], []
for n in range(ROUNDS):
    for name in (("at", "_at") if n % 2 == 0 else ("_at", "at")):
        cpu, rows = run(name)
        if name == "at":
            if rows != KEYS:
                sys.exit(f"printed {rows} rows of {KEYS}")
            printed.append(cpu)
        else:
            kept.append(cpu)
        time.sleep(0.2)
diff = [sum(a) - sum(b) for a, b in zip(printed, kept)]
user = statistics.median(a[0] - b[0] for a, b in zip(printed, kept))
system = statistics.median(a[1] - b[1] for a, b in zip(printed, kept))
print(f"   ntr CPU with the map printed: median {statistics.median(sum(a) for a in printed):.3f} s; kept unprinted: "
      f"median {statistics.median(sum(b) for b in kept):.3f} s; the difference in user space {user:.3f} s, in the kernel {system:.3f} s")
print(f"   printing {KEYS:,} rows: min {min(diff):.3f}, median {statistics.median(diff):.3f}, max {max(diff):.3f} s CPU over {ROUNDS} rounds "
      f"(goal <= 0.1 s: {'met' if statistics.median(diff) <= 0.1 else 'NOT met'})")
