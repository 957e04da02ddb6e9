//! `param NAME: TYPE = DEFAULT` declarations and their `-p NAME=VALUE`
//! values. Parameters are constants of the compiled program.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::ast::{ExprKind, ParamDecl, TypeNameKind, UnOp};
use crate::diag::Diagnostic;
use crate::source::Span;
use crate::types::Type;

use super::Checker;

#[derive(Clone, Debug)]
pub struct ParamValue {
    pub ty: Type,
    /// Integer-like value (ints, bools, durations, enums, IPv4 in memory order).
    pub int: u64,
    /// Memory value (strings, IPv6), NUL-padded to the type's size.
    pub bytes: Option<Vec<u8>>,
    /// As the user should see it.
    pub display: String,
    /// Left at its default: filters treat such a parameter as "match anything".
    pub is_default: bool,
    pub span: Span,
}

pub(crate) fn resolve(cx: &mut Checker, decls: &[&ParamDecl], given: &[(String, String)]) -> Result<HashMap<String, ParamValue>, Diagnostic> {
    let mut out = HashMap::new();
    for (name, _) in given {
        if !decls.iter().any(|d| &d.name.name == name) {
            let known: Vec<String> = decls.iter().map(|d| d.name.name.clone()).collect();
            let mut d = Diagnostic::global(format!("unknown parameter `{name}`"));
            if name == "filter" {
                // `-f EXPR` sets it.
                d = d
                    .with_note("`-f/--filter` sets the parameter `filter`, which this script does not declare")
                    .with_help("a script filters with `param filter: pcap = \"\"` and `if filter(skb, params.filter) { … }`");
            }
            d = if known.is_empty() {
                d.with_note("this script declares no parameters")
            } else {
                d.with_note(format!("its parameters are: {}", known.join(", ")))
            };
            return Err(d);
        }
    }
    for decl in decls {
        let name = &decl.name.name;
        if out.contains_key(name) {
            return Err(Diagnostic::error(format!("parameter `{name}` is declared twice"), decl.name.span, "again here"));
        }
        let ty = param_type(cx, decl)?;
        let value = match given.iter().rev().find(|(n, _)| n == name) {
            // `-p ifname=` would filter on nothing while looking set.
            Some((_, text)) if text.trim().is_empty() => Err("an empty value: leave the parameter out to match anything".to_string()),
            Some((_, text)) => parse_value(cx, &ty, text).map(|mut v| {
                v.is_default = false;
                v
            }),
            None => default_value(cx, &ty, decl),
        };
        // A tcpdump expression is refused here, once, rather than at each use.
        let value = value.and_then(|v| match is_pcap(decl) && !v.display.is_empty() {
            true => match super::pcap_filter::compile(&v.display) {
                Ok(_) => Ok(v),
                Err(e) if super::libpcap::missing(&e) => Err(e),
                Err(e) => Err(format!("libpcap: {}; {}", super::pcap_filter::message(&e), super::pcap_filter::hint(&v.display, &e))),
            },
            false => Ok(v),
        });
        let mut value = value.map_err(|why| match given.iter().rev().find(|(n, _)| n == name) {
            Some((_, text)) => Diagnostic::error(
                format!("invalid value `{text}` for parameter `{name}` of type {}", declared_type(decl)),
                decl.span,
                "declared here",
            )
            .with_note(why),
            None => Diagnostic::error(format!("invalid default for parameter `{name}`"), decl.default.span, why),
        })?;
        value.span = decl.span;
        if is_ifname(decl) && !value.is_default {
            if let Some(w) = missing_device(cx, &value) {
                cx.warnings.push(w);
            }
        }
        out.insert(name.clone(), value);
    }
    Ok(out)
}

fn param_type(cx: &mut Checker, decl: &ParamDecl) -> Result<Type, Diagnostic> {
    let span = decl.ty.span;
    match &decl.ty.kind {
        TypeNameKind::Named(n) => match n.as_str() {
            "bool" => Ok(Type::Bool),
            "str" => Ok(Type::Str { len: 64 }),
            "duration" => Ok(Type::Duration),
            "ip" => Ok(Type::Ip4),
            "addr" => Ok(Type::Addr),
            "netns" => Ok(Type::Netns),
            // IFNAMSIZ: 15 bytes and the NUL.
            "ifname" => Ok(Type::Str { len: 16 }),
            // A tcpdump expression for `filter(skb, params.NAME)`: longer
            // than a `str`, it is compiled, never copied to the stack.
            "pcap" => Ok(Type::Str { len: 256 }),
            other => int_type(other).ok_or_else(|| {
                Diagnostic::error(format!("unknown parameter type `{other}`"), span, "not a type")
                    .with_help("parameter types: int, u8…u64, s8…s64, bool, str, pcap, duration, ip, addr, netns, ifname, enum NAME")
            }),
        },
        TypeNameKind::Enum(e) => match cx.kernel.enum_by_name(e) {
            Some(crate::kernel::KType::Enum { id, .. }) => Ok(Type::Enum(super::ktypes::register_enum(cx, id))),
            _ => Err(Diagnostic::error(format!("unknown kernel enum `{e}`"), span, "not in this kernel's BTF")),
        },
        TypeNameKind::StructPtr(_) => Err(Diagnostic::error("a parameter cannot be a kernel pointer", span, "not a parameter type")),
        TypeNameKind::EnumSet(_) => {
            Err(Diagnostic::error("a parameter cannot be a set of enum values", span, "not a parameter type")
                .with_help("take one value: `enum NAME`"))
        }
    }
}

