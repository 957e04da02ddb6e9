#!/usr/bin/env bash
# The cost of a tcpdump filter expression per event, beside the equivalent
# tuple() filter: BPF run time per kfree_skb event under a loopback UDP
# flood (kernel.bpf_stats_enabled), for a filter matching the flood and one
# that does not. Needs root, bpftool and python3.
# Usage: bash bench/filter.sh [NTR_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/ntr.sh
source bench/per_event.sh
work=$(mktemp -d)
# Left as found: another measurement may have it on.
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled=$stats_was; rm -rf "$work"' EXIT

echo "== per-event cost: filter(skb, \"udp dst port P\") against tuple(proto=udp, dport=P), on kfree_skb under a UDP flood to port 39999"
read -r none_ns none_cnt _ < <(per_event ntr_ "$NTR" -e 'on kfree_skb { @n = count(); }')
echo "no filter: ${none_ns} ns/event over ${none_cnt} events"
for port in 39999 9418; do
    what=$([ "$port" = 39999 ] && echo "matching the flood" || echo "not matching")
    read -r t_ns t_cnt _ < <(per_event ntr_ "$NTR" -e "on kfree_skb if tuple(proto=udp, dport=$port) { @n = count(); }")
    read -r f_ns f_cnt _ < <(per_event ntr_ "$NTR" -e "on kfree_skb if filter(skb, \"udp dst port $port\") { @n = count(); }")
    python3 -c "print(f'$what: tuple {$t_ns:.0f} ns/event ({$t_cnt} events), filter {$f_ns:.0f} ns/event ({$f_cnt} events), ratio filter/tuple = {$f_ns/$t_ns:.2f}; over no filter: tuple +{$t_ns-$none_ns:.0f} ns, filter +{$f_ns-$none_ns:.0f} ns')"
done
