//! Explanations of drop reasons, read from `data/drop-reasons.toml`: the
//! table is data, so a reason is explained by adding an entry, not code.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// What a drop reason means and what to check next.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    pub meaning: String,
    pub check: String,
    /// Facts the runtime looks up for a drop of this reason: `route`,
    /// `rp_filter`, `neighbour`, `mtu`, `qdisc`, `socket`, `listener`, `rule`.
    #[serde(default)]
    pub facts: Vec<String>,
    /// Kernel series (`6.1`) ntr is tested on whose enum lacks the reason.
    #[serde(default)]
    pub absent_in: Vec<String>,
}

impl Explanation {
    /// Whether the table says kernel `release` (as `uname -r` prints it,
    /// `6.1.0-56-cloud-amd64`) lacks this reason.
    pub fn absent_in(&self, release: &str) -> bool {
        self.absent_in.iter().any(|series| release.strip_prefix(series.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-'])))
    }
}

/// The facts an entry can ask for (the runtime's `cause` looks each up).
pub const FACT_KINDS: &[&str] = &["route", "rp_filter", "neighbour", "mtu", "qdisc", "socket", "listener", "rule"];

const TABLE: &str = include_str!("../data/drop-reasons.toml");
const SITES: &str = include_str!("../data/drop-sites.toml");

fn table() -> &'static BTreeMap<String, Explanation> {
    static PARSED: OnceLock<BTreeMap<String, Explanation>> = OnceLock::new();
    // The tables are part of the binary and a unit test parses them.
    PARSED.get_or_init(|| toml::from_str(TABLE).expect("stdlib/data/drop-reasons.toml parses"))
}

fn sites() -> &'static BTreeMap<String, Explanation> {
    static PARSED: OnceLock<BTreeMap<String, Explanation>> = OnceLock::new();
    PARSED.get_or_init(|| toml::from_str(SITES).expect("stdlib/data/drop-sites.toml parses"))
}

/// The explanation of a drop without a reason by the function that freed
/// the packet (`ip_error`).
pub fn explain_site(function: &str) -> Option<&'static Explanation> {
    sites().get(function)
}

/// The explanation of a reason named as ntr prints it (`NO_SOCKET`), or
/// with the kernel's `SKB_DROP_REASON_` prefix.
pub fn explain(reason: &str) -> Option<&'static Explanation> {
    table().get(reason.strip_prefix("SKB_DROP_REASON_").unwrap_or(reason))
}

/// Every reason the table explains, in name order.
pub fn explained() -> impl Iterator<Item = (&'static str, &'static Explanation)> {
    table().iter().map(|(k, v)| (k.as_str(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_every_entry_says_something() {
        assert!(explained().count() >= 40);
        assert!(explain_site("ip_error").is_some());
        for (name, e) in explained().chain(sites().iter().map(|(k, v)| (k.as_str(), v))) {
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{name}");
            assert!(!e.meaning.trim().is_empty() && !e.check.trim().is_empty(), "{name}");
            for f in &e.facts {
                assert!(FACT_KINDS.contains(&f.as_str()), "{name}: unknown fact kind {f}");
            }
            assert!(!e.meaning.contains('\n') && !e.check.contains('\n'), "{name}: one line each");
        }
        assert_eq!(explain("SKB_DROP_REASON_NO_SOCKET").unwrap().meaning, explain("NO_SOCKET").unwrap().meaning);
    }

    #[test]
    fn absent_in_matches_a_kernel_series_not_a_prefix_of_its_number() {
        let e = explain("SOCKET_CLOSE").unwrap();
        assert!(e.absent_in("6.1.0-56-cloud-amd64") && e.absent_in("6.1") && e.absent_in("6.1.192"));
        assert!(!e.absent_in("6.12.3") && !e.absent_in("6.18.44-fc-v657"));
        assert!(!explain("NO_SOCKET").unwrap().absent_in("6.1.0"));
    }
}
