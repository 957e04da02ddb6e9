//! Syntax errors that are habits from bpftrace, SystemTap or C, each given
//! the ntr spelling. A parse error is looked at again with the text around
//! it; when it matches a habit, the diagnostic names the habit instead of
//! the token lalrpop did not expect.

use super::lexer::Tok;

/// A habit found at a parse error: what to say, the byte range to point at,
/// and how ntr spells it.
#[derive(Debug, PartialEq)]
pub struct Habit {
    pub message: String,
    pub start: usize,
    pub end: usize,
    pub help: String,
}

/// Probe kinds written before `:` in bpftrace (and in ntr after `on`).
const PROBE_KINDS: &[&str] = &[
    "tracepoint",
    "t",
    "rawtracepoint",
    "raw_tracepoint",
    "rt",
    "kprobe",
    "k",
    "kretprobe",
    "kr",
    "uprobe",
    "u",
    "uretprobe",
    "ur",
    "fentry",
    "f",
    "fexit",
    "fr",
    "kfunc",
    "kretfunc",
    "profile",
    "p",
    "interval",
    "i",
    "software",
    "s",
    "hardware",
    "h",
    "usdt",
    "U",
    "tp_btf",
    "iter",
    "watchpoint",
    "w",
];

/// C and bpftrace type names, with the ntr type a cast to them is.
const C_TYPES: &[(&str, &str)] = &[
    ("uint8", "u8"),
    ("uint16", "u16"),
    ("uint32", "u32"),
    ("uint64", "u64"),
    ("int8", "s8"),
    ("int16", "s16"),
    ("int32", "s32"),
    ("int64", "s64"),
    ("uint8_t", "u8"),
    ("uint16_t", "u16"),
    ("uint32_t", "u32"),
    ("uint64_t", "u64"),
    ("int8_t", "s8"),
    ("int16_t", "s16"),
    ("int32_t", "s32"),
    ("int64_t", "s64"),
    ("__u8", "u8"),
    ("__u16", "u16"),
    ("__u32", "u32"),
    ("__u64", "u64"),
    ("__s8", "s8"),
    ("__s16", "s16"),
    ("__s32", "s32"),
    ("__s64", "s64"),
    ("char", "s8"),
    ("short", "s16"),
    ("int", "s32"),
    ("long", "s64"),
    ("unsigned", "u32"),
    ("size_t", "u64"),
    ("pid_t", "s32"),
];

/// The habit behind an unexpected `tok` at `start..end` of `text`, if any.
pub fn at_token(text: &str, tok: &Tok, start: usize, end: usize) -> Option<Habit> {
    let before = text[..start].trim_end();
    match tok {
        Tok::Ident(name) if item_start(before) => probe_without_on(text, name, start),
        Tok::Ident(_) | Tok::Int(_) | Tok::Map(_) | Tok::LParen => c_cast(before),
        Tok::Gt if before.len() == start && before.ends_with('-') => Some(Habit {
            message: "ntr has no `->`".into(),
            start: start - 1,
            end,
            help: "fields are read with `.` through pointers too: `args.reason`, `skb.dev.name`".into(),
        }),
        Tok::Plus | Tok::Minus | Tok::Semi | Tok::RBrace => increment(text, before, start),
        Tok::Slash => predicate(text, start),
        _ => None,
    }
}

/// `$` begins a bpftrace variable (`$x`) or positional parameter (`$1`).
pub fn dollar(text: &str, start: usize) -> Habit {
    let name: String = text[start + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let end = start + 1 + name.len();
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) {
        return Habit {
            message: format!("ntr has no positional parameters (`${name}`)"),
            start,
            end,
            help: "declare one with `param NAME: TYPE = DEFAULT` and give it with `-p NAME=VALUE`; read it as `NAME` or `params.NAME`".into(),
        };
    }
    let shown = if name.is_empty() { "x".to_string() } else { name };
    Habit {
        message: "ntr's variables have no `$`".into(), start, end, help: format!("declare it with `let {shown} = …;` and then write `{shown}`")
    }
}

