//! Network builtins: `tuple(skb)`, `tuple(port=…, …)`, `ct(skb)`,
//! `ifname`, `ifindex`, `netns`, `nfhook`, `nfrule`, and the fields of
//! tuples and conntrack entries. Offsets come from BTF; the parsing itself
//! is emitted by the compiler.

use std::net::IpAddr;

use crate::ast::{self, Arg, ExprKind as A, Ident};
use crate::diag::Diagnostic;
use crate::kernel::KType;
use crate::net::{self as layout, AF_INET, AF_INET6};
use crate::source::Span;
use crate::tir::{CtLayout, Expr, ExprKind as T, Output, Side, SkbLayout, SockLayout, Stmt, StmtKind, TupleTest};
use crate::types::{EnumDef, Type};

use super::calls::{arity, positional};
use super::expr::{check_expr, type_name, Result};
use super::scope::ProbeCx;
use super::Checker;

fn mk(kind: T, ty: Type, span: Span) -> Expr {
    Expr { kind, ty, span }
}

pub(crate) fn check_net_call(cx: &mut Checker, p: &mut ProbeCx, name: &Ident, args: &[Arg], span: Span) -> Result<Expr> {
    let named = args.iter().any(|a| matches!(a, Arg::Named(..)));
    if name.name == "tuple" && (named || args.is_empty()) {
        return tuple_match(cx, p, args, span);
    }
    let positional = positional(name, args)?;
    match name.name.as_str() {
        "nfhook" => {
            arity(name, positional.len(), 1, 1, span, "nfhook(kstack)")?;
            let v = check_expr(cx, p, positional[0], None)?;
            let Type::KStack(depth) = v.ty else {
                return Err(Diagnostic::error(format!("`nfhook` needs a kernel stack, not a {}", type_name(&v.ty)), v.span, "not a kstack")
                    .with_help("the hook is read from the stack's frames: `nfhook(kstack)`"));
            };
            Ok(Expr { ty: Type::NfHook(depth), span, ..v })
        }
        "nfrule" => {
            arity(name, positional.len(), 2, 2, span, "nfrule(netns(skb), kstack)")?;
            let ns = check_expr(cx, p, positional[0], None)?;
            if ns.ty != Type::Netns {
                return Err(Diagnostic::error(format!("`nfrule` needs a netns, not a {}", type_name(&ns.ty)), ns.span, "not a netns")
                    .with_help("e.g. `nfrule(netns(skb), kstack)`"));
            }
            let stack = check_expr(cx, p, positional[1], None)?;
            let Type::KStack(depth) = stack.ty else {
                return Err(Diagnostic::error(format!("`nfrule` needs a kernel stack, not a {}", type_name(&stack.ty)), stack.span, "not a kstack"));
            };
            Ok(mk(T::Pack(vec![ns, stack]), Type::NfRule(depth), span))
        }
        "cause" => cause(cx, p, &positional, name, span),
        _ => {
            arity(name, positional.len(), 1, 1, span, &format!("{}(skb)", name.name))?;
            let skb = check_expr(cx, p, positional[0], None)?;
            skb_value(cx, &name.name, skb, span)
        }
    }
}

