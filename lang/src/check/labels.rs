//! The metrics label of each map key (`ntr run --metrics`): the name a
//! script gives it (`@drops[site = sym(location)]`), else one derived from
//! the key expression, else `keyN` by position.

use crate::ast::{self, Arg, ExprKind as A};
use crate::diag::Diagnostic;
use crate::source::Span;

/// Functions that only change how their argument is shown: a key made with
/// one is named after the argument (`sym(location)` is `location`).
const SHOWN_AS: &[&str] = &["sym", "str", "ntop", "ntohs", "htons", "ntohl", "htonl", "bswap"];

/// The label a key expression names itself with: a name (`reason`,
/// `params.netns`'s `netns`), a field (`ct(skb).state`'s `state`), a call
/// (`ifname(skb)`'s `ifname`), through casts and `SHOWN_AS` to what they show.
pub(crate) fn derive(e: &ast::Expr) -> Option<String> {
    let name = match &e.kind {
        A::Ident(n) => n.clone(),
        A::Field { field, .. } => field.name.clone(),
        A::Call { name, args } if SHOWN_AS.contains(&name.name.as_str()) => match args.first() {
            Some(Arg::Positional(a)) => return derive(a),
            _ => return None,
        },
        A::Call { name, .. } => name.name.clone(),
        A::Cast { operand, .. } => return derive(operand),
        _ => return None,
    };
    // Prometheus keeps names starting with `__` for itself.
    (!name.starts_with("__")).then_some(name)
}

/// A name a script gives a label, refused where Prometheus keeps it.
pub(crate) fn check_given(name: &ast::Ident, histogram: bool) -> Result<(), Diagnostic> {
    if name.name.starts_with("__") {
        return Err(Diagnostic::error("label names starting with `__` are Prometheus's own", name.span, "reserved")
            .with_help("name the label without the leading underscores"));
    }
    if histogram && name.name == "le" {
        return Err(Diagnostic::error("`le` is the bucket label of a histogram's metrics", name.span, "reserved in a histogram")
            .with_help("give this key another name"));
    }
    Ok(())
}

/// The labels of a map: each key's given name, else its derived one, else
/// (or when that is taken, or is a histogram's `le`) `keyN`, N counted from 1.
pub(crate) fn finish(given: &[Option<(String, Span)>], derived: &[Option<String>], histogram: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, g) in given.iter().enumerate() {
        let taken = |n: &str, out: &[String]| out.iter().any(|o| o == n) || given.iter().flatten().any(|(o, _)| o == n) || (histogram && n == "le");
        let name = match (g, derived.get(i).cloned().flatten()) {
            (Some((n, _)), _) => n.clone(),
            (None, Some(d)) if !taken(&d, &out) => d,
            _ => {
                let mut n = format!("key{}", i + 1);
                while taken(&n, &out) {
                    n.push('_');
                }
                n
            }
        };
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_names_win_and_taken_ones_fall_back_to_position() {
        let at = |n: &str| Some((n.to_string(), Span::default()));
        let d = |n: &str| Some(n.to_string());
        assert_eq!(finish(&[at("site"), None], &[d("location"), d("reason")], false), ["site", "reason"]);
        assert_eq!(finish(&[None, None, None], &[d("a"), d("a"), None], false), ["a", "key2", "key3"]);
        assert_eq!(finish(&[None, at("key1")], &[None, None], false), ["key1_", "key1"]);
        assert_eq!(finish(&[None], &[d("le")], true), ["key1"]);
    }
}