/// `u8 … u64`, `s8 … s64`, `int`.
pub(crate) fn int_type(name: &str) -> Option<Type> {
    let (signed, bits) = match name {
        "int" => return Some(Type::S64),
        _ if name.starts_with('u') => (false, &name[1..]),
        _ if name.starts_with('s') => (true, &name[1..]),
        _ => return None,
    };
    let size = match bits {
        "8" => 1,
        "16" => 2,
        "32" => 4,
        "64" => 8,
        _ => return None,
    };
    Some(Type::Int { size, signed })
}

fn value(ty: &Type, int: u64, bytes: Option<Vec<u8>>, display: String) -> ParamValue {
    ParamValue { ty: ty.clone(), int, bytes, display, is_default: true, span: Span::default() }
}

fn parse_value(cx: &Checker, ty: &Type, text: &str) -> Result<ParamValue, String> {
    let text = text.trim();
    match ty {
        Type::Int { size, signed } => {
            let parsed = parse_int(text).ok_or_else(|| "expected an integer (decimal, or hex with 0x)".to_string())?;
            check_range(parsed, *size, *signed)?;
            Ok(value(ty, parsed as u64, None, text.into()))
        }
        Type::Addr => {
            let parsed = parse_int(text).ok_or_else(|| "expected an address such as 0xffffffff81000000".to_string())?;
            Ok(value(ty, parsed as u64, None, text.into()))
        }
        Type::Bool => match text {
            "true" | "1" | "yes" => Ok(value(ty, 1, None, "true".into())),
            "false" | "0" | "no" => Ok(value(ty, 0, None, "false".into())),
            _ => Err("expected true or false".into()),
        },
        Type::Str { len } => {
            if text.len() >= *len as usize {
                return Err(format!("at most {} bytes", len - 1));
            }
            let mut b = text.as_bytes().to_vec();
            b.resize(*len as usize, 0);
            Ok(value(ty, 0, Some(b), text.into()))
        }
        Type::Duration => {
            let ns = parse_duration(text).map_err(|e| match e {
                DurationError::NoUnit => format!("`{text}` has no unit (a bare number would be nanoseconds): write `{text}s`, or ms, us, ns, m, h"),
                DurationError::Invalid => "expected a duration such as 10ms, 1s, 500us".to_string(),
            })?;
            Ok(value(ty, ns, None, text.into()))
        }
        Type::Ip4 => match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => Ok(value(ty, u32::from_ne_bytes(a.octets()) as u64, None, text.into())),
            _ => Err("expected an IPv4 address such as 10.0.2.2".into()),
        },
        Type::Enum(eid) => {
            if let Some(v) = cx.enum_value(*eid, text) {
                return Ok(value(ty, v as u64, None, text.into()));
            }
            let names = cx.enum_names(*eid);
            // `no_socket` for NO_SOCKET: names are matched without case.
            if let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(text)) {
                let v = cx.enum_value(*eid, name).unwrap_or_default();
                return Ok(value(ty, v as u64, None, name.clone()));
            }
            if let Some(n) = parse_int(text) {
                let def = &cx.enums[*eid];
                return match def.values.iter().find(|(v, _)| *v as i128 == n) {
                    Some((v, name)) => Ok(value(ty, *v as u64, None, name.clone())),
                    None => Err(format!(
                        "{n} is not a value of enum {}: give one of its names, e.g. `{}`",
                        def.name,
                        names.first().map(String::as_str).unwrap_or("?")
                    )),
                };
            }
            // Suggestions without case too: `no_sockt` is near NO_SOCKET.
            let upper: Vec<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
            let near: Vec<String> = super::expr::near_misses(&text.to_ascii_uppercase(), &upper)
                .iter()
                .filter_map(|u| upper.iter().position(|x| x == u).map(|i| names[i].clone()))
                .collect();
            let mut why = format!("not a value of enum {}", cx.enums[*eid].name);
            if !near.is_empty() {
                why.push_str(&format!("; did you mean {}?", super::probes::quote_list(&near)));
            }
            Err(why)
        }
        Type::Netns => netns_value(cx, ty, text),
        _ => Err("unsupported parameter type".into()),
    }
}

