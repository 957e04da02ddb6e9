#!/usr/bin/env bash
# Compile time: `ntr check` (parse, check, compile, no load) of one probe of
# 100, 1,000 and 10,000 statements and of 1 MB scripts, with wall time and
# peak RSS; prints a table. Needs root (kernel BTF). Usage:
# bash bench/compile.sh [NTR]   (default: a release build of this tree)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/ntr.sh "${1:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
MB = 1 << 20
def statements(n):
    return "".join(f"  let v{i} = skb.len + {i}; @c[v{i}] = count();\n" for i in range(n))
def write(name, text):
    open(f"{work}/{name}.ntr", "w").write(text)
for n in (100, 1000, 10000):
    write(f"probe_{n}_statements", "on kfree_skb {\n" + statements(n) + "}\n")
# 1 MB in one probe (too large for the kernel: must be refused quickly).
write("1mb_one_probe", "on kfree_skb {\n" + statements(19000) + "}\n")
# 1 MB of small probes, all valid: every one is compiled.
probes, size, i = [], 0, 0
while size < MB:
    p = f"on kfree_skb if skb.len > {i} {{ @c[reason] = count(); @s = sum(skb.len); }}\n"
    probes.append(p); size += len(p); i += 1
write("1mb_small_probes", "".join(probes))
PY

# A run longer than this is cut short and shown as such (an older ntr ran
# for hours on some of these).
LIMIT=${NTR_BENCH_LIMIT:-60}

# Median of 3 runs: wall, user and system seconds and peak RSS (KiB) from
# GNU time, or the children's rusage when it is missing. CPU time is shown
# too: on a shared machine the wall time includes waiting for a CPU.
measure() {
    local file=$1
    for _ in 1 2 3; do
        if [ -x /usr/bin/time ]; then
            /usr/bin/time -f "%e %U %S %M" -o "$work/t" timeout "$LIMIT" "$NTR" check "$file" >/dev/null 2>&1 || true
            tail -1 "$work/t"
        else
            python3 - "$NTR" "$file" "$LIMIT" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(["timeout", sys.argv[3], sys.argv[1], "check", sys.argv[2]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{time.monotonic() - t:.2f} {u.ru_utime:.2f} {u.ru_stime:.2f} {u.ru_maxrss}")
PY
        fi
    done | sort -n | sed -n 2p
}

printf '%-26s %9s %8s %8s %12s  %s\n' script bytes wall-s cpu-s "peak RSS" result
for name in probe_100_statements probe_1000_statements probe_10000_statements 1mb_one_probe 1mb_small_probes; do
    file=$work/$name.ntr
    read -r secs user sys rss < <(measure "$file")
    result=$(timeout "$LIMIT" "$NTR" check "$file" 2>&1 | head -1 | cut -c1-60) || true
    [ -n "$result" ] || result="(cut short after ${LIMIT} s)"
    printf '%-26s %9d %8.2f %8.2f %9.1f MiB  %s\n' "$name" "$(stat -c %s "$file")" "$secs" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$result"
done
echo "goal: every script of 1 MB or less accepted or refused within 1 s"
