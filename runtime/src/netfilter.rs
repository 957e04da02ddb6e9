//! Which netfilter rules matched: the iptables rulesets (legacy or nft
//! backend) and the native nft tables of a network namespace with their
//! per-rule packet counters, read without changing anything, and the rules
//! whose counters rose between two readings.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
    /// A native nft table, by its family (`inet`, `ip`, `ip6`, `bridge`, …).
    Nft(&'static str),
}

/// One rule, or a chain's policy (`index` 0, `spec` `policy DROP`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub table: String,
    pub chain: String,
    /// The netfilter hook the chain is attached to (`FORWARD`); for an
    /// iptables chain its name.
    pub hook: String,
    /// 1-based position in the chain, as `iptables -L --line-numbers` shows;
    /// for nft the rule's handle.
    pub index: usize,
    /// The rule as iptables-save writes it, without `-A CHAIN`; for nft as
    /// `nft list ruleset` does, counter values left out.
    pub spec: String,
    /// Packets counted; `None`: an nft rule without a counter.
    pub packets: Option<u64>,
}

impl Rule {
    fn key(&self) -> (Family, &str, &str, usize, &str) {
        (self.family, &self.table, &self.chain, self.index, &self.spec)
    }

    /// Whether the rule's verdict drops the packet.
    pub fn drops(&self) -> bool {
        match self.family {
            Family::Nft(_) => self.spec.split_whitespace().any(|w| w == "drop" || w == "reject"),
            _ => self.spec.contains("-j DROP") || self.spec.contains("-j REJECT") || self.spec == "policy DROP",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if let Family::Nft(family) = self.family {
            return write!(f, "nft {family} {} {} handle {}: {}", self.table, self.chain, self.index, self.spec);
        }
        let fam = if self.family == Family::Ipv6 { "ip6 " } else { "" };
        if self.index == 0 {
            write!(f, "{fam}{} {}: {}", self.table, self.chain, self.spec)
        } else {
            write!(f, "{fam}{} {} rule {}: {}", self.table, self.chain, self.index, self.spec)
        }
    }
}

/// Parse `iptables-save -c` output.
pub fn parse_save(text: &str, family: Family) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut table = String::new();
    let mut positions: std::collections::HashMap<String, usize> = Default::default();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
            positions.clear();
        } else if let Some(policy) = line.strip_prefix(':') {
            // `:FORWARD DROP [3:180]`: built-in chains carry a policy and its counter.
            let mut parts = policy.split_whitespace();
            let (Some(chain), Some(verdict)) = (parts.next(), parts.next()) else { continue };
            if verdict == "-" {
                continue;
            }
            let packets = Some(parts.next().and_then(counter).unwrap_or(0));
            rules.push(Rule {
                family,
                table: table.clone(),
                chain: chain.into(),
                hook: chain.into(),
                index: 0,
                spec: format!("policy {verdict}"),
                packets,
            });
        } else if line.starts_with('[') {
            let Some((count, rest)) = line.split_once(' ') else { continue };
            let Some(rest) = rest.strip_prefix("-A ") else { continue };
            let Some((chain, spec)) = rest.split_once(' ') else { continue };
            let index = positions.entry(chain.to_string()).or_insert(0);
            *index += 1;
            rules.push(Rule {
                family,
                table: table.clone(),
                chain: chain.into(),
                hook: chain.into(),
                index: *index,
                spec: spec.trim().to_string(),
                packets: Some(counter(count).unwrap_or(0)),
            });
        }
    }
    rules
}

/// `[packets:bytes]` → packets.
fn counter(text: &str) -> Option<u64> {
    text.trim_start_matches('[').split(':').next()?.parse().ok()
}