/// `cause(skb, reason, location, kstack(N))`: the parts the runtime
/// explains a drop from, packed in the order of `net::CAUSE_*`.
fn cause(cx: &mut Checker, p: &mut ProbeCx, args: &[&ast::Expr], name: &Ident, span: Span) -> Result<Expr> {
    const USE: &str = "cause(skb, reason, location, kstack(12))";
    arity(name, args.len(), 4, 4, span, USE)?;
    let skb = check_expr(cx, p, args[0], None)?;
    let reason = check_expr(cx, p, args[1], None)?;
    let reason_enum = match reason.ty {
        Type::Enum(id) if cx.enums.get(id).is_some_and(|e| e.name == "skb_drop_reason") => id,
        _ => {
            return Err(Diagnostic::error(
                format!("`cause` needs a drop reason, not a {}", type_name(&reason.ty)),
                reason.span,
                "not an skb_drop_reason",
            )
            .with_help(format!("pass the probe's reason: `{USE}` in `on kfree_skb`")))
        }
    };
    let site = check_expr(cx, p, args[2], None)?;
    if !matches!(site.ty, Type::Addr | Type::Sym | Type::Ptr { .. }) {
        return Err(Diagnostic::error(format!("`cause` needs the drop site's address, not a {}", type_name(&site.ty)), site.span, "not an address")
            .with_help(format!("pass the probe's `location`: `{USE}`")));
    }
    let stack = check_expr(cx, p, args[3], None)?;
    let Type::KStack(depth) = stack.ty else {
        return Err(Diagnostic::error(format!("`cause` needs a kernel stack, not a {}", type_name(&stack.ty)), stack.span, "not a kstack")
            .with_help(format!("the netfilter hook and rule are read from the stack: `{USE}`")));
    };
    let netns = skb_value(cx, "netns", skb.clone(), span)?;
    let ifindex = skb_value(cx, "ifindex", skb.clone(), span)?;
    let len = fields(cx, skb.clone(), &["len"], span)?;
    let tuple = skb_value(cx, "tuple", skb.clone(), span)?;
    let ct = skb_value(cx, "ct", skb, span)?;
    Ok(mk(T::Pack(vec![reason, netns, ifindex, len, stack, site, tuple, ct]), Type::Cause { depth, reason: reason_enum }, span))
}

/// The value `name(skb)` for a `struct sk_buff *` (`tuple` and `netns`
/// take a `struct sock *` too).
fn skb_value(cx: &mut Checker, name: &str, skb: Expr, span: Span) -> Result<Expr> {
    let is_sock = points_to(&skb.ty, "sock");
    // A device (`net_dev_xmit`'s `dev`): its own name and namespace.
    if points_to(&skb.ty, "net_device") {
        return match name {
            "netns" => {
                let ns = fields(cx, skb, &["nd_net", "net", "ns", "inum"], span)?;
                Ok(Expr { ty: Type::Netns, ..ns })
            }
            "ifname" => fields(cx, skb, &["name"], span),
            "ifindex" => fields(cx, skb, &["ifindex"], span),
            _ => Err(Diagnostic::error(format!("`{name}` needs a packet, not a device"), skb.span, "a `struct net_device *`")
                .with_help("`netns`, `ifname` and `ifindex` take a device; the others a `struct sk_buff *`")),
        };
    }
    if name == "netns" && is_sock {
        let ns = fields(cx, skb, &["__sk_common", "skc_net", "net", "ns", "inum"], span)?;
        return Ok(Expr { ty: Type::Netns, ..ns });
    }
    if name == "tuple" && is_sock {
        let layout = sock_layout(cx)
            .ok_or_else(|| Diagnostic::error("this kernel's BTF lacks the struct sock address fields", span, "`tuple(sk)` cannot be computed"))?;
        return Ok(mk(T::SockTuple { sk: Box::new(skb), layout }, Type::Tuple, span));
    }
    if !points_to(&skb.ty, "sk_buff") {
        return Err(Diagnostic::error(format!("`{name}` needs a `struct sk_buff *`, not a {}", type_name(&skb.ty)), skb.span, "not a packet")
            .with_help("pass the probe's packet, e.g. `tuple(skb)` in `on kfree_skb`"));
    }
    let missing = |what: &str| Diagnostic::error(format!("this kernel's BTF lacks {what}"), span, format!("`{name}` cannot be computed"));
    match name {
        "tuple" | "flow" => {
            let layout = skb_layout(cx).ok_or_else(|| missing("the sk_buff header offsets"))?;
            let canonical = name == "flow";
            let ty = if canonical { Type::Flow } else { Type::Tuple };
            Ok(mk(T::SkbTuple { skb: Box::new(skb), layout, canonical }, ty, span))
        }
        "ct" => {
            if cx.kernel.other_kernel() {
                // A packet without an entry is NO_ENTRY or NO_CONNTRACK by
                // the addresses of conntrack's hooks, which only the running
                // kernel can give.
                return Err(Diagnostic::error("`ct` needs the running kernel's conntrack hook addresses", span, "not known for another kernel")
                    .with_help("compile scripts that use `ct()` on the kernel they run on"));
            }
            let layout = ct_layout(cx).ok_or_else(|| missing("struct nf_conn (conntrack)"))?;
            // The runtime prints entries with these names.
            ct_state_enum(cx);
            ct_status_enum(cx);
            if let Some(KType::Enum { id, .. }) = cx.kernel.enum_by_name("tcp_conntrack") {
                super::ktypes::register_enum(cx, id);
            }
            Ok(mk(T::SkbCt { skb: Box::new(skb), layout }, Type::Ct, span))
        }
        "ifname" => {
            // A packet without a device (local output before routing) says so.
            let dev = fields(cx, skb.clone(), &["dev"], span)?;
            let name = fields(cx, skb, &["dev", "name"], span)?;
            let zero = mk(T::Const(0), Type::U64, span);
            let has_dev = mk(T::Binary { op: ast::BinOp::Ne, lhs: Box::new(dev), rhs: Box::new(zero), signed: false }, Type::Bool, span);
            let none = mk(T::Bytes(b"(no device)\0".to_vec()), name.ty.clone(), span);
            Ok(mk(T::Cond { cond: Box::new(has_dev), then: Box::new(name.clone()), otherwise: Box::new(none) }, name.ty, span))
        }
        "ifindex" => fields(cx, skb, &["dev", "ifindex"], span),
        _ => {
            // The device's namespace; a packet without one (local output
            // before routing) is in its socket's.
            let dev = fields(cx, skb.clone(), &["dev", "nd_net", "net", "ns", "inum"], span)?;
            let sock = fields(cx, skb, &["sk", "__sk_common", "skc_net", "net", "ns", "inum"], span)?;
            let zero = mk(T::Const(0), Type::U64, span);
            let has_dev = mk(T::Binary { op: ast::BinOp::Ne, lhs: Box::new(dev.clone()), rhs: Box::new(zero), signed: false }, Type::Bool, span);
            Ok(mk(T::Cond { cond: Box::new(has_dev), then: Box::new(dev), otherwise: Box::new(sock) }, Type::Netns, span))
        }
    }
}

