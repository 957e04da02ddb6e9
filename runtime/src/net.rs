//! Printing network values (flows, conntrack entries), naming the
//! netfilter hook a stack went through, and the rules that matched.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ntr_lang::net::*;
use ntr_lang::types::EnumDef;
use serde_json::{json, Value};

use crate::netfilter::{self, Rule};
use crate::netns;

fn u16_at(b: &[u8], off: u32) -> u16 {
    let o = off as usize;
    b.get(o..o + 2).map(|s| u16::from_ne_bytes([s[0], s[1]])).unwrap_or(0)
}

fn addr(b: &[u8], off: u32, family: u8) -> String {
    let o = off as usize;
    match family {
        AF_INET => b.get(o..o + 4).map(|s| Ipv4Addr::new(s[0], s[1], s[2], s[3]).to_string()).unwrap_or_default(),
        _ => b.get(o..o + 16).and_then(|s| <[u8; 16]>::try_from(s).ok()).map(|a| Ipv6Addr::from(a).to_string()).unwrap_or_default(),
    }
}

/// The parts of a flow as stored by `tuple(skb)`.
pub struct Flow {
    pub family: u8,
    pub proto: u8,
    pub src: String,
    pub dst: String,
    pub sport: u16,
    pub dport: u16,
    /// The packet an ICMP error answers.
    pub about: Option<Box<Flow>>,
}

impl Flow {
    pub fn parse(b: &[u8]) -> Flow {
        let family = b.first().copied().unwrap_or(0);
        let quoted = b.get(TUPLE_INNER as usize..).filter(|q| q.first().is_some_and(|f| *f != 0));
        Flow {
            about: quoted.map(|q| Box::new(Flow::parse(&q[..q.len().min(TUPLE_INNER as usize)]))),
            family,
            proto: b.get(TUPLE_PROTO as usize).copied().unwrap_or(0),
            src: addr(b, TUPLE_SADDR, family),
            dst: addr(b, TUPLE_DADDR, family),
            sport: u16_at(b, TUPLE_SPORT),
            dport: u16_at(b, TUPLE_DPORT),
        }
    }

    fn proto_name(&self) -> String {
        protocol_name(self.proto).map(String::from).unwrap_or_else(|| format!("proto-{}", self.proto))
    }

    /// `tcp 10.0.2.2:9418 -> 10.0.1.2:53098`, `udp [::1]:5353 -> [::1]:53`,
    /// `icmp 10.0.0.1 -> 10.0.0.2 type 3 code 3`; `<->` for both directions.
    pub fn text(&self) -> String {
        self.text_with("->")
    }

    pub fn text_both_ways(&self) -> String {
        self.text_with("<->")
    }

    fn text_with(&self, arrow: &str) -> String {
        if self.family != AF_INET && self.family != AF_INET6 {
            return self.not_ip_text();
        }
        let end = |a: &str, port: u16| if self.family == AF_INET6 { format!("[{a}]:{port}") } else { format!("{a}:{port}") };
        if is_icmp(self.proto) {
            let about = self.about.as_ref().map(|a| format!(" about {}", a.text())).unwrap_or_default();
            format!("{} {} {arrow} {} type {} code {}{about}", self.proto_name(), self.src, self.dst, self.sport, self.dport)
        } else if matches!(self.proto, 6 | 17 | 132 | 136) {
            format!("{} {} {arrow} {}", self.proto_name(), end(&self.src, self.sport), end(&self.dst, self.dport))
        } else {
            format!("{} {} {arrow} {}", self.proto_name(), self.src, self.dst)
        }
    }

    /// `ethertype 0x0806 (ARP)`; `non-IP` when the packet has none.
    fn not_ip_text(&self) -> String {
        match self.sport {
            0 => "non-IP".into(),
            t => match ETHERTYPES.iter().find(|(v, _)| *v == t) {
                Some((_, name)) => format!("ethertype {t:#06x} ({name})"),
                None => format!("ethertype {t:#06x}"),
            },
        }
    }

    pub fn json(&self) -> Value {
        if self.family != AF_INET && self.family != AF_INET6 {
            return match self.sport {
                0 => Value::Null,
                t => json!({"ethertype": t}),
            };
        }
        let mut v =
            json!({"family": if self.family == AF_INET { "ipv4" } else { "ipv6" }, "proto": self.proto_name(), "src": self.src, "dst": self.dst});
        if is_icmp(self.proto) {
            v["type"] = json!(self.sport);
            v["code"] = json!(self.dport);
            if let Some(a) = &self.about {
                v["about"] = a.json();
            }
        } else {
            v["sport"] = json!(self.sport);
            v["dport"] = json!(self.dport);
        }
        v
    }
}

fn enum_name<'a>(enums: &'a [EnumDef], name: &str, v: i64) -> Option<&'a str> {
    enums.iter().find(|e| e.name == name)?.values.iter().find(|(x, _)| *x == v).map(|(_, n)| n.as_str())
}