/// Read the IPv4 and IPv6 iptables rulesets and the native nft tables of
/// the namespace at `netns` (a `/proc/PID/ns/net` or `/run/netns/NAME`
/// path; `None` = ntr's own). A missing tool or family is skipped; nothing
/// is changed.
pub fn snapshot(netns: Option<&Path>) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    let mut ran = false;
    for (tool, family) in [("iptables-save", Family::Ipv4), ("ip6tables-save", Family::Ipv6)] {
        if let Some(text) = run_in(netns, tool, &["-c"])? {
            ran = true;
            rules.extend(parse_save(&text, family));
        }
    }
    // iptables-nft keeps its rules in nft tables too: those are read above.
    let iptables: Vec<(Family, String)> = rules.iter().map(|r| (r.family, r.table.clone())).collect();
    if let Some(text) = run_in(netns, "nft", &["-a", "list", "ruleset"])? {
        ran = true;
        rules.extend(parse_nft(&text).into_iter().filter(|r| !iptables.iter().any(|(f, t)| nft_twin(*f, r.family) && *t == r.table)));
    }
    if ran {
        Ok(rules)
    } else {
        Err(format!("cannot read the firewall rules: neither iptables-save nor nft is in {} or they failed", SYSTEM_DIRS.join(", ")))
    }
}

/// An nft table of this family holds iptables rules of `iptables`' family.
fn nft_twin(iptables: Family, nft: Family) -> bool {
    matches!((iptables, nft), (Family::Ipv4, Family::Nft("ip")) | (Family::Ipv6, Family::Nft("ip6")))
}

