//! The memory layout of network values, shared by the compiler (which
//! builds them in BPF) and the runtime (which prints them), and the names
//! of their parts.

/// `tuple(skb)`: a flow of 40 bytes, then for an ICMP error the flow of
/// the packet it answers (`TUPLE_INNER`, zero otherwise).
pub const TUPLE_SIZE: u32 = 80;
pub const TUPLE_INNER: u32 = 40;
/// Address family: 2 (AF_INET), 10 (AF_INET6), 0 when not IP.
pub const TUPLE_FAMILY: u32 = 0;
/// IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6, …).
pub const TUPLE_PROTO: u32 = 1;
/// Source port in host order; ICMP: the type.
pub const TUPLE_SPORT: u32 = 2;
/// Destination port in host order; ICMP: the code.
pub const TUPLE_DPORT: u32 = 4;
/// Family 0 (not IP): the packet's ethertype (`skb->protocol`), host order.
pub const TUPLE_ETHERTYPE: u32 = TUPLE_SPORT;
/// Source and destination address, network order; IPv4 uses the first 4 bytes.
pub const TUPLE_SADDR: u32 = 8;
pub const TUPLE_DADDR: u32 = 24;

/// `cause(skb, reason, location, kstack(N))`: what the runtime needs to explain a
/// drop, in 8-byte slots, then the packet's tuple and conntrack entry.
pub const CAUSE_REASON: u32 = 0;
pub const CAUSE_NETNS: u32 = 8;
pub const CAUSE_IFINDEX: u32 = 16;
/// `skb->len` at the drop.
pub const CAUSE_LEN: u32 = 24;
/// The kernel stack (for the netfilter hook and rule).
pub const CAUSE_STACK: u32 = 32;
/// Where the packet was freed (`location`): for drops without a reason.
pub const CAUSE_SITE: u32 = 40;
pub const CAUSE_TUPLE: u32 = 48;
pub const CAUSE_CT: u32 = CAUSE_TUPLE + TUPLE_SIZE;

/// The arguments of a `pcap(skb)` record (`tir::Output::Pcap`), by
/// position: the wall-clock time, the device's index, name and namespace,
/// the packet's length from its network header, the bytes of that in the
/// linear buffer, the network header's address; the comment's values follow.
pub const PCAP_TIME: usize = 0;
pub const PCAP_IFINDEX: usize = 1;
pub const PCAP_IFNAME: usize = 2;
pub const PCAP_NETNS: usize = 3;
pub const PCAP_WIRE: usize = 4;
pub const PCAP_LINEAR: usize = 5;
pub const PCAP_AT: usize = 6;
pub const PCAP_COMMENT: usize = 7;
pub const CAUSE_SIZE: u32 = CAUSE_CT + CT_SIZE;

/// `ct(skb)`: up to the original-direction tuple at `CT_ORIG`.
pub const CT_SIZE: u32 = CT_ORIG + TUPLE_SIZE;
/// `ip_conntrack_info` (0…7), or `CT_INVALID` when the skb has no entry.
pub const CT_STATE: u32 = 0;
/// `enum tcp_conntrack` of the entry (TCP flows only).
pub const CT_TCP: u32 = 1;
pub const CT_ZONE: u32 = 2;
pub const CT_MARK: u32 = 4;
/// `enum ip_conntrack_status` bits.
pub const CT_STATUS: u32 = 8;
/// The entry's original-direction tuple, laid out as a `tuple(skb)`.
pub const CT_ORIG: u32 = 16;

/// States of a packet without a conntrack entry, as `ct(skb)` gives them:
/// NO_ENTRY where conntrack is hooked in the packet's namespace (the stack
/// may also have released the entry: UDP and TCP do on local delivery);
/// NO_CONNTRACK where it is not (nothing there uses conntrack); NOT_IP for
/// other protocols; UNKNOWN when the packet has neither device nor socket to
/// find its namespace by. INVALID is iptables' word for a packet conntrack
/// judged and gave no entry: `ct()` cannot know that the judging happened,
/// so only a script that knows (a netfilter drop) sets it.
pub const CT_NO_ENTRY: u64 = 8;
pub const CT_NO_CONNTRACK: u64 = 9;
pub const CT_NOT_IP: u64 = 10;
pub const CT_UNKNOWN: u64 = 11;
pub const CT_INVALID: u64 = 12;
/// Conntrack's own netfilter hook functions, found in the namespace's
/// PREROUTING hooks when conntrack tracks its IPv4 / IPv6 packets.
pub const CONNTRACK_HOOKS: [&str; 2] = ["ipv4_conntrack_in", "ipv6_conntrack_in"];
/// Hook entries ntr looks through (namespaces have a handful).
pub const MAX_HOOK_ENTRIES: u32 = 16;

pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// IP protocols by name, as `tuple(proto=…)` takes and tuples print them.
pub const PROTOCOLS: &[(&str, u8)] = &[("icmp", 1), ("tcp", 6), ("udp", 17), ("icmpv6", 58), ("sctp", 132), ("gre", 47), ("esp", 50)];

pub fn protocol_name(n: u8) -> Option<&'static str> {
    PROTOCOLS.iter().find(|(_, v)| *v == n).map(|(name, _)| *name)
}

pub fn protocol_number(name: &str) -> Option<u8> {
    PROTOCOLS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Whether protocol `n` carries ICMP type/code where ports would be.
pub fn is_icmp(n: u8) -> bool {
    n == 1 || n == 58
}

/// Netfilter hooks in the order packets meet them.
pub const HOOKS: &[&str] = &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// Names of common non-IP ethertypes, for packets `tuple()` cannot parse.
pub const ETHERTYPES: &[(u16, &str)] = &[
    (0x0806, "ARP"),
    (0x8035, "RARP"),
    (0x8100, "802.1Q"),
    (0x88a8, "802.1ad"),
    (0x8847, "MPLS"),
    (0x8863, "PPPoE discovery"),
    (0x8864, "PPPoE"),
    (0x88cc, "LLDP"),
    (0x88e5, "MACsec"),
    (0x8906, "FCoE"),
];