/// Whether `ty` is a pointer to `struct NAME`.
fn points_to(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Ptr { target, .. } if matches!(&**target, KType::Struct { name: n, .. } if n == name))
}

/// `base.f1.f2…` through BTF, as the user would write it.
fn fields(cx: &mut Checker, base: Expr, path: &[&str], span: Span) -> Result<Expr> {
    let mut e = base;
    for f in path {
        e = super::expr::field_access(cx, e, &Ident { name: f.to_string(), span })?;
    }
    e.span = span;
    Ok(e)
}

/// Byte offset of `path` inside kernel struct `root`, stepping into
/// embedded structs and the first element of arrays.
pub(super) fn offset_of(cx: &Checker, root: &str, path: &[&str]) -> Option<u32> {
    let mut ty = cx.kernel.struct_by_name(root)?;
    let mut off = 0;
    for name in path {
        while let KType::Array { elem, .. } = ty {
            ty = *elem;
        }
        let id = match ty {
            KType::Struct { id, .. } | KType::Union { id, .. } => id,
            _ => return None,
        };
        let m = cx.kernel.member(id, name)?;
        off += m.offset_bits / 8;
        ty = m.ty;
    }
    Some(off)
}

fn skb_layout(cx: &Checker) -> Option<SkbLayout> {
    let at = |f: &str| offset_of(cx, "sk_buff", &[f]);
    Some(SkbLayout { head: at("head")?, network_header: at("network_header")?, transport_header: at("transport_header")?, protocol: at("protocol")? })
}