/// Names of the bits set in `bits`, by enum `def` (values are bit numbers).
pub fn flags(def: Option<&EnumDef>, bits: u64) -> Vec<String> {
    (0..64)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| def.and_then(|d| d.values.iter().find(|(v, _)| *v == i)).map(|(_, n)| n.clone()).unwrap_or_else(|| format!("bit{i}")))
        .collect()
}

/// A conntrack entry as stored by `ct(skb)`.
pub struct Conntrack {
    pub state: String,
    /// TCP state of the entry, for TCP flows.
    pub tcp: Option<String>,
    pub status: Vec<String>,
    pub mark: u32,
    pub zone: u16,
    /// Original direction; `None` without an entry.
    pub orig: Option<Flow>,
}

impl Conntrack {
    pub fn parse(b: &[u8], enums: &[EnumDef]) -> Conntrack {
        let state = b.first().copied().unwrap_or(0) as i64;
        let state_name = enum_name(enums, "ct_state", state).map(String::from).unwrap_or_else(|| state.to_string());
        let orig_bytes = b.get(CT_ORIG as usize..(CT_ORIG + TUPLE_SIZE) as usize).unwrap_or(&[]);
        let orig = Flow::parse(orig_bytes);
        if orig.family == 0 {
            return Conntrack { state: state_name, tcp: None, status: Vec::new(), mark: 0, zone: 0, orig: None };
        }
        let tcp_raw = b.get(CT_TCP as usize).copied().unwrap_or(0) as i64;
        let tcp = (orig.proto == 6).then(|| enum_name(enums, "tcp_conntrack", tcp_raw).map(String::from).unwrap_or_else(|| tcp_raw.to_string()));
        let status = crate::rawmap::u64_at(b, CT_STATUS as usize);
        let mark = b.get(CT_MARK as usize..CT_MARK as usize + 4).map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]])).unwrap_or(0);
        Conntrack {
            state: state_name,
            tcp,
            status: flags(enums.iter().find(|e| e.name == "ct_status"), status),
            mark,
            zone: u16_at(b, CT_ZONE),
            orig: Some(orig),
        }
    }

    /// `ESTABLISHED/ESTABLISHED [CONFIRMED|SEEN_REPLY|ASSURED] orig tcp …`,
    /// or just `INVALID` / `UNTRACKED` without an entry.
    pub fn text(&self) -> String {
        let Some(orig) = &self.orig else { return self.state.clone() };
        let mut s = self.state.clone();
        if let Some(t) = &self.tcp {
            s.push('/');
            s.push_str(t);
        }
        s.push_str(&format!(" [{}]", self.status.join("|")));
        if self.mark != 0 {
            s.push_str(&format!(" mark={:#x}", self.mark));
        }
        if self.zone != 0 {
            s.push_str(&format!(" zone={}", self.zone));
        }
        s + " orig " + &orig.text()
    }

    pub fn json(&self) -> Value {
        json!({
            "state": self.state,
            "tcp": self.tcp,
            "status": self.status,
            "mark": self.mark,
            "zone": self.zone,
            "orig": self.orig.as_ref().map(Flow::json),
        })
    }
}

/// Callers of `nf_hook_slow` and the hook each runs (IPv4, IPv6, bridge).
const HOOK_CALLERS: &[(&str, &str)] = &[
    ("ip_rcv", "PREROUTING"),
    ("ip_rcv_core", "PREROUTING"),
    ("ip_list_rcv", "PREROUTING"),
    ("ip_sublist_rcv", "PREROUTING"),
    ("ipv6_rcv", "PREROUTING"),
    ("ipv6_list_rcv", "PREROUTING"),
    ("ip6_sublist_rcv", "PREROUTING"),
    ("ip_local_deliver", "INPUT"),
    ("ip6_input", "INPUT"),
    ("ip_forward", "FORWARD"),
    ("ip6_forward", "FORWARD"),
    ("__ip_local_out", "OUTPUT"),
    ("ip_local_out", "OUTPUT"),
    ("__ip6_local_out", "OUTPUT"),
    ("ip6_local_out", "OUTPUT"),
    ("ip6_xmit", "OUTPUT"),
    ("raw_send_hdrinc", "OUTPUT"),
    ("rawv6_send_hdrinc", "OUTPUT"),
    ("ip_output", "POSTROUTING"),
    ("ip_mc_output", "POSTROUTING"),
    ("ip6_output", "POSTROUTING"),
    ("ip6_finish_output", "POSTROUTING"),
];

