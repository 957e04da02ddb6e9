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
}

/// The facts an entry can ask for (the runtime's `cause` looks each up).
pub const FACT_KINDS: &[&str] = &["route", "rp_filter", "neighbour", "mtu", "qdisc", "socket", "listener", "rule"];

const TABLE: &str = include_str!("../data/drop-reasons.toml");

fn table() -> &'static BTreeMap<String, Explanation> {
    static PARSED: OnceLock<BTreeMap<String, Explanation>> = OnceLock::new();
    // The table is part of the binary and a unit test parses it.
    PARSED.get_or_init(|| toml::from_str(TABLE).expect("stdlib/data/drop-reasons.toml parses"))
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
        assert!(explained().count() >= 3);
        for (name, e) in explained() {
            assert!(name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'), "{name}");
            assert!(!e.meaning.trim().is_empty() && !e.check.trim().is_empty(), "{name}");
            for f in &e.facts {
                assert!(FACT_KINDS.contains(&f.as_str()), "{name}: unknown fact kind {f}");
            }
        }
        assert_eq!(explain("SKB_DROP_REASON_NO_SOCKET").unwrap().meaning, explain("NO_SOCKET").unwrap().meaning);
    }
}