/// A number with an exponent (`1e6`), which the lexer reads as a bad unit.
pub fn exponent(slice: &str) -> Option<String> {
    let (mantissa, exp) = slice.split_once(['e', 'E'])?;
    let (m, e): (u64, u32) = (mantissa.replace('_', "").parse().ok()?, exp.parse().ok()?);
    let written = m.checked_mul(10u64.checked_pow(e)?).map(group_digits).unwrap_or_else(|| "the number in full".into());
    Some(format!("ntr has no exponent notation (`{slice}`): write {written}; `_` may group digits"))
}

fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// Whether `before` ends where a new item may start.
fn item_start(before: &str) -> bool {
    before.is_empty() || before.ends_with('}') || before.ends_with(';')
}

/// `tracepoint:skb:kfree_skb {`, `BEGIN {` or SystemTap's `probe …`, where
/// ntr wants `on …`.
fn probe_without_on(text: &str, name: &str, start: usize) -> Option<Habit> {
    let line_end = text[start..].find(['{', '\n']).map_or(text.len(), |i| start + i);
    let header = text[start..line_end].trim_end();
    let end = start + header.len();
    if name == "probe" {
        let rest = header["probe".len()..].trim();
        return Some(Habit { message: "SystemTap's `probe` is `on` in ntr".into(), start, end, help: systemtap_probe(rest) });
    }
    if name == "BEGIN" || name == "END" {
        let lower = name.to_ascii_lowercase();
        return Some(Habit {
            message: format!("`{name}` is written `{lower}` in ntr"),
            start,
            end: start + name.len(),
            help: format!("`{lower} {{ … }}` runs once, at {}", if lower == "begin" { "start" } else { "exit" }),
        });
    }
    let kind = header.split(':').next().unwrap_or("");
    if header.contains(':') && PROBE_KINDS.contains(&kind) {
        let (probe, predicate) = split_predicate(header);
        return Some(Habit {
            message: "a probe block starts with `on`".into(), start, end, help: format!("write `on {probe}{predicate} {{ … }}`")
        });
    }
    None
}

/// A bpftrace header `probe /pred/` split into the probe and ` if pred`.
fn split_predicate(header: &str) -> (&str, String) {
    match header.split_once('/') {
        Some((probe, rest)) => (probe.trim_end(), format!(" if {}", rest.trim_end().trim_end_matches('/').trim())),
        None => (header, String::new()),
    }
}

/// SystemTap probe points in ntr's spelling.
fn systemtap_probe(point: &str) -> String {
    let quoted = |prefix: &str| point.strip_prefix(prefix).and_then(|r| r.split('"').nth(1)).map(str::to_string);
    let ntr = if let Some(tp) = quoted("kernel.trace(") {
        format!("on {tp}")
    } else if let Some(f) = quoted("kernel.function(") {
        if point.ends_with(".return") {
            format!("on kretprobe:{f}")
        } else {
            format!("on kprobe:{f}")
        }
    } else if let Some(f) = quoted("module(").and_then(|_| point.split("function(").nth(1)?.split('"').nth(1).map(str::to_string)) {
        format!("on kprobe:{f}")
    } else if point.starts_with("begin") {
        "begin".into()
    } else if point.starts_with("end") {
        "end".into()
    } else if let Some(s) = point.strip_prefix("timer.s(").and_then(|r| r.split(')').next()) {
        format!("every {s}s")
    } else if let Some(ms) = point.strip_prefix("timer.ms(").and_then(|r| r.split(')').next()) {
        format!("every {ms}ms")
    } else {
        return "write `on PROBE { … }`: `kernel.trace(\"x\")` is `on x`, `kernel.function(\"f\")` is `on kprobe:f`, `timer.s(1)` is `every 1s`"
            .into();
    };
    format!("write `{ntr} {{ … }}`")
}

/// `(uint64)x`: a C type in a cast, which parses as `(name)` followed by
/// another operand.
fn c_cast(before: &str) -> Option<Habit> {
    let inner_end = before.strip_suffix(')')?.trim_end();
    let open = inner_end.rfind('(')?;
    let ty = inner_end[open + 1..].trim();
    let ty_start = open + 1 + (inner_end[open + 1..].len() - inner_end[open + 1..].trim_start().len());
    let ntr = C_TYPES.iter().find(|(c, _)| *c == ty).map(|(_, n)| *n)?;
    Some(Habit {
        message: format!("`{ty}` is not an ntr type"),
        start: ty_start,
        end: ty_start + ty.len(),
        help: format!("write `({ntr})…`; ntr's integer types are u8, u16, u32, u64, s8, s16, s32, s64"),
    })
}

