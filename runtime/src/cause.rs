//! The cause line of a drop: what its reason means (the stdlib's table)
//! and the facts the table says bear on it, looked up in the packet's
//! namespace. It states what was seen; an inference says "likely".

use std::net::IpAddr;

use ntr_stdlib::reasons;

use crate::facts::{sysctl_name, table_name, Answer, Facts, Query, Route};
use crate::net::Flow;

/// What the probe saw of a dropped packet.
pub struct Drop<'a> {
    pub reason: &'a str,
    /// The function that freed the packet.
    pub site: &'a str,
    pub netns: u64,
    pub ifindex: u32,
    /// `skb->len` at the drop.
    pub len: u32,
    pub flow: &'a Flow,
    /// `ct(skb).state` by name.
    pub ct_state: &'a str,
    pub hook: Option<&'static str>,
    /// The netfilter rule whose counter rose (`nfrule`), when the hook is known.
    pub rule: Option<String>,
}

pub fn describe(drop: &Drop, facts: &mut Facts) -> String {
    // A drop the kernel gives no reason for may still be known by its site.
    let by_site = (drop.reason == "NOT_SPECIFIED").then(|| reasons::explain_site(drop.site)).flatten();
    let Some(explanation) = by_site.or_else(|| reasons::explain(drop.reason)) else {
        return format!("{}: no explanation yet", drop.reason);
    };
    let seen: Vec<String> = explanation.facts.iter().filter_map(|kind| fact(kind, drop, facts)).collect();
    // What was seen first, then what the reason means in general.
    if seen.is_empty() {
        explanation.meaning.clone()
    } else {
        format!("{} ({})", seen.join("; "), explanation.meaning)
    }
}

fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// One fact of kind `kind` in words, or `None` when it does not apply to
/// this packet (no IP flow, no device).
fn fact(kind: &str, d: &Drop, facts: &mut Facts) -> Option<String> {
    let (src, dst) = (ip(&d.flow.src), ip(&d.flow.dst));
    let ns = d.netns;
    let unknown = |what: &str, e: String| Some(format!("{what} unknown ({e})"));
    match kind {
        "route" => {
            let dst = dst?;
            let input = src.filter(|_| d.ifindex != 0).map(|s| (s, d.ifindex));
            match facts.get(ns, Query::Route { dst, input }) {
                // Refused as unreachable with no such route: on input, a
                // device that does not forward is refused so too.
                Ok(Answer::Route(Route::Refused { kind: "unreachable", entry: None })) if input.is_some() => {
                    let dev = device_name(d.ifindex, ns, facts)?;
                    let forwarding = match facts.get(ns, Query::IpConf { ipv6: dst.is_ipv6(), dev: dev.clone(), name: "forwarding" }) {
                        Ok(Answer::IpConf(Some(v))) => v,
                        _ => "unknown".into(),
                    };
                    let sysctl = sysctl_name(dst.is_ipv6(), &dev, "forwarding");
                    Some(if forwarding == "0" {
                        format!("{sysctl}=0: {dev} does not forward, so packets for other hosts arriving on it are refused")
                    } else {
                        format!("the input route lookup for {dst} answered host unreachable, though no unreachable route covers it ({sysctl}={forwarding})")
                    })
                }
                Ok(Answer::Route(r)) => Some(route_text(dst, &r, ns, facts)),
                Ok(_) => None,
                Err(e) => unknown(&format!("route to {dst}"), e),
            }
        }
        "rp_filter" => {
            let dev = device_name(d.ifindex, ns, facts)?;
            let value = |dev: &str, facts: &mut Facts| match facts.get(ns, Query::IpConf { ipv6: false, dev: dev.to_string(), name: "rp_filter" }) {
                Ok(Answer::IpConf(Some(v))) => v,
                _ => "unknown".into(),
            };
            let (own, all) = (value(&dev, facts), value("all", facts));
            let mut text = format!("net.ipv4.conf.{dev}.rp_filter={own}, net.ipv4.conf.all.rp_filter={all} (the higher applies; 1 is strict)");
            if let Some(src) = src {
                if let Ok(Answer::Route(r)) = facts.get(ns, Query::Route { dst: src, input: None }) {
                    text.push_str(&format!("; the route back to {src}: {}", route_text(src, &r, ns, facts)));
                }
            }
            Some(text)
        }
        "neighbour" => {
            let dst = dst?;
            // The next hop: the route's gateway, else the destination itself.
            let (hop, oif) = match facts.get(ns, Query::Route { dst, input: None }) {
                Ok(Answer::Route(Route::Found { gateway, oif, .. })) => (gateway.unwrap_or(dst), oif.unwrap_or(d.ifindex)),
                _ => (dst, d.ifindex),
            };
            let dev = device_name(oif, ns, facts).unwrap_or_else(|| format!("device {oif}"));
            match facts.get(ns, Query::Neighbour { addr: hop, ifindex: oif }) {
                Ok(Answer::Neighbour(Some(n))) => {
                    let when = n.updated_secs.map(|s| format!(", changed {s}s before the lookup")).unwrap_or_default();
                    Some(format!("neighbour {hop} on {dev} is {}{when}", n.state))
                }
                Ok(_) => Some(format!("no neighbour entry for {hop} on {dev} now")),
                Err(e) => unknown(&format!("neighbour {hop}"), e),
            }
        }
        "mtu" => {
            // The route's output device: a forwarded packet is checked
            // against it while skb->dev is still the input device.
            let oif = match dst.map(|dst| facts.get(ns, Query::Route { dst, input: None })) {
                Some(Ok(Answer::Route(Route::Found { oif: Some(o), .. }))) => o,
                _ => d.ifindex,
            };
            match facts.get(ns, Query::Link(oif)) {
                Ok(Answer::Link(l)) => {
                    let mtu = l.mtu.map(|m| m.to_string()).unwrap_or_else(|| "unknown".into());
                    Some(format!("packet of {} bytes, MTU of {} is {mtu}", d.len, l.name))
                }
                Ok(_) => None,
                Err(e) => unknown("the device's MTU", e),
            }
        }
        "qdisc" => {
            let dev = device_name(d.ifindex, ns, facts)?;
            match facts.get(ns, Query::RootQdisc(d.ifindex)) {
                Ok(Answer::RootQdisc(Some(q))) => {
                    Some(format!("qdisc {} on {dev} ({} dropped, {} over limit, {} queued at the lookup)", q.kind, q.drops, q.overlimits, q.qlen))
                }
                Ok(_) => Some(format!("{dev} has no root qdisc now")),
                Err(e) => unknown("the qdisc", e),
            }
        }
        "socket" | "listener" => {
            let (local, port) = (dst?, d.flow.dport);
            let proto = d.flow.proto;
            let name = if proto == 6 { "tcp" } else { "udp" };
            let remote = src.map(|s| (s, d.flow.sport));
            match facts.get(ns, Query::Socket { proto, local, port, remote }) {
                Ok(Answer::Socket(Some((s, owners)))) => Some(socket_text(name, local, port, &s, &owners, kind == "listener")),
                Ok(_) if kind == "listener" => Some(format!("no {name} socket bound to port {port} in this namespace at the lookup either")),
                Ok(_) => Some(format!("no {name} socket for {local}:{port} at the lookup (it may have closed)")),
                Err(e) => unknown("the socket", e),
            }
        }
        "rule" => {
            let hook = d.hook?;
            // The rule names its table, chain and position.
            let mut text = d.rule.clone().unwrap_or_else(|| format!("{hook} hook, rule unknown"));
            match d.ct_state {
                "INVALID" | "NO_ENTRY" => text.push_str(
                    "; the flow's conntrack state is INVALID (no entry): a chain that accepts only ESTABLISHED,RELATED drops it, likely after its entry was deleted or timed out",
                ),
                "NO_CONNTRACK" => text.push_str("; conntrack is not in use in this namespace"),
                _ => {}
            }
            Some(text)
        }
        _ => None,
    }
}