/// The netfilter hook a stack (innermost first, `function+0xoff` frames)
/// went through: the caller of `nf_hook_slow`.
pub fn hook_of(frames: &[String]) -> Option<&'static str> {
    let func = |f: &str| f.split(['+', ' ']).next().unwrap_or("").to_string();
    let at = frames.iter().position(|f| func(f).starts_with("nf_hook_slow"))?;
    frames[at + 1..].iter().find_map(|f| {
        let name = func(f);
        HOOK_CALLERS.iter().find(|(c, _)| *c == name).map(|(_, h)| *h)
    })
}

/// How long a ruleset reading is reused: reading runs iptables-save.
const REREAD_AFTER: Duration = Duration::from_millis(200);

/// Rulesets read at start, per namespace inode, to see which rules' counters
/// rose since.
pub struct RuleWatch {
    before: HashMap<u64, Vec<Rule>>,
    latest: HashMap<u64, (Instant, Vec<Rule>)>,
}

impl RuleWatch {
    /// Read the rules of every namespace with a name or a process.
    pub fn start() -> RuleWatch {
        let mut before = HashMap::new();
        for ns in netns::all() {
            if let Ok(rules) = netfilter::snapshot(Some(&ns.path)) {
                before.insert(ns.inode, rules);
            }
        }
        RuleWatch { before, latest: HashMap::new() }
    }

    /// The rules of `hook` in namespace `inode` whose counters rose since
    /// start, verdicts that drop first, as `filter FORWARD rule 3: -j REJECT … (+7 packets)`.
    pub fn describe(&mut self, inode: u64, hook: Option<&str>) -> String {
        let Some(before) = self.before.get(&inode) else {
            return format!("(rules of {} not read at start)", netns::display(inode));
        };
        let fresh = self.latest.get(&inode).is_some_and(|(t, _)| t.elapsed() < REREAD_AFTER);
        if !fresh {
            let Some(ns) = netns::lookup(inode) else { return "(namespace gone)".into() };
            match netfilter::snapshot(Some(&ns.path)) {
                Ok(rules) => {
                    self.latest.insert(inode, (Instant::now(), rules));
                }
                Err(e) => return format!("({e})"),
            }
        }
        let after = &self.latest[&inode].1;
        let risen = netfilter::risen(before, after, hook);
        let hook_name = hook.unwrap_or("any chain");
        let counted = |(r, n): &(&Rule, u64)| format!("{r} (+{n} packet{})", if *n == 1 { "" } else { "s" });
        let dropping: Vec<String> = risen.iter().filter(|(r, _)| r.drops()).map(counted).collect();
        // Rules without counters could have matched unseen.
        let uncounted: Vec<String> =
            after.iter().filter(|r| r.packets.is_none() && r.drops() && hook.is_none_or(|h| r.hook == h)).map(|r| r.to_string()).collect();
        match (dropping.as_slice(), uncounted.as_slice()) {
            ([one], []) => one.clone(),
            ([], []) => match risen.first() {
                Some(r) => counted(r),
                None => format!("no rule counter rose in {hook_name}"),
            },
            ([], list) => format!(
                "no counted rule rose in {hook_name}; dropping there without a counter: {} (add `counter` to see which matched)",
                list.join("; ")
            ),
            (counted, []) => format!("one of: {}", counted.join("; ")),
            (counted, list) => format!("one of: {}; or, without a counter: {}", counted.join("; "), list.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| format!("{n}+0x10")).collect()
    }

    #[test]
    fn the_caller_of_nf_hook_slow_names_the_hook() {
        let fwd = frames(&["kfree_skb_reason", "nf_hook_slow", "ip_forward", "ip_rcv", "__netif_receive_skb_one_core"]);
        assert_eq!(hook_of(&fwd), Some("FORWARD"));
        assert_eq!(hook_of(&frames(&["nf_hook_slow", "ip6_input", "ipv6_rcv"])), Some("INPUT"));
        assert_eq!(hook_of(&frames(&["udp_queue_rcv_skb", "ip_local_deliver"])), None);
    }

    #[test]
    fn flows_print_like_tcpdump() {
        let mut b = vec![0u8; TUPLE_SIZE as usize];
        b[0] = AF_INET;
        b[1] = 6;
        b[2..4].copy_from_slice(&9418u16.to_ne_bytes());
        b[4..6].copy_from_slice(&53098u16.to_ne_bytes());
        b[8..12].copy_from_slice(&[10, 0, 2, 2]);
        b[24..28].copy_from_slice(&[10, 0, 1, 2]);
        assert_eq!(Flow::parse(&b).text(), "tcp 10.0.2.2:9418 -> 10.0.1.2:53098");
        b.fill(0);
        assert_eq!(Flow::parse(&b).text(), "non-IP");
        b[2..4].copy_from_slice(&0x0806u16.to_ne_bytes());
        assert_eq!(Flow::parse(&b).text(), "ethertype 0x0806 (ARP)");
        b[2..4].copy_from_slice(&0x88b5u16.to_ne_bytes());
        assert_eq!(Flow::parse(&b).text(), "ethertype 0x88b5");
    }
}