fn sock_layout(cx: &Checker) -> Option<SockLayout> {
    let common = |f: &str| offset_of(cx, "sock", &["__sk_common", f]);
    Some(SockLayout {
        family: common("skc_family")?,
        protocol: offset_of(cx, "sock", &["sk_protocol"])?,
        num: common("skc_num")?,
        dport: common("skc_dport")?,
        rcv_saddr: common("skc_rcv_saddr")?,
        daddr: common("skc_daddr")?,
        v6_rcv_saddr: common("skc_v6_rcv_saddr")?,
        v6_daddr: common("skc_v6_daddr")?,
    })
}

fn ct_layout(cx: &Checker) -> Option<CtLayout> {
    let ct = |path: &[&str]| offset_of(cx, "nf_conn", path);
    let tuple = |path: &[&str]| offset_of(cx, "nf_conntrack_tuple", path);
    let hooks = cx.kernel.symbol_addresses(&layout::CONNTRACK_HOOKS);
    let hook_entry_size = match cx.kernel.struct_by_name("nf_hook_entry")? {
        KType::Struct { size, .. } => size,
        _ => return None,
    };
    Some(CtLayout {
        protocol: offset_of(cx, "sk_buff", &["protocol"])?,
        dev: offset_of(cx, "sk_buff", &["dev"])?,
        dev_net: offset_of(cx, "net_device", &["nd_net", "net"])?,
        sk: offset_of(cx, "sk_buff", &["sk"])?,
        sk_net: offset_of(cx, "sock", &["__sk_common", "skc_net", "net"])?,
        hooks_ipv4: offset_of(cx, "net", &["nf", "hooks_ipv4"])?,
        hooks_ipv6: offset_of(cx, "net", &["nf", "hooks_ipv6"])?,
        hook_count: offset_of(cx, "nf_hook_entries", &["num_hook_entries"])?,
        hook_array: offset_of(cx, "nf_hook_entries", &["hooks"])?,
        hook_entry_size,
        conntrack_in: layout::CONNTRACK_HOOKS.map(|name| hooks.get(name).copied().unwrap_or(0)),
        nfct: offset_of(cx, "sk_buff", &["_nfct"])?,
        status: ct(&["status"])?,
        mark: ct(&["mark"])?,
        zone: ct(&["zone", "id"])?,
        tcp_state: ct(&["proto", "tcp", "state"])?,
        tuple: ct(&["tuplehash", "tuple"])?,
        src_addr: tuple(&["src", "u3"])?,
        src_port: tuple(&["src", "u"])?,
        l3num: tuple(&["src", "l3num"])?,
        dst_addr: tuple(&["dst", "u3"])?,
        dst_port: tuple(&["dst", "u"])?,
        protonum: tuple(&["dst", "protonum"])?,
    })
}

/// The fields of a `tuple` or `flow` value, and of a `ct` value.
pub const TUPLE_FIELDS: &[&str] = &["family", "proto", "sport", "dport"];
pub const CT_FIELDS: &[&str] = &["state", "tcp", "status", "mark", "zone", "orig"];

/// `.field` of a tuple or conntrack value.
pub(crate) fn field(cx: &mut Checker, base: Expr, field: &Ident) -> Result<Expr> {
    let span = base.span.to(field.span);
    let u = |size: u8| Type::Int { size, signed: false };
    let (offset, size, ty) = match (&base.ty, field.name.as_str()) {
        (Type::Tuple | Type::Flow, "family") => (layout::TUPLE_FAMILY, 1, u(1)),
        (Type::Tuple | Type::Flow, "proto") => (layout::TUPLE_PROTO, 1, u(1)),
        (Type::Tuple | Type::Flow, "sport") => (layout::TUPLE_SPORT, 2, u(2)),
        (Type::Tuple | Type::Flow, "dport") => (layout::TUPLE_DPORT, 2, u(2)),
        (Type::Ct, "state") => (layout::CT_STATE, 1, Type::Enum(ct_state_enum(cx))),
        (Type::Ct, "tcp") => match cx.kernel.enum_by_name("tcp_conntrack") {
            Some(KType::Enum { id, .. }) => (layout::CT_TCP, 1, Type::Enum(super::ktypes::register_enum(cx, id))),
            _ => (layout::CT_TCP, 1, u(1)),
        },
        (Type::Ct, "zone") => (layout::CT_ZONE, 2, u(2)),
        (Type::Ct, "mark") => (layout::CT_MARK, 4, u(4)),
        (Type::Ct, "status") => (layout::CT_STATUS, 8, Type::Flags(ct_status_enum(cx))),
        (Type::Ct, "orig") => (layout::CT_ORIG, layout::TUPLE_SIZE as u8, Type::Tuple),
        (ty, _) => {
            let names = if *ty != Type::Ct { TUPLE_FIELDS.join(", ") } else { CT_FIELDS.join(", ") };
            return Err(Diagnostic::error(format!("a {} has no field `{}`", type_name(ty), field.name), field.span, "unknown field")
                .with_help(format!("its fields: {names}")));
        }
    };
    Ok(mk(T::Part { base: Box::new(base), offset, size }, ty, span))
}

