//! When tracepoints gained the arguments scripts use, for diagnostics on
//! kernels that predate them. ntr never decides by version what a kernel
//! has (BTF and tracefs say that); this only tells a user, once a name is
//! missing, since when it exists.

/// (tracepoint, argument, first Linux release that has it)
const ARGUMENTS: &[(&str, &str, &str)] =
    &[("kfree_skb", "reason", "5.17"), ("kfree_skb", "rx_sk", "6.11"), ("consume_skb", "location", "6.3"), ("tcp_send_reset", "reason", "6.10")];

/// The release in which tracepoint `name` (`category:name` or `name`) gained `arg`.
pub fn argument_since(tracepoint: &str, arg: &str) -> Option<&'static str> {
    let name = tracepoint.rsplit(':').next().unwrap_or(tracepoint);
    ARGUMENTS.iter().find(|(tp, a, _)| *tp == name && *a == arg).map(|(_, _, since)| *since)
}
