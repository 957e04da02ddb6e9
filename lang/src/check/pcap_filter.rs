//! `filter(skb, "tcp port 9418 and host 10.0.2.2")`: a tcpdump expression,
//! compiled by libpcap to classic BPF at check time (so its errors are
//! diagnostics) for link type RAW: the program reads the packet from its IP
//! header, which every probe's skb has set, where the MAC header may not be.
//! The compiler translates the instructions to eBPF (`lower/cbpf.rs`).

use crate::ast::{self, Arg, ExprKind as A, Ident};
use crate::diag::Diagnostic;
use crate::source::Span;
use crate::tir::{CbpfInsn, Expr, ExprKind as T, PacketLayout};
use crate::types::Type;

use super::calls::{arity, positional};
use super::expr::{check_expr, type_name, Result};
use super::scope::ProbeCx;
use super::Checker;

/// Packets that start at the IPv4 or IPv6 header. `pcap_open_dead` takes
/// the DLT value, 12 on Linux (LINKTYPE_RAW, 101, is the savefile's number,
/// which libpcap refuses there).
const DLT_RAW: std::ffi::c_int = 12;

const USAGE: &str = "filter(skb, \"tcp port 80\")";

/// Words of link-layer primitives, which a program starting at the IP
/// header cannot test.
const LINK_WORDS: &[&str] = &["ether", "vlan", "mpls", "pppoed", "pppoes", "llc", "wlan", "arp", "rarp", "decnet", "atalk", "ipx", "stp"];

pub(crate) fn check_filter(cx: &mut Checker, p: &mut ProbeCx, name: &Ident, args: &[Arg], span: Span) -> Result<Expr> {
    let a = positional(name, args)?;
    arity(name, a.len(), 1, 2, span, USAGE)?;
    let skb = match a.as_slice() {
        [skb, _] => check_expr(cx, p, skb, None)?,
        _ if p.arg("skb").is_some() || p.lookup("skb").is_some() => {
            check_expr(cx, p, &ast::Expr { kind: A::Ident("skb".into()), span, nesting: 1 }, None)?
        }
        _ => {
            return Err(Diagnostic::error("`filter` needs a packet", span, "this probe has no `skb` argument")
                .with_help(format!("pass one first: `{USAGE}`, or use a probe with an skb, e.g. `on kfree_skb`")))
        }
    };
    if !matches!(&skb.ty, Type::Ptr { target, .. } if matches!(&**target, crate::kernel::KType::Struct { name, .. } if name == "sk_buff")) {
        return Err(Diagnostic::error(format!("`filter` needs a `struct sk_buff *`, not a {}", type_name(&skb.ty)), skb.span, "not a packet")
            .with_help(format!("pass the probe's packet: `{USAGE}`")));
    }
    let text_arg = a[a.len() - 1];
    let Some((text, inside)) = filter_text(cx, p, text_arg)? else {
        // A parameter left at its default matches everything.
        return Ok(Expr { kind: T::Const(1), ty: Type::Bool, span });
    };
    let prog = compile(&text).map_err(|msg| error(&text, &msg, text_arg.span, inside))?;
    let layout = packet_layout(cx)
        .ok_or_else(|| Diagnostic::error("this kernel's BTF lacks the sk_buff header offsets", span, "`filter` cannot be computed"))?;
    Ok(Expr { kind: T::PacketFilter { skb: Box::new(skb), layout, prog }, ty: Type::Bool, span })
}