/// Run a system tool inside the namespace at `netns`: its output, or `None`
/// when it is missing or fails.
fn run_in(netns: Option<&Path>, tool: &str, args: &[&str]) -> Result<Option<String>, String> {
    let Some(tool) = system_tool(tool) else { return Ok(None) };
    let mut cmd = Command::new(tool);
    cmd.args(args);
    if let Some(path) = netns {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        unsafe {
            // Only async-signal-safe calls between fork and exec.
            cmd.pre_exec(move || {
                use std::os::fd::AsRawFd;
                if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    Ok(match cmd.output() {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => None,
    })
}

/// Parse `nft -a list ruleset`: the rules of base chains and the chains
/// they are in, with handles and counters (`counter packets N bytes M`).
pub fn parse_nft(text: &str) -> Vec<Rule> {
    const FAMILIES: [&str; 6] = ["inet", "ip", "ip6", "bridge", "arp", "netdev"];
    const OBJECTS: [&str; 10] = ["set", "map", "flowtable", "counter", "quota", "limit", "secmark", "synproxy", "ct", "tunnel"];
    let mut rules = Vec::new();
    let (mut table, mut family, mut chain, mut hook) = (String::new(), None, None::<String>, String::new());
    // Blocks inside a table that are not chains (sets, maps, flowtables).
    let mut other_depth = 0usize;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if other_depth > 0 {
            other_depth += line.matches('{').count();
            other_depth -= line.matches('}').count().min(other_depth);
            continue;
        }
        match words.as_slice() {
            ["table", fam, name, "{", ..] => {
                family = FAMILIES.iter().find(|f| *f == fam).copied();
                table = name.to_string();
            }
            ["chain", name, "{", ..] => {
                chain = Some(name.to_string());
                hook.clear();
            }
            ["type", _, "hook", h, ..] if chain.is_some() => hook = h.to_uppercase(),
            ["}"] if chain.is_some() => chain = None,
            ["}"] => family = None,
            // Named objects: `set NAME {`, `ct helper NAME {`, …
            [kw, _, "{", ..] | [kw, _, _, "{", ..] if OBJECTS.contains(kw) => other_depth = 1,
            _ => {
                let (Some(fam), Some(ch)) = (family, &chain) else { continue };
                let Some((body, handle)) = line.rsplit_once(" # handle ") else { continue };
                let Ok(handle) = handle.trim().parse::<usize>() else { continue };
                let (spec, packets) = without_counter_values(body);
                rules.push(Rule {
                    family: Family::Nft(fam),
                    table: table.clone(),
                    chain: ch.clone(),
                    hook: hook.clone(),
                    index: handle,
                    spec,
                    packets,
                });
            }
        }
    }
    rules
}

/// `udp dport 53 counter packets 3 bytes 180 drop` → (`udp dport 53 counter
/// drop`, Some(3)); no counter: (the rule, None).
fn without_counter_values(rule: &str) -> (String, Option<u64>) {
    let words: Vec<&str> = rule.split_whitespace().collect();
    match words.iter().position(|w| *w == "counter") {
        Some(i) if words.get(i + 1) == Some(&"packets") && words.get(i + 3) == Some(&"bytes") => {
            let packets = words.get(i + 2).and_then(|n| n.parse().ok());
            let spec = words[..=i].iter().chain(words.iter().skip(i + 5)).copied().collect::<Vec<_>>().join(" ");
            (spec, packets)
        }
        _ => (rule.to_string(), None),
    }
}

/// Where ntr runs system tools from: fixed directories, never $PATH (ntr
/// runs as root).
const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

fn system_tool(name: &str) -> Option<std::path::PathBuf> {
    SYSTEM_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Rules whose packet counters rose from `before` to `after`, with the
/// increase, restricted to the chains of hook `chain` when given (e.g.
/// `FORWARD`).
pub fn risen<'a>(before: &[Rule], after: &'a [Rule], chain: Option<&str>) -> Vec<(&'a Rule, u64)> {
    after
        .iter()
        .filter(|r| chain.is_none_or(|c| r.hook == c))
        .filter_map(|r| {
            let now = r.packets?;
            let old = before.iter().find(|b| b.key() == r.key()).and_then(|b| b.packets).unwrap_or(0);
            (now > old).then(|| (r, now - old))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = "# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT ACCEPT [10:600]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [5:300]
[120:9000] -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
[2:120] -A FORWARD -s 10.0.1.0/24 -m conntrack --ctstate NEW -j ACCEPT
[7:4200] -A FORWARD -j REJECT --reject-with icmp-port-unreachable
COMMIT
";

    const NFT: &str = "table inet t { # handle 1
	set blocked { # handle 4
		type ipv4_addr
		elements = { 10.0.0.1, 10.0.0.2 }
	}

	chain input { # handle 1
		type filter hook input priority filter; policy accept;
		ip saddr { 10.1.0.1, 10.1.0.2 } counter packets 3 bytes 180 drop # handle 2
		udp dport 47402 drop # handle 3
	}

	chain helper { # handle 5
		tcp dport 22 accept # handle 6
	}
}
table ip filter { # handle 2
	chain FORWARD { # handle 1
		type filter hook forward priority filter; policy accept;
		counter packets 7 bytes 420 reject # handle 4
	}
}
";

    #[test]
    fn parses_nft_rules_with_their_hooks_handles_and_counters() {
        let rules = parse_nft(NFT);
        let shown: Vec<(String, Option<u64>, &str)> = rules.iter().map(|r| (r.to_string(), r.packets, r.hook.as_str())).collect();
        assert_eq!(
            shown,
            [
                ("nft inet t input handle 2: ip saddr { 10.1.0.1, 10.1.0.2 } counter drop".to_string(), Some(3), "INPUT"),
                ("nft inet t input handle 3: udp dport 47402 drop".to_string(), None, "INPUT"),
                ("nft inet t helper handle 6: tcp dport 22 accept".to_string(), None, ""),
                ("nft ip filter FORWARD handle 4: counter reject".to_string(), Some(7), "FORWARD"),
            ]
        );
        assert!(rules[0].drops() && rules[1].drops() && !rules[2].drops() && rules[3].drops());
    }

    #[test]
    fn parses_rules_with_positions_and_counters() {
        let rules = parse_save(SAVE, Family::Ipv4);
        let fwd: Vec<&Rule> = rules.iter().filter(|r| r.chain == "FORWARD" && r.index > 0).collect();
        assert_eq!(fwd.len(), 3);
        assert_eq!(fwd[2].index, 3);
        assert_eq!(fwd[2].spec, "-j REJECT --reject-with icmp-port-unreachable");
        assert_eq!(fwd[2].packets, Some(7));
        assert_eq!(fwd[2].to_string(), "filter FORWARD rule 3: -j REJECT --reject-with icmp-port-unreachable");
        let policy = rules.iter().find(|r| r.chain == "INPUT").unwrap();
        assert_eq!((policy.index, policy.spec.as_str(), policy.packets), (0, "policy ACCEPT", Some(10)));
    }

    #[test]
    fn finds_the_rules_whose_counters_rose() {
        let before = parse_save(SAVE, Family::Ipv4);
        let after = parse_save(&SAVE.replace("[7:4200]", "[14:8400]").replace("[120:9000]", "[121:9100]"), Family::Ipv4);
        let up = risen(&before, &after, Some("FORWARD"));
        assert_eq!(up.len(), 2);
        assert!(up.iter().any(|(r, d)| r.index == 3 && *d == 7));
        assert!(risen(&before, &after, Some("INPUT")).is_empty());
    }
}