/// The parameter's type as the script spells it (`ifname`, `enum skb_drop_reason`).
fn declared_type(decl: &ParamDecl) -> String {
    match &decl.ty.kind {
        TypeNameKind::Named(n) => n.clone(),
        TypeNameKind::Enum(e) => format!("enum {e}"),
        TypeNameKind::EnumSet(e) => format!("enum {e}[]"),
        TypeNameKind::StructPtr(s) => format!("struct {s} *"),
    }
}

fn is_pcap(decl: &ParamDecl) -> bool {
    matches!(&decl.ty.kind, TypeNameKind::Named(n) if n == "pcap")
}

fn is_ifname(decl: &ParamDecl) -> bool {
    matches!(&decl.ty.kind, TypeNameKind::Named(n) if n == "ifname")
}

/// A network namespace by what ntr prints for it: `host`, an `ip netns`
/// name, `netns:INODE` (a namespace without a name), or a pid living in it.
/// Its value is the inode; an empty default is 0, for "not given".
fn netns_value(cx: &Checker, ty: &Type, text: &str) -> Result<ParamValue, String> {
    if text.is_empty() {
        return Ok(value(ty, 0, None, "any".into()));
    }
    if let Some(inode) = text.strip_prefix("netns:") {
        // Namespace inodes are 32-bit (`ns_common.inum`).
        let inode: u32 = inode.parse().map_err(|_| format!("`{inode}` is not a namespace inode (`ls -iL /run/netns`)"))?;
        return Ok(value(ty, inode as u64, None, text.into()));
    }
    let host = cx.host.ok_or_else(|| "namespaces cannot be looked up here".to_string())?;
    let named = host.named_netns();
    if let Some((name, inode)) = named.iter().find(|(n, _)| n == text) {
        return Ok(value(ty, *inode, None, name.clone()));
    }
    if let Ok(pid) = text.parse::<u32>() {
        return match host.netns_of_pid(pid) {
            Some(inode) => Ok(value(ty, inode, None, format!("pid {pid}"))),
            None => Err(format!("no process {pid} (a number is a pid, for the namespace it lives in; write netns:{pid} for a namespace inode)")),
        };
    }
    let names: Vec<String> = named.into_iter().map(|(n, _)| n).collect();
    let mut why = format!("no network namespace named `{text}`");
    let near = super::expr::near_misses(text, &names);
    if !near.is_empty() {
        why.push_str(&format!("; did you mean {}?", super::probes::quote_list(&near)));
    }
    why.push_str(&format!("\nnamespaces: {}; or give a pid, or netns:INODE", names.join(", ")));
    Err(why)
}

/// A device filter naming no device that exists now: a warning, since
/// devices come and go (a veth created after ntr starts still matches).
fn missing_device(cx: &Checker, v: &ParamValue) -> Option<Diagnostic> {
    let host = cx.host?;
    if host.device_exists(&v.display) {
        return None;
    }
    Some(
        Diagnostic::warning(format!("no device `{}` exists now, in any network namespace", v.display), v.span, "this filter matches no packet yet")
            .with_note("it matches once such a device appears; `ip -all netns exec ip link` lists the named namespaces' devices"),
    )
}

fn default_value(cx: &Checker, ty: &Type, decl: &ParamDecl) -> Result<ParamValue, String> {
    let e = &decl.default;
    let text = match &e.kind {
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Unary { op: UnOp::Neg, operand } => match operand.kind {
            ExprKind::Int(n) => format!("-{n}"),
            _ => return Err("a default must be a literal".into()),
        },
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => s.clone(),
        ExprKind::Duration(ns) => format!("{ns}ns"),
        ExprKind::Ip(ip) => ip.to_string(),
        ExprKind::Ident(name) => name.clone(),
        _ => return Err("a default must be a literal".into()),
    };
    parse_value(cx, ty, &text)
}

pub(crate) fn parse_int(text: &str) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let digits = digits.replace('_', "");
    let v = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    Some(if neg { -v } else { v })
}

fn check_range(v: i128, size: u8, signed: bool) -> Result<(), String> {
    let bits = size as u32 * 8;
    let (lo, hi) = if signed { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) };
    if v < lo || v > hi {
        Err(format!("out of range: {lo} to {hi}"))
    } else {
        Ok(())
    }
}

/// Why a text is not a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// A bare number: it would be nanoseconds, which nobody means.
    NoUnit,
    Invalid,
}

/// `10ms`, `1s`, `500us`, `100ns`, `2m`, `1h`: the unit is required.
pub fn parse_duration(text: &str) -> Result<u64, DurationError> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| DurationError::Invalid)?;
    let scale = match unit {
        "" => return Err(DurationError::NoUnit),
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(DurationError::Invalid),
    };
    n.checked_mul(scale).ok_or(DurationError::Invalid)
}