/// iptables' `--ctstate` names for `ip_conntrack_info`, plus the states of
/// a packet without an entry (`net::CT_*`).
fn ct_state_enum(cx: &mut Checker) -> usize {
    synthetic_enum(cx, "ct_state", || {
        let names = [(0, "ESTABLISHED"), (1, "RELATED"), (2, "NEW"), (3, "ESTABLISHED_REPLY"), (4, "RELATED_REPLY"), (7, "UNTRACKED")];
        let mut v: Vec<(i64, String)> = names.iter().map(|(n, s)| (*n, s.to_string())).collect();
        for (n, s) in [
            (layout::CT_NO_ENTRY, "NO_ENTRY"),
            (layout::CT_NO_CONNTRACK, "NO_CONNTRACK"),
            (layout::CT_NOT_IP, "NOT_IP"),
            (layout::CT_UNKNOWN, "UNKNOWN"),
            (layout::CT_INVALID, "INVALID"),
        ] {
            v.push((n as i64, s.into()));
        }
        v
    })
}

/// `enum ip_conntrack_status` as bit numbers (`IPS_ASSURED_BIT` → ASSURED).
fn ct_status_enum(cx: &mut Checker) -> usize {
    let values = match cx.kernel.enum_by_name("ip_conntrack_status") {
        Some(KType::Enum { id, .. }) => cx
            .kernel
            .enum_values(id)
            .into_iter()
            .filter_map(|(n, v)| Some((v, n.strip_suffix("_BIT")?.trim_start_matches("IPS_").to_string())))
            .collect(),
        _ => Vec::new(),
    };
    synthetic_enum(cx, "ct_status", || values)
}

fn synthetic_enum(cx: &mut Checker, name: &str, values: impl FnOnce() -> Vec<(i64, String)>) -> usize {
    if let Some(i) = cx.enums.iter().position(|e| e.name == name) {
        return i;
    }
    cx.enums.push(EnumDef { name: name.into(), values: values() });
    cx.enums.len() - 1
}