/// The expression, and whether it is the string literal at the argument's
/// span (so that a byte of it can be pointed at); `None` for a parameter
/// left at its default.
fn filter_text(cx: &Checker, p: &ProbeCx, e: &ast::Expr) -> Result<Option<(String, bool)>> {
    let param = match &e.kind {
        A::Field { base, field } if matches!(&base.kind, A::Ident(b) if b == "params") => Some(field.name.as_str()),
        A::Ident(n) if p.lookup(n).is_none() && p.arg(n).is_none() && cx.params.contains_key(n) => Some(n.as_str()),
        _ => None,
    };
    match (&e.kind, param) {
        (_, Some(name)) => match cx.params.get(name) {
            Some(v) if !matches!(v.ty, Type::Str { .. }) => {
                Err(Diagnostic::error(format!("parameter `{name}` is a {}, not a filter expression", type_name(&v.ty)), e.span, "not a string"))
            }
            Some(v) if v.is_default && v.display.trim().is_empty() => Ok(None),
            Some(v) => Ok(Some((v.display.clone(), false))),
            None => Err(Diagnostic::error(format!("unknown parameter `{name}`"), e.span, "no such param")),
        },
        (A::Str(s), None) => Ok(Some((s.clone(), true))),
        _ => Err(Diagnostic::error("a filter expression must be a string literal or a parameter", e.span, "not a constant")
            .with_help("it is compiled before the probe loads: `filter(skb, \"udp port 53\")` or `filter(skb, params.filter)`")),
    }
}

/// libpcap's classic BPF for `text`, or its error message.
pub(crate) fn compile(text: &str) -> std::result::Result<Vec<CbpfInsn>, String> {
    super::libpcap::compile(text, DLT_RAW)
}

/// libpcap's message without the crate's and libpcap's prefixes.
pub(crate) fn message(msg: &str) -> &str {
    msg.trim_start_matches("libpcap error: ").trim_start_matches("can't parse filter expression: ")
}

/// libpcap's message as a diagnostic: on the word it names when the string
/// literal holds it once, else on the whole string.
fn error(text: &str, msg: &str, span: Span, literal: bool) -> Diagnostic {
    if super::libpcap::missing(msg) {
        return Diagnostic::error("tcpdump filters need libpcap", span, "cannot compile this expression here").with_note(msg.to_string());
    }
    let msg = message(msg);
    let link = link_word(text, msg);
    let quoted = msg.split('\'').nth(1).filter(|q| !q.is_empty());
    let number = msg.split(|c: char| !c.is_ascii_digit()).find(|n| !n.is_empty());
    let at = link.or_else(|| quoted.or(number).and_then(|w| word_at(text, w).map(|at| (at, w.len()))));
    let span = match at {
        // +1: the opening quote (a literal with escapes before the word
        // would shift it; ntr's filters rarely have any).
        Some((at, len)) if literal && !text[..at].contains('\\') => {
            Span { start: span.start + 1 + at as u32, end: span.start + 1 + (at + len) as u32, ..span }
        }
        _ => span,
    };
    Diagnostic::error(format!("invalid filter expression: {msg}"), span, "libpcap refuses this").with_help(hint(text, msg))
}

/// What to do about libpcap's refusal of `text`.
pub(crate) fn hint(text: &str, msg: &str) -> &'static str {
    match link_word(text, message(msg)) {
        Some(_) => "filters read the packet from its IP header (libpcap link type RAW): link-layer fields (ether, vlan, arp…) cannot be tested",
        None => "the expression is tcpdump's (man pcap-filter), e.g. \"tcp port 9418 and host 10.0.2.2\", \"ip6 and udp dst port 53\"",
    }
}

/// The link-layer word of `text` (offset, length) when libpcap's message
/// is about the link layer.
fn link_word(text: &str, msg: &str) -> Option<(usize, usize)> {
    let about_link = ["ethernet", "VLAN", "MPLS", "PPPoE", "link", "802.11", "not supported", "ARP"].iter().any(|w| msg.contains(w));
    about_link.then(|| LINK_WORDS.iter().find_map(|w| word_at(text, w).map(|at| (at, w.len()))))?
}

/// Where `word` starts in `text` as a whole word, when it occurs once.
fn word_at(text: &str, word: &str) -> Option<usize> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut hits = text.match_indices(word).filter(|(i, _)| {
        let before = text[..*i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    });
    let first = hits.next()?.0;
    hits.next().is_none().then_some(first)
}

fn packet_layout(cx: &Checker) -> Option<PacketLayout> {
    let at = |f: &str| super::net::offset_of(cx, "sk_buff", &[f]);
    Some(PacketLayout { head: at("head")?, data: at("data")?, tail: at("tail")?, len: at("len")?, network_header: at("network_header")? })
}