/// `@x++`, `x--`: at the second `+`/`-`, or at what follows `--`.
fn increment(text: &str, before: &str, start: usize) -> Option<Habit> {
    let (op, at) = if before.ends_with("++") || before.ends_with("--") {
        (&before[before.len() - 2..], before.len() - 2)
    } else if before.len() == start && (before.ends_with('+') || before.ends_with('-')) && text[start..].starts_with(&before[before.len() - 1..]) {
        (&text[start - 1..start + 1], start - 1)
    } else {
        return None;
    };
    let target = before[..at].trim_end();
    let name_start = target.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@')).map_or(0, |i| i + 1);
    let name = &target[name_start..];
    let name = if name.is_empty() { "@x" } else { name };
    let assign = if op == "++" { "+=" } else { "-=" };
    Some(Habit {
        message: format!("ntr has no `{op}`"),
        start: at,
        end: at + 2,
        help: format!("write `{name} {assign} 1;` (or `{name} = count();` to count events)"),
    })
}

/// bpftrace's `/pred/` after a probe, at its first `/`.
fn predicate(text: &str, start: usize) -> Option<Habit> {
    let rest = &text[start + 1..];
    let close = rest.find(['/', '{', '\n'])?;
    if !rest[close..].starts_with('/') {
        return None;
    }
    let cond = rest[..close].trim();
    Some(Habit {
        message: "ntr writes a probe's condition with `if`".into(),
        start,
        end: start + 1 + close + 1,
        help: format!("write `if {cond} {{ … }}` after the probe"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn habit(text: &str, tok: Tok, at: &str) -> Option<Habit> {
        let start = text.find(at).unwrap();
        at_token(text, &tok, start, start + at.len())
    }

    #[test]
    fn probe_kinds_without_on_get_the_on_spelling() {
        let h = habit("tracepoint:skb:kfree_skb /pid == 1/ { }", Tok::Ident("tracepoint".into()), "tracepoint").unwrap();
        assert_eq!(h.help, "write `on tracepoint:skb:kfree_skb if pid == 1 { … }`");
        assert!(habit("foo:bar { }", Tok::Ident("foo".into()), "foo").is_none());
    }

    #[test]
    fn systemtap_probe_points_are_translated() {
        assert_eq!(systemtap_probe("kernel.trace(\"kfree_skb\")"), "write `on kfree_skb { … }`");
        assert_eq!(systemtap_probe("kernel.function(\"tcp_v4_rcv\").return"), "write `on kretprobe:tcp_v4_rcv { … }`");
        assert_eq!(systemtap_probe("module(\"nf_conntrack\").function(\"nf_conntrack_in\")"), "write `on kprobe:nf_conntrack_in { … }`");
        assert_eq!(systemtap_probe("timer.s(5)"), "write `every 5s { … }`");
    }

    #[test]
    fn increments_name_their_target() {
        let h = habit("on x { @hits++; }", Tok::Plus, "+;").unwrap();
        assert_eq!((h.message.as_str(), h.help.as_str()), ("ntr has no `++`", "write `@hits += 1;` (or `@hits = count();` to count events)"));
        let h = habit("on x { n--; }", Tok::Semi, ";").unwrap();
        assert_eq!(h.message, "ntr has no `--`");
    }

    #[test]
    fn c_casts_name_the_ntr_type() {
        let h = habit("on x { @[(uint64)pid] = count(); }", Tok::Ident("pid".into()), "pid").unwrap();
        assert_eq!(h.message, "`uint64` is not an ntr type");
        assert!(h.help.starts_with("write `(u64)…`"));
        assert!(habit("on x { @[(a)b] = count(); }", Tok::Ident("b".into()), "b").is_none());
    }

    #[test]
    fn exponents_are_written_out() {
        assert_eq!(exponent("1e6").unwrap(), "ntr has no exponent notation (`1e6`): write 1_000_000; `_` may group digits");
        assert!(exponent("5xs").is_none());
    }

    #[test]
    fn dollar_variables_and_positionals() {
        assert_eq!(dollar("$x = 1", 0).help, "declare it with `let x = …;` and then write `x`");
        assert!(dollar("$1", 0).message.contains("positional"));
    }
}