/// `tuple(host=10.0.2.2, port=9418, …)` on the probe's `skb`.
fn tuple_match(cx: &mut Checker, p: &mut ProbeCx, args: &[Arg], span: Span) -> Result<Expr> {
    let skb_ident = ast::Expr { kind: A::Ident("skb".into()), span, nesting: 1 };
    let skb = match args.first() {
        Some(Arg::Positional(e)) => check_expr(cx, p, e, None)?,
        _ if p.arg("skb").is_some() || p.lookup("skb").is_some() => check_expr(cx, p, &skb_ident, None)?,
        _ => {
            return Err(Diagnostic::error("`tuple(…)` filters need a packet", span, "this probe has no `skb` argument")
                .with_help("pass one first: `tuple(ptr, port=53)`, or use a probe with an skb, e.g. `on kfree_skb`"))
        }
    };
    let tuple = skb_value(cx, "tuple", skb, span)?;
    let mut tests = Vec::new();
    for a in args {
        let Arg::Named(key, value) = a else { continue };
        let side = match key.name.as_str() {
            "src" | "sport" => Side::Src,
            "dst" | "dport" => Side::Dst,
            _ => Side::Either,
        };
        let Some(text) = filter_value(cx, p, value)? else { continue };
        let bad = |what: &str| Diagnostic::error(format!("`{}` needs {what}, not `{text}`", key.name), value.span, "invalid filter value");
        tests.push(match key.name.as_str() {
            "port" | "sport" | "dport" => TupleTest::Port { side, port: text.parse().map_err(|_| bad("a port number (0–65535)"))? },
            "host" | "src" | "dst" => {
                let (addr, prefix) = parse_cidr(&text).ok_or_else(|| bad("an IP address or prefix such as 10.0.0.0/8"))?;
                let (family, bytes, max) = match addr {
                    IpAddr::V4(a) => {
                        let mut b = [0u8; 16];
                        b[..4].copy_from_slice(&a.octets());
                        (AF_INET, b, 32)
                    }
                    IpAddr::V6(a) => (AF_INET6, a.octets(), 128),
                };
                TupleTest::Addr { side, family, addr: bytes, prefix: prefix.unwrap_or(max).min(max) }
            }
            "proto" => TupleTest::Proto(
                layout::protocol_number(&text)
                    .or_else(|| text.parse().ok())
                    .ok_or_else(|| bad("a protocol: tcp, udp, icmp, icmpv6, sctp or a number"))?,
            ),
            _ => {
                return Err(Diagnostic::error(format!("`tuple` has no field `{}`", key.name), key.span, "unknown filter")
                    .with_help("filters: src, dst, host, sport, dport, port, proto"))
            }
        });
    }
    Ok(mk(T::TupleMatch { tuple: Box::new(tuple), tests }, Type::Bool, span))
}

fn parse_cidr(text: &str) -> Option<(IpAddr, Option<u8>)> {
    match text.split_once('/') {
        Some((a, n)) => Some((a.parse().ok()?, Some(n.parse().ok()?))),
        None => Some((text.parse().ok()?, None)),
    }
}

/// A filter's value as text, or `None` for a parameter left at its default
/// (matches anything).
fn filter_value(cx: &mut Checker, p: &mut ProbeCx, e: &ast::Expr) -> Result<Option<String>> {
    let param = match &e.kind {
        A::Field { base, field } if matches!(&base.kind, A::Ident(b) if b == "params") => Some(field.name.as_str()),
        A::Ident(n) if p.lookup(n).is_none() && p.arg(n).is_none() && cx.params.contains_key(n) => Some(n.as_str()),
        _ => None,
    };
    if let Some(name) = param {
        let Some(v) = cx.params.get(name) else {
            return Err(Diagnostic::error(format!("unknown parameter `{name}`"), e.span, "no such param"));
        };
        return Ok((!v.is_default).then(|| v.display.clone()));
    }
    Ok(Some(match &e.kind {
        A::Int(n) => n.to_string(),
        A::Str(s) => s.clone(),
        A::Ip(a) => a.to_string(),
        A::Cidr(a, n) => format!("{a}/{n}"),
        A::Ident(n) => n.clone(),
        _ => {
            return Err(Diagnostic::error("a filter value must be a literal or a parameter", e.span, "not a constant")
                .with_help("e.g. `tuple(port=9418)`, `tuple(dst=10.0.0.0/8)`, `tuple(proto=tcp)`, `tuple(port=params.port)`"))
        }
    }))
}