fn device_name(ifindex: u32, ns: u64, facts: &mut Facts) -> Option<String> {
    if ifindex == 0 {
        return None;
    }
    match facts.get(ns, Query::Link(ifindex)) {
        Ok(Answer::Link(l)) => Some(l.name),
        _ => Some(format!("device {ifindex}")),
    }
}

fn route_text(dst: IpAddr, r: &Route, ns: u64, facts: &mut Facts) -> String {
    match r {
        Route::Found { kind, table, gateway, oif } => {
            let via = gateway.map(|g| format!(" via {g}")).unwrap_or_default();
            let dev = oif.and_then(|o| device_name(o, ns, facts)).map(|n| format!(" dev {n}")).unwrap_or_default();
            format!("route to {dst}: {kind}{via}{dev} in table {}", table_name(*table))
        }
        Route::Refused { kind: "none", .. } => format!("no route to {dst} (network unreachable)"),
        Route::Refused { kind, entry: Some((prefix, table)) } => {
            format!("route to {dst}: type {kind} ({prefix} in table {})", table_name(*table))
        }
        Route::Refused { kind, entry: None } => format!("route to {dst}: type {kind}"),
    }
}

fn socket_text(proto: &str, local: IpAddr, port: u16, s: &crate::facts::Socket, owners: &[(u32, String)], listener: bool) -> String {
    let held = match owners {
        [] => "held by no process found".to_string(),
        list => format!("held by {}", list.iter().map(|(pid, comm)| format!("pid {pid} ({comm})")).collect::<Vec<_>>().join(", ")),
    };
    let addr = if local.is_ipv6() { format!("[{local}]:{port}") } else { format!("{local}:{port}") };
    if listener {
        return format!("a {proto} socket on port {port} exists at the lookup ({held}): likely opened after the drop");
    }
    let buffers = match (s.rcvbuf, s.rmem) {
        (Some(size), Some(used)) => format!(", receive buffer {size} bytes with {used} queued"),
        _ => String::new(),
    };
    let drops = s.drops.map(|n| format!(", {n} dropped so far")).unwrap_or_default();
    let rmem_max = std::fs::read_to_string("/proc/sys/net/core/rmem_max").map(|v| format!("; net.core.rmem_max {}", v.trim())).unwrap_or_default();
    format!("socket {proto} {addr} (uid {}) {held}{buffers}{drops}{rmem_max}", s.uid)
}
