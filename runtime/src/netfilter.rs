//! Which netfilter rules matched: the iptables rulesets (legacy or nft
//! backend) of a network namespace with their per-rule packet counters,
//! read without changing anything, and the rules whose counters rose
//! between two readings.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// One rule, or a chain's policy (`index` 0, `spec` `policy DROP`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub table: String,
    pub chain: String,
    /// 1-based position in the chain, as `iptables -L --line-numbers` shows.
    pub index: usize,
    /// The rule as iptables-save writes it, without `-A CHAIN`.
    pub spec: String,
    pub packets: u64,
}

impl Rule {
    fn key(&self) -> (Family, &str, &str, usize, &str) {
        (self.family, &self.table, &self.chain, self.index, &self.spec)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
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
            let packets = parts.next().and_then(counter).unwrap_or(0);
            rules.push(Rule { family, table: table.clone(), chain: chain.into(), index: 0, spec: format!("policy {verdict}"), packets });
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
                index: *index,
                spec: spec.trim().to_string(),
                packets: counter(count).unwrap_or(0),
            });
        }
    }
    rules
}

/// `[packets:bytes]` → packets.
fn counter(text: &str) -> Option<u64> {
    text.trim_start_matches('[').split(':').next()?.parse().ok()
}

/// Read the IPv4 and IPv6 rulesets of the namespace at `netns` (a
/// `/proc/PID/ns/net` or `/run/netns/NAME` path; `None` = ntr's own).
/// A missing tool or family is skipped; nothing is changed.
pub fn snapshot(netns: Option<&Path>) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    let mut ran = false;
    for (tool, family) in [("iptables-save", Family::Ipv4), ("ip6tables-save", Family::Ipv6)] {
        let Some(tool) = system_tool(tool) else { continue };
        let mut cmd = Command::new(tool);
        cmd.arg("-c");
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
        match cmd.output() {
            Ok(out) if out.status.success() => {
                ran = true;
                rules.extend(parse_save(&String::from_utf8_lossy(&out.stdout), family));
            }
            Ok(_) | Err(_) => {}
        }
    }
    if ran {
        Ok(rules)
    } else {
        Err(format!("cannot read the firewall rules: iptables-save is not in {} or failed", SYSTEM_DIRS.join(", ")))
    }
}

/// Where ntr runs system tools from: fixed directories, never $PATH (ntr
/// runs as root).
const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

fn system_tool(name: &str) -> Option<std::path::PathBuf> {
    SYSTEM_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// Rules whose packet counters rose from `before` to `after`, with the
/// increase, restricted to `chain` when given (e.g. `FORWARD`).
pub fn risen<'a>(before: &[Rule], after: &'a [Rule], chain: Option<&str>) -> Vec<(&'a Rule, u64)> {
    after
        .iter()
        .filter(|r| chain.is_none_or(|c| r.chain == c))
        .filter_map(|r| {
            let old = before.iter().find(|b| b.key() == r.key()).map(|b| b.packets).unwrap_or(0);
            (r.packets > old).then(|| (r, r.packets - old))
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

    #[test]
    fn parses_rules_with_positions_and_counters() {
        let rules = parse_save(SAVE, Family::Ipv4);
        let fwd: Vec<&Rule> = rules.iter().filter(|r| r.chain == "FORWARD" && r.index > 0).collect();
        assert_eq!(fwd.len(), 3);
        assert_eq!(fwd[2].index, 3);
        assert_eq!(fwd[2].spec, "-j REJECT --reject-with icmp-port-unreachable");
        assert_eq!(fwd[2].packets, 7);
        assert_eq!(fwd[2].to_string(), "filter FORWARD rule 3: -j REJECT --reject-with icmp-port-unreachable");
        let policy = rules.iter().find(|r| r.chain == "INPUT").unwrap();
        assert_eq!((policy.index, policy.spec.as_str(), policy.packets), (0, "policy ACCEPT", 10));
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