/// `pcap(skb[, dev])`: the packet's bytes from its network header, with what the
/// capture file needs to describe it (`tir::Output::Pcap`). In a drop probe
/// (`kfree_skb`) the comment names the site and the reason. Left out, after
/// checking, when no capture file was asked for.
pub(crate) fn pcap(cx: &mut Checker, p: &mut ProbeCx, name: &Ident, args: &[Arg], span: Span) -> Result<Stmt> {
    let a = positional(name, args)?;
    arity(name, a.len(), 1, 2, span, "pcap(skb) or pcap(skb, dev)")?;
    let skb = check_expr(cx, p, a[0], None)?;
    if !points_to(&skb.ty, "sk_buff") {
        return Err(Diagnostic::error(format!("`pcap` needs a `struct sk_buff *`, not a {}", type_name(&skb.ty)), skb.span, "not a packet")
            .with_help("pass the probe's packet, e.g. `pcap(skb)` in `on kfree_skb`"));
    }
    // The interface: the packet's device, or the one given (`net_dev_xmit`'s
    // `dev`: a veth has already handed the packet to its peer).
    let dev = match a.get(1) {
        Some(e) => {
            let dev = check_expr(cx, p, e, None)?;
            if !points_to(&dev.ty, "net_device") {
                return Err(Diagnostic::error(
                    format!("`pcap` takes a device second, not a {}", type_name(&dev.ty)),
                    dev.span,
                    "not a `struct net_device *`",
                )
                .with_help("e.g. `pcap(skb, dev)` in `on net_dev_xmit`"));
            }
            dev
        }
        None => skb.clone(),
    };
    let bin = |op, lhs: Expr, rhs: Expr| mk(T::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), signed: false }, Type::U64, span);
    let field = |cx: &mut Checker, f: &str| fields(cx, skb.clone(), &[f], span);
    let time = mk(T::Builtin(crate::tir::Builtin::Walltime), Type::Time, span);
    let ifindex = skb_value(cx, "ifindex", dev.clone(), span)?;
    let ifname = skb_value(cx, "ifname", dev.clone(), span)?;
    let netns = skb_value(cx, "netns", dev, span)?;
    let (len, head, data, tail, nh) = (field(cx, "len")?, field(cx, "head")?, field(cx, "data")?, field(cx, "tail")?, field(cx, "network_header")?);
    // `len` counts from `data`; the network header is `nh` bytes into
    // `head`. `tail` is an offset from `head` (64-bit kernels).
    let wire = bin(ast::BinOp::Sub, bin(ast::BinOp::Add, len, bin(ast::BinOp::Sub, data, head.clone())), nh.clone());
    let unset = bin(ast::BinOp::Ne, nh.clone(), mk(T::Const(0xffff), Type::U64, span));
    let linear = mk(
        T::Cond {
            cond: Box::new(Expr { ty: Type::Bool, ..unset }),
            then: Box::new(bin(ast::BinOp::Sub, tail, nh.clone())),
            otherwise: Box::new(mk(T::Const(0), Type::U64, span)),
        },
        Type::U64,
        span,
    );
    let at = Expr { ty: Type::Addr, ..bin(ast::BinOp::Add, head, nh) };
    let mut values = vec![time, ifindex, ifname, netns, wire, linear, at];
    // A drop: where and why, as dropwatch prints them.
    let arg = |cx: &mut Checker, p: &mut ProbeCx, n: &str| {
        let e = ast::Expr {
            kind: A::Field { base: Box::new(ast::Expr { kind: A::Ident("args".into()), span, nesting: 1 }), field: Ident { name: n.into(), span } },
            span,
            nesting: 2,
        };
        check_expr(cx, p, &e, None)
    };
    let (prefix, keys) = if p.name.ends_with("kfree_skb") && p.arg("location").is_some() {
        let site = arg(cx, p, "location")?;
        values.push(Expr { ty: Type::Sym, ..site });
        let mut keys = vec!["at".to_string()];
        if p.arg("reason").is_some() {
            values.push(arg(cx, p, "reason")?);
            keys.push("reason".into());
        }
        ("drop".to_string(), keys)
    } else {
        (p.name.clone(), Vec::new())
    };
    let Some(snaplen) = cx.snaplen else {
        cx.pcap_left_out = true;
        return Ok(Stmt { kind: StmtKind::Inline { body: Vec::new() }, span });
    };
    Ok(Stmt { kind: StmtKind::Output { output: Output::Pcap { snaplen, prefix, keys }, args: values }, span })
}
