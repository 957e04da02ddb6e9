#!/usr/bin/env bash
# Scrape time of `--metrics` for 10,000 series: a script fills a map with
# 10,000 keys, then `curl /metrics` is timed (median and slowest of 20).
# Needs root and curl. Usage: bash bench/metrics.sh [NTR]   (default: a
# release build of this tree)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/ntr.sh "${1:-}"
ADDR=127.0.0.1:47690
work=$(mktemp -d)
: > "$work/err"
"$NTR" -e 'on sys_enter_getppid { @_n += 1; @fill[key = @_n % 10000] = count(); }' --metrics "$ADDR" >/dev/null 2>"$work/err" &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until grep -q '^Serving' "$work/err"; do
    kill -0 $pid 2>/dev/null || { cat "$work/err"; exit 1; }
    sleep 0.2
done
# 20,000 calls: every key at least once, whatever else calls getppid.
python3 -c 'import os
for _ in range(20000): os.getppid()'
series=$(curl -s "http://$ADDR/metrics" | grep -c '^ntr_fill_total{')
echo "series of ntr_fill: $series (max 10000 by default)"
for _ in $(seq 20); do
    curl -sS --fail -o "$work/body" -w '%{time_total}\n' "http://$ADDR/metrics" || { cat "$work/err"; exit 1; }
done | sort -n > "$work/times"
python3 - "$work/times" "$(wc -c < "$work/body")" <<'PY'
import sys
t = [float(l) for l in open(sys.argv[1])]
print(f"scrape of {sys.argv[2]} bytes: median {t[len(t)//2]*1000:.1f} ms, slowest {t[-1]*1000:.1f} ms over {len(t)} scrapes")
PY

# --metrics reads the maps when scraped: the programs are the same, so the
# BPF run time per event is too (dropwatch under a UDP flood, with and
# without --metrics scraped every second; bench/rounds.py).
kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null || true
python3 - "$NTR" <<'PY'
import sys
sys.path.insert(0, "bench")
from rounds import Side, contest, ntr_run, setup
setup(sys.argv[1], 5)
# The shell, ntr and the scraping loop are one process group: ended together.
scraped = f"{sys.argv[1]} run dropwatch --metrics 127.0.0.1:47691 & while sleep 1; do curl -s -o /dev/null http://127.0.0.1:47691/metrics; done"
contest("dropwatch per event with --metrics scraped each second, against without (the same programs: about 1)",
        Side("with --metrics", "ntr_", scraped), ntr_run("without", "run dropwatch"), "ns", ("<=", 1.1))
PY
