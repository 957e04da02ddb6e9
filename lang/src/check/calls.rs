//! Calls: builtin functions (values and statements) and inlined `fn`s.

use crate::ast::{self, Arg, ExprKind as A, Ident};
use crate::builtins::Kind;
use crate::diag::Diagnostic;
use crate::source::Span;
use crate::tir::{Builtin, Expr, ExprKind as T, FmtPiece, Output, Stmt, StmtKind};
use crate::types::Type;

use super::expr::{check_expr, near_misses, type_name, Result};
use super::scope::{InlineFrame, ProbeCx};
use super::Checker;

/// What a builtin call is: the catalogue says (`crate::builtins`).
fn is(name: &str, kind: Kind) -> bool {
    crate::builtins::is(name, kind)
}

/// A call's name as the checker dispatches it: a builtin's only where the
/// catalogue has it as a call; any other name is a `fn`'s (or unknown).
fn dispatched(name: &str) -> &str {
    if crate::builtins::lookup(name).iter().any(|b| b.kind != Kind::Variable) {
        name
    } else {
        ""
    }
}

/// Aggregations: only as the value of a map assignment.
pub(crate) fn is_aggregation(name: &str) -> bool {
    is(name, Kind::Aggregation)
}

pub(super) fn positional<'e>(name: &Ident, args: &'e [Arg]) -> Result<Vec<&'e ast::Expr>> {
    args.iter()
        .map(|a| match a {
            Arg::Positional(e) => Ok(e),
            Arg::Named(n, _) => Err(Diagnostic::error(format!("`{}` takes no named arguments", name.name), n.span, "named argument")),
        })
        .collect()
}

pub(super) fn arity(name: &Ident, got: usize, min: usize, max: usize, span: Span, usage: &str) -> Result<()> {
    if got < min || got > max {
        return Err(Diagnostic::error(
            format!(
                "`{}` takes {} argument{}, not {got}",
                name.name,
                match (min, max) {
                    _ if min == max => min.to_string(),
                    (_, usize::MAX) => format!("at least {min}"),
                    _ => format!("{min} to {max}"),
                },
                if max == 1 || (max == usize::MAX && min == 1) { "" } else { "s" }
            ),
            span,
            "wrong number of arguments",
        )
        .with_help(format!("usage: {usage}")));
    }
    Ok(())
}

/// The one argument of `kaddr`/`uaddr`: a symbol's name as a string
/// literal, and its span.
fn symbol_arg<'e>(name: &Ident, args: &'e [Arg], span: Span, usage: &str) -> Result<(&'e str, Span)> {
    let a = positional(name, args)?;
    arity(name, a.len(), 1, 1, span, usage)?;
    match &a[0].kind {
        A::Str(symbol) => Ok((symbol, a[0].span)),
        _ => Err(Diagnostic::error(format!("`{}` takes a symbol's name as a string", name.name), a[0].span, "not a string literal")),
    }
}

/// The format `time()` shows without one, as bpftrace's.
const DEFAULT_TIME_FORMAT: &str = "%H:%M:%S";

/// `strftime(FMT, t)`: the moment `t` (a `time`) shown with FMT;
/// `time([FMT])` is `strftime(FMT, walltime)`. The format is checked here,
/// by formatting a moment with it, so a bad one is an error with its span.
fn time_text(cx: &mut Checker, p: &mut ProbeCx, name: &Ident, args: &[Arg], span: Span) -> Result<Expr> {
    let a = positional(name, args)?;
    let (fmt_arg, moment) = if name.name == "time" {
        arity(name, a.len(), 0, 1, span, "time(\"%H:%M:%S\")")?;
        (a.first().copied(), Expr { kind: T::Builtin(Builtin::Walltime), ty: Type::Time, span })
    } else {
        arity(name, a.len(), 2, 2, span, "strftime(\"%H:%M:%S\", walltime)")?;
        let t = check_expr(cx, p, a[1], None)?;
        if !matches!(t.ty, Type::Time | Type::TimeText(_)) {
            return Err(Diagnostic::error(format!("`strftime` shows a `time`, not a {}", type_name(&t.ty)), t.span, "not a moment")
                .with_help("`walltime` is the moment a probe fires; `min(walltime)`/`max(walltime)` keep one in a map"));
        }
        (Some(a[0]), t)
    };
    let format = match fmt_arg.map(|e| (&e.kind, e.span)) {
        None => DEFAULT_TIME_FORMAT.to_string(),
        Some((A::Str(f), fspan)) => {
            let probe = jiff::Timestamp::UNIX_EPOCH.to_zoned(jiff::tz::TimeZone::UTC);
            jiff::fmt::strtime::format(f.as_bytes(), &probe).map_err(|e| {
                Diagnostic::error("invalid time format", fspan, e.to_string())
                    .with_help("strftime conversions: %Y-%m-%d %H:%M:%S, %6f for microseconds, %z the offset")
            })?;
            f.clone()
        }
        Some((_, fspan)) => {
            return Err(Diagnostic::error(format!("the format of `{}` must be a string literal", name.name), fspan, "not a string literal"))
        }
    };
    Ok(Expr { ty: Type::TimeText(format), span, ..moment })
}

/// The most bytes one `buf()` reads: the value travels in event records
/// and map keys, built in per-CPU scratch memory.
const BUF_MAX: u64 = 4096;
/// The capacity of `buf(ptr, len)` when `len` is not a constant.
const BUF_DEFAULT_CAP: u64 = 64;

/// `buf(ptr, len[, cap])`: `len` bytes at `ptr`, as bpftrace's: `len` may be
/// a runtime value (a return value, a field), clamped in the probe to
/// `cap` bytes, which must be a constant (default: `len` when it is one,
/// else 64). The value records how many bytes were read.
fn read_buf(cx: &mut Checker, p: &mut ProbeCx, name: &Ident, args: &[Arg], span: Span) -> Result<Expr> {
    let a = positional(name, args)?;
    arity(name, a.len(), 2, 3, span, "buf(ptr, len[, capacity])")?;
    let ptr = check_expr(cx, p, a[0], None)?;
    if !matches!(ptr.ty, Type::Addr | Type::Int { .. } | Type::Ptr { .. }) {
        return Err(Diagnostic::error(format!("`buf` needs a pointer, not a {}", type_name(&ptr.ty)), ptr.span, "not a pointer"));
    }
    let len = check_expr(cx, p, a[1], None)?;
    if !matches!(len.ty, Type::Int { .. }) {
        return Err(Diagnostic::error(format!("the length of `buf` must be an integer, not a {}", type_name(&len.ty)), len.span, "not a length"));
    }
    // A constant: a number, or a parameter (`params.len`).
    let bounded = |e: &Expr, what: &str| match e.kind {
        T::Const(n) if (1..=BUF_MAX).contains(&n) => Ok(n),
        _ => Err(Diagnostic::error(format!("the {what} of `buf` must be a constant from 1 to {BUF_MAX}"), e.span, "not a constant in range")
            .with_note(format!("a `buf` is copied whole into each event or map entry: at most {BUF_MAX} bytes"))),
    };
    let cap = match a.get(2) {
        Some(e) => {
            let c = check_expr(cx, p, e, None)?;
            bounded(&c, "capacity")?
        }
        None if matches!(len.kind, T::Const(_)) => bounded(&len, "length")?,
        None => BUF_DEFAULT_CAP,
    };
    if let T::Const(n) = len.kind {
        if n > cap {
            return Err(Diagnostic::error(format!("`buf` cannot read {n} bytes into a capacity of {cap}"), len.span, "longer than the capacity"));
        }
    }
    let joined = name.name == "join";
    Ok(Expr { kind: T::ReadBuf { ptr: Box::new(ptr), len: Box::new(len) }, ty: Type::Buf { cap: cap as u16, joined }, span })
}

/// `has(NAME)`: whether this probe has an argument NAME on this kernel
/// (tracepoints gain arguments over kernel versions: `tcp_send_reset`'s
/// `reason`, `consume_skb`'s `location`).
pub(super) fn probe_has(p: &ProbeCx, name: &Ident, args: &[Arg], span: Span) -> Result<bool> {
    let a = positional(name, args)?;
    arity(name, a.len(), 1, 1, span, "has(argument)")?;
    match &a[0].kind {
        A::Ident(arg) => Ok(p.arg(arg).is_some()),
        _ => Err(Diagnostic::error("`has` takes a probe argument's name", a[0].span, "not a name").with_help("e.g. `if has(reason) { … }`")),
    }
}

fn unknown_fn(cx: &Checker, name: &Ident) -> Diagnostic {
    if matches!(name.name.as_str(), "signal" | "system" | "override") {
        return Diagnostic::error(format!("ntr has no `{}()`: it only watches", name.name), name.span, "an action on the traced system")
            .with_note("by design, no builtin changes what is traced: a hunt during an incident must not cause another");
    }
    let mut candidates: Vec<String> = cx.fns.keys().cloned().collect();
    candidates.extend(crate::builtins::BUILTINS.iter().filter(|b| b.kind != Kind::Variable).map(|b| b.name.to_string()));
    let near = near_misses(&name.name, &candidates);
    let d = Diagnostic::error(format!("unknown function `{}`", name.name), name.span, "no builtin or fn by this name");
    if near.is_empty() {
        d.with_note("define it with `fn NAME(args) { … }`, or `use` the module that has it")
    } else {
        d.with_help(format!("did you mean {}?", super::probes::quote_list(&near)))
    }
}

pub(crate) fn check_call_expr(cx: &mut Checker, p: &mut ProbeCx, name: &Ident, args: &[Arg], span: Span, _expect: Option<&Type>) -> Result<Expr> {
    match dispatched(&name.name) {
        "ntohs" | "htons" | "ntohl" | "htonl" | "bswap" => byte_swap(cx, p, name, args, span),
        "ntop" => {
            // An IPv4 address as the kernel keeps it (a `__be32`: network
            // order in memory), printed as an address.
            let a = positional(name, args)?;
            arity(name, a.len(), 1, 1, span, "ntop(sk.__sk_common.skc_daddr)")?;
            let v = check_expr(cx, p, a[0], None)?;
            match v.ty {
                Type::Int { size: 4, .. } => Ok(Expr { ty: Type::Ip4, span, ..v }),
                Type::Ip4 | Type::Ip6 => Ok(v),
                _ => match super::ktypes::address_bytes(&v) {
                    Some(address) => Ok(address),
                    None => Err(Diagnostic::error(format!("`ntop` needs a 4-byte IPv4 address field, not a {}", type_name(&v.ty)), v.span, "not a `__be32`")
                        .with_help("e.g. `ntop(sk.__sk_common.skc_daddr)`, `ntop(sk.__sk_common.skc_v6_daddr)` (an `in6_addr` or a 4- or 16-byte array); for whole flows use `tuple(sk)` or `tuple(skb)`")),
                },
            }
        }
        "strftime" | "time" => time_text(cx, p, name, args, span),
        "uaddr" => {
            // Where `symbol` is in the probed process: the probed
            // instruction's run-time address (the uprobe's `ip`) moved by
            // the symbols' distance in the file, so PIE and shared
            // libraries load anywhere.
            let (symbol, symbol_span) = symbol_arg(name, args, span, "uaddr(\"symbol\")")?;
            let Some((path, probed, offset)) = p.uprobe_site.clone() else {
                return Err(Diagnostic::error("`uaddr` is only known in a uprobe", span, "not a uprobe here")
                    .with_note("the symbol is looked up in the probed file, and placed by where the probe fired (uretprobes fire elsewhere)"));
            };
            let file = super::probes::uprobe_file(&path, span)?;
            let value = |symbol: &str, at: Span| {
                crate::kernel::elf_symbols::symbol_value(&file, symbol)
                    .ok_or_else(|| Diagnostic::error(format!("no symbol `{symbol}` in `{}`", file.display()), at, "not in its symbol tables"))
            };
            let site = value(&probed, span)? + offset;
            let value = value(symbol, symbol_span)?;
            let konst = |v: u64| Box::new(Expr { kind: T::Const(v), ty: Type::U64, span });
            // pt_regs' `ip` on x86-64.
            let ip = Box::new(Expr { kind: T::CtxField { offset: 128, size: 8, signed: false }, ty: Type::U64, span });
            let base = Expr { kind: T::Binary { op: crate::ast::BinOp::Sub, lhs: ip, rhs: konst(site), signed: false }, ty: Type::U64, span };
            Ok(Expr { kind: T::Binary { op: crate::ast::BinOp::Add, lhs: Box::new(base), rhs: konst(value), signed: false }, ty: Type::Addr, span })
        }
        "usym" => {
            // The address with the process it belongs to: symbolized in
            // that process's mappings when printed.
            let a = positional(name, args)?;
            arity(name, a.len(), 1, 1, span, "usym(addr)")?;
            let v = check_expr(cx, p, a[0], None)?;
            if !matches!(v.ty, Type::Addr | Type::Int { .. } | Type::Ptr { .. }) {
                return Err(Diagnostic::error(format!("`usym` needs a user address, not a {}", type_name(&v.ty)), v.span, "not an address"));
            }
            let pid = Expr { kind: T::Builtin(Builtin::Pid), ty: Type::U32, span };
            Ok(Expr { kind: T::Pack(vec![pid, v]), ty: Type::USym, span })
        }
        "kaddr" => {
            // A kernel symbol's address, looked up when the script is compiled.
            let (symbol, symbol_span) = symbol_arg(name, args, span, "kaddr(\"tcp_v4_rcv\")")?;
            if cx.kernel.other_kernel() {
                return Err(Diagnostic::error("`kaddr` needs the running kernel's addresses", symbol_span, "not known for another kernel")
                    .with_note("with --btf the object is for another kernel, whose symbols this machine cannot read"));
            }
            match cx.kernel.symbol_addresses(&[symbol]).get(symbol) {
                Some(&addr) => Ok(Expr { kind: T::Const(addr), ty: Type::Addr, span }),
                None => Err(Diagnostic::error(format!("no kernel symbol `{symbol}` with a readable address"), symbol_span, "not in /proc/kallsyms")
                    .with_help("names are as /proc/kallsyms lists them (data symbols only on kernels built with CONFIG_KALLSYMS_ALL); addresses read as 0 there without root (kernel.kptr_restrict)")),
            }
        }
        "sym" => {
            let a = positional(name, args)?;
            arity(name, a.len(), 1, 1, span, "sym(addr)")?;
            let v = check_expr(cx, p, a[0], None)?;
            if !matches!(v.ty, Type::Addr | Type::Sym | Type::Int { .. } | Type::Ptr { .. }) {
                return Err(Diagnostic::error(format!("`sym` needs a kernel address, not a {}", type_name(&v.ty)), v.span, "not an address"));
            }
            Ok(Expr { ty: Type::Sym, span, ..v })
        }
        "str" => {
            let a = positional(name, args)?;
            arity(name, a.len(), 1, 2, span, "str(ptr[, len])")?;
            let v = check_expr(cx, p, a[0], None)?;
            if matches!(v.ty, Type::Str { .. }) {
                return Ok(v);
            }
            if !matches!(v.ty, Type::Addr | Type::Int { .. } | Type::Ptr { .. }) {
                return Err(Diagnostic::error(format!("`str` needs a pointer, not a {}", type_name(&v.ty)), v.span, "not a pointer"));
            }
            let len = match a.get(1) {
                None => 64,
                Some(e) => match e.kind {
                    A::Int(n) if (1..=1024).contains(&n) => n as u16,
                    _ => return Err(Diagnostic::error("the length of `str` must be a number from 1 to 1024", e.span, "not a constant length")),
                },
            };
            Ok(Expr { kind: T::ReadStr { ptr: Box::new(v) }, ty: Type::Str { len: len.div_ceil(8) * 8 }, span })
        }
        "join" if args.len() == 1 => {
            // A user `char **` (execve's argv): up to JOIN_ARGS strings.
            let a = positional(name, args)?;
            let argv = check_expr(cx, p, a[0], None)?;
            if !matches!(argv.ty, Type::Addr | Type::Int { size: 8, .. } | Type::Ptr { .. }) {
                return Err(Diagnostic::error(format!("`join` needs a `char **`, not a {}", type_name(&argv.ty)), argv.span, "not a pointer")
                    .with_help("e.g. `join(argv)` in `sys_enter_execve`; for strings laid end to end, `join(ptr, len)`"));
            }
            let cap = (crate::types::JOIN_ARGS * crate::types::JOIN_ARG_LEN) as u16;
            Ok(Expr { kind: T::JoinArgv { argv: Box::new(argv) }, ty: Type::Buf { cap, joined: true }, span })
        }
        "buf" | "join" => read_buf(cx, p, name, args, span),
        "is_set" => {
            // Whether a parameter was given with -p: filters treat one left at
            // its default as "match anything".
            let a = positional(name, args)?;
            arity(name, a.len(), 1, 1, span, "is_set(params.NAME)")?;
            let param = match &a[0].kind {
                A::Ident(n) => Some(n.as_str()),
                A::Field { base, field } if matches!(&base.kind, A::Ident(b) if b == "params") => Some(field.name.as_str()),
                _ => None,
            };
            match param.and_then(|n| cx.params.get(n)) {
                Some(v) => Ok(Expr { kind: T::Const(!v.is_default as u64), ty: Type::Bool, span }),
                None => Err(Diagnostic::error("`is_set` takes a parameter", a[0].span, "not a parameter").with_help("e.g. `is_set(params.reason)`")),
            }
        }
        "has" => {
            let present = probe_has(p, name, args, span)?;
            Ok(Expr { kind: T::Const(present as u64), ty: Type::Bool, span })
        }
        n if is(n, Kind::Network) => super::net::check_net_call(cx, p, name, args, span),
        "filter" => super::pcap_filter::check_filter(cx, p, name, args, span),
        "ustack" => {
            arity(name, args.len(), 0, 0, span, "ustack()")?;
            Ok(Expr { kind: T::Builtin(Builtin::UStack), ty: Type::UStack, span })
        }
        "kstack" => {
            // `kstack(N)`: only the innermost N frames, much cheaper to take.
            let a = positional(name, args)?;
            arity(name, a.len(), 0, 1, span, "kstack() or kstack(frames)")?;
            let depth = match a.first().map(|e| &e.kind) {
                None => 0,
                Some(A::Int(n)) if (1..=127).contains(n) => *n as u8,
                Some(_) => return Err(Diagnostic::error("the depth of `kstack` must be a number from 1 to 127", a[0].span, "not a constant depth")),
            };
            Ok(Expr { kind: T::Builtin(Builtin::KStack(depth)), ty: Type::KStack(depth), span })
        }
        n if is(n, Kind::Aggregation) => Err(Diagnostic::error(format!("`{n}()` is an aggregation"), span, "only valid as a map's value")
            .with_help(format!("assign it to a map, e.g. `@x[comm] = {n}({})`", if n == "count" { "" } else { "value" }))),
        n if is(n, Kind::Statement) => {
            Err(Diagnostic::error(format!("`{n}` has no value"), span, "used as a value").with_help(format!("call it as a statement: `{n}(…);`")))
        }
        _ => {
            let Some(decl) = cx.fns.get(name.name.as_str()).copied() else {
                return Err(unknown_fn(cx, name));
            };
            let (body, result) = inline(cx, p, decl, name, args, span)?;
            let Some(result) = result else {
                return Err(Diagnostic::error(format!("fn `{}` returns no value", name.name), span, "used as a value")
                    .with_secondary(decl.name.span, "defined here"));
            };
            let ty = p.locals[result].ty.clone();
            Ok(Expr { kind: T::Inline { body, result }, ty, span })
        }
    }
}

pub(crate) fn check_call_stmt(cx: &mut Checker, p: &mut ProbeCx, name: &Ident, args: &[Arg], span: Span) -> Result<Stmt> {
    let output = |output: Output, args: Vec<Expr>| Ok(Stmt { kind: StmtKind::Output { output, args }, span });
    match dispatched(&name.name) {
        // bpftrace's `time("%H:%M:%S ");` prints the moment, as printf would.
        "time" => {
            let v = time_text(cx, p, name, args, span)?;
            output(Output::Printf(vec![FmtPiece::Arg { conv: 's', spec: String::new() }]), vec![v])
        }
        // `cat(FMT, args…)`: the file named by the formatted text, printed
        // by the runtime as the event is printed.
        "printf" | "cat" => {
            let a = positional(name, args)?;
            let n = &name.name;
            let Some(first) = a.first() else {
                return Err(Diagnostic::error(format!("`{n}` needs a format string"), span, "no arguments")
                    .with_help(format!("usage: {n}(\"format\", args…)")));
            };
            let A::Str(fmt) = &first.kind else {
                return Err(Diagnostic::error(format!("the first argument of `{n}` must be a format string"), first.span, "not a string literal"));
            };
            let pieces = super::format::parse(fmt).map_err(|e| Diagnostic::error("invalid printf format", first.span, e))?;
            let convs: Vec<char> = pieces.iter().filter_map(|p| if let FmtPiece::Arg { conv, .. } = p { Some(*conv) } else { None }).collect();
            if convs.len() != a.len() - 1 {
                return Err(Diagnostic::error(
                    format!(
                        "the format has {} conversion{} but {} argument{} follow",
                        convs.len(),
                        if convs.len() == 1 { "" } else { "s" },
                        a.len() - 1,
                        if a.len() == 2 { "" } else { "s" }
                    ),
                    span,
                    "arguments do not match the format",
                ));
            }
            let mut values = Vec::new();
            for (conv, e) in convs.iter().zip(&a[1..]) {
                let v = check_expr(cx, p, e, None)?;
                check_conversion(*conv, &v)?;
                values.push(v);
            }
            output(if n == "cat" { Output::Cat(pieces) } else { Output::Printf(pieces) }, values)
        }
        "emit" => {
            let (emit, values) = emit(cx, p, args, span)?;
            output(emit, values)
        }
        "print" => {
            let a = positional(name, args)?;
            arity(name, a.len(), 1, usize::MAX, span, "print(@map[, N]) or print(values…)")?;
            if let A::Map(m) = &a[0].kind {
                if m.keys.is_empty() {
                    let map = cx.maps.id(&m.name, m.span);
                    let top = match a.get(1) {
                        None => None,
                        Some(e) => match e.kind {
                            A::Int(n) if n > 0 && n <= u32::MAX as u64 => Some(n as u32),
                            _ => return Err(Diagnostic::error("`print(@map, N)` needs N to be a positive number", e.span, "not a count")),
                        },
                    };
                    arity(name, a.len(), 1, 2, span, "print(@map[, N])")?;
                    return output(Output::PrintMap { map, top }, Vec::new());
                }
            }
            let mut values = Vec::new();
            for e in a {
                let v = check_expr(cx, p, e, None)?;
                if v.ty == Type::Void {
                    return Err(Diagnostic::error("this has no value to print", v.span, "no value"));
                }
                values.push(v);
            }
            output(Output::Print, values)
        }
        "stack" => {
            arity(name, args.len(), 0, 0, span, "stack()")?;
            output(Output::Stack, Vec::new())
        }
        "pcap" => super::net::pcap(cx, p, name, args, span),
        "exit" => {
            arity(name, args.len(), 0, 0, span, "exit()")?;
            output(Output::Exit, Vec::new())
        }
        "clear" => {
            let a = positional(name, args)?;
            arity(name, a.len(), 1, 1, span, "clear(@map)")?;
            match &a[0].kind {
                A::Map(m) if m.keys.is_empty() => {
                    let map = cx.maps.id(&m.name, m.span);
                    output(Output::ClearMap { map }, Vec::new())
                }
                _ => Err(Diagnostic::error("`clear` takes a map", a[0].span, "not a map").with_help("e.g. `clear(@drops)`")),
            }
        }
        "delete" => {
            let a = positional(name, args)?;
            arity(name, a.len(), 1, 1, span, "delete(@map[key])")?;
            match &a[0].kind {
                A::Map(m) => {
                    let (map, keys) = super::stmt::map_keys(cx, p, m)?;
                    Ok(Stmt { kind: StmtKind::MapDelete { map, keys }, span })
                }
                _ => Err(Diagnostic::error("`delete` takes a map element", a[0].span, "not a map element").with_help("e.g. `delete(@start[tid])`")),
            }
        }
        n if is(n, Kind::Function) || is(n, Kind::Aggregation) || is(n, Kind::Network) => {
            let v = check_call_expr(cx, p, name, args, span, None)?;
            Err(Diagnostic::error(format!("the value of `{n}(…)` is not used"), v.span, "unused value")
                .with_help("store it in a map or local, or print it"))
        }
        _ => {
            let Some(decl) = cx.fns.get(name.name.as_str()).copied() else {
                return Err(unknown_fn(cx, name));
            };
            let (body, _) = inline(cx, p, decl, name, args, span)?;
            Ok(Stmt { kind: StmtKind::Inline { body }, span })
        }
    }
}

/// `emit(["format",] key=value, name, …)`: a record. A bare local or
/// builtin is its own key (`emit(pid, comm)`); keys are unique, and `type`
/// is the JSON object's own.
fn emit(cx: &mut Checker, p: &mut ProbeCx, args: &[Arg], span: Span) -> Result<(Output, Vec<Expr>)> {
    let mut format = None;
    let mut fields: Vec<(Ident, Expr)> = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let (key, e) = match arg {
            Arg::Named(n, e) => (n.clone(), e),
            Arg::Positional(e) => match &e.kind {
                A::Str(fmt) if i == 0 => {
                    let pieces = super::format::parse(fmt).map_err(|why| Diagnostic::error("invalid emit format", e.span, why))?;
                    format = Some((pieces, e.span));
                    continue;
                }
                A::Ident(n) => (Ident { name: n.clone(), span: e.span }, e),
                _ => {
                    return Err(Diagnostic::error("this field of `emit` has no name", e.span, "unnamed value")
                        .with_help("name it: `emit(name=value, …)`; a bare local or builtin names itself: `emit(pid, comm)`"))
                }
            },
        };
        if key.name == "type" {
            return Err(Diagnostic::error("`type` cannot name a field of `emit`", key.span, "reserved key")
                .with_note("in JSON, `type` says what each object is (`record`)")
                .with_help("use another name, e.g. `kind`"));
        }
        if let Some((first, _)) = fields.iter().find(|(k, _)| k.name == key.name) {
            return Err(Diagnostic::error(format!("field `{}` is given twice", key.name), key.span, "second time")
                .with_secondary(first.span, "first time")
                .with_help("a record's keys are unique: rename one"));
        }
        let v = check_expr(cx, p, e, None)?;
        if v.ty == Type::Void {
            return Err(Diagnostic::error("this has no value to emit", v.span, "no value"));
        }
        fields.push((key, v));
    }
    if fields.is_empty() {
        return Err(Diagnostic::error("`emit` needs at least one field", span, "empty record").with_help("usage: emit([\"format\",] name=value, …)"));
    }
    let format = match format {
        None => None,
        Some((pieces, fmt_span)) => {
            let convs: Vec<char> = pieces.iter().filter_map(|p| if let FmtPiece::Arg { conv, .. } = p { Some(*conv) } else { None }).collect();
            if convs.len() != fields.len() {
                return Err(Diagnostic::error(
                    format!("the format has {} conversion{} for {} field{}", convs.len(), plural(convs.len()), fields.len(), plural(fields.len())),
                    fmt_span,
                    "one conversion per field, in order",
                ));
            }
            for (conv, (_, v)) in convs.iter().zip(&fields) {
                check_conversion(*conv, v)?;
            }
            Some(pieces)
        }
    };
    let (keys, values) = fields.into_iter().map(|(k, v)| (k.name, v)).unzip();
    Ok((Output::Emit { keys, format }, values))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn check_conversion(conv: char, v: &Expr) -> Result<()> {
    let ok = match conv {
        's' => v.ty != Type::Void,
        'r' => matches!(v.ty, Type::Buf { .. } | Type::Str { .. } | Type::Array { elem: 1, .. }),
        'p' => matches!(v.ty, Type::Addr | Type::Sym | Type::Ptr { .. } | Type::Int { .. }),
        _ => v.ty.is_integer() || matches!(v.ty, Type::Ptr { .. }),
    };
    if ok {
        Ok(())
    } else {
        Err(Diagnostic::error(format!("`%{conv}` cannot print a {}", type_name(&v.ty)), v.span, "mismatched conversion")
            .with_help("`%s` prints any value in its natural form"))
    }
}

/// Inline fn `decl` at this call: parameters become locals of a fresh
/// scope, `return` jumps to the end. Returns the body and, when the fn
/// returns a value, the local holding it.
/// fns active at once while inlining: each adds a level to checking and
/// code generation.
pub(crate) const MAX_INLINE_DEPTH: usize = 16;
/// Source bytes of fn bodies inlined into one probe: every call copies the
/// body, so fns calling fns twice grow a probe exponentially.
pub(crate) const MAX_INLINED_BYTES: u64 = 256 * 1024;

/// Refuse a recursive call, a chain of calls too deep, or one more copy of
/// a fn body past the probe's budget, naming the chain of calls.
fn limit_inlining(p: &mut ProbeCx, decl: &crate::ast::FnDecl, name: &Ident, span: Span) -> Result<()> {
    let chain = |p: &ProbeCx| {
        let outer = p.call_chain();
        if outer.is_empty() {
            format!("`{}`", name.name)
        } else {
            format!("{outer} → `{}`", name.name)
        }
    };
    if p.inlining.iter().any(|f| f.name == name.name) {
        return Err(Diagnostic::error(format!("fn `{}` calls itself", name.name), span, "recursive call")
            .with_note(format!("call chain: {}", chain(p)))
            .with_note("fns are inlined, so they cannot recurse"));
    }
    if p.inlining.len() >= MAX_INLINE_DEPTH {
        return Err(Diagnostic::error(format!("fn calls nest deeper than {MAX_INLINE_DEPTH}"), span, "one call too deep")
            .with_note(format!("call chain: {}", chain(p)))
            .with_help(format!("fns are inlined, at most {MAX_INLINE_DEPTH} inside one another: call some of them one after another instead")));
    }
    p.inlined_bytes += u64::from(decl.span.end.saturating_sub(decl.span.start));
    if p.inlined_bytes > MAX_INLINED_BYTES {
        return Err(Diagnostic::error(
            format!("inlining fn `{}` here takes probe `{}` past {} KiB of inlined fn code", name.name, p.name, MAX_INLINED_BYTES / 1024),
            span,
            "one copy too many",
        )
        .with_note(format!("call chain: {}", chain(p)))
        .with_note("every call inlines a copy of the fn's body, so fns that call fns more than once grow exponentially")
        .with_help("call the fn once and keep its result with `let`"));
    }
    Ok(())
}

fn inline(
    cx: &mut Checker,
    p: &mut ProbeCx,
    decl: &crate::ast::FnDecl,
    name: &Ident,
    args: &[Arg],
    span: Span,
) -> Result<(Vec<Stmt>, Option<usize>)> {
    limit_inlining(p, decl, name, span)?;
    let a = positional(name, args)?;
    if a.len() != decl.params.len() {
        return Err(Diagnostic::error(
            format!("fn `{}` takes {} argument{}, not {}", name.name, decl.params.len(), if decl.params.len() == 1 { "" } else { "s" }, a.len()),
            span,
            "wrong number of arguments",
        )
        .with_secondary(decl.name.span, "defined here"));
    }
    let mut values = Vec::new();
    for (e, (_, ty)) in a.iter().zip(&decl.params) {
        let v = check_expr(cx, p, e, None)?;
        if let Some(t) = ty {
            check_param_type(cx, t, &v)?;
        }
        values.push(v);
    }
    let result = p.fresh(&format!("{}.result", name.name), Type::Void, span);
    let saved = p.enter_fn();
    let mut body = Vec::new();
    for ((param, _), v) in decl.params.iter().zip(values) {
        let local = p.declare(&param.name, v.ty.clone(), param.span);
        body.push(Stmt { kind: StmtKind::Let { local, value: v }, span: param.span });
    }
    p.inlining.push(InlineFrame { name: name.name.clone(), result, ret: None });
    let checked = super::stmt::check_stmts(cx, p, &decl.body);
    let frame = p.inlining.pop().expect("pushed above");
    p.leave_fn(saved);
    body.extend(checked?);
    match frame.ret {
        Some((ty, _)) => {
            p.locals[result].ty = ty;
            Ok((body, Some(result)))
        }
        None => Ok((body, None)),
    }
}

fn check_param_type(cx: &mut Checker, t: &crate::ast::TypeName, v: &Expr) -> Result<()> {
    use crate::ast::TypeNameKind;
    let ok = match &t.kind {
        TypeNameKind::Named(n) => match n.as_str() {
            "str" => matches!(v.ty, Type::Str { .. }),
            "bool" => v.ty == Type::Bool,
            "duration" => matches!(v.ty, Type::Duration | Type::Int { .. }),
            "ip" => v.ty == Type::Ip4,
            "addr" => matches!(v.ty, Type::Addr | Type::Sym | Type::Ptr { .. }),
            n => super::params::int_type(n).is_some() && matches!(v.ty, Type::Int { .. }),
        },
        TypeNameKind::Enum(e) => matches!(v.ty, Type::Enum(id) if cx.enums[id].name == *e),
        TypeNameKind::EnumSet(e) => matches!(v.ty, Type::Flags(id) if cx.enums[id].name == *e),
        TypeNameKind::StructPtr(s) => {
            matches!(&v.ty, Type::Ptr { target, .. } if matches!(&**target, crate::kernel::KType::Struct { name, .. } if name == s))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Diagnostic::error(format!("expected a value of the parameter's type, found a {}", type_name(&v.ty)), v.span, "mismatched argument")
            .with_secondary(t.span, "parameter type"))
    }
}

/// `ntohs`/`htons` (2 bytes), `ntohl`/`htonl` (4), `bswap` (the value's
/// own width): the bytes of an integer in reverse order, built from shifts
/// and masks. BPF runs little-endian here (x86), so network order is
/// always the reverse.
fn byte_swap(cx: &mut Checker, p: &mut ProbeCx, name: &Ident, args: &[Arg], span: Span) -> Result<Expr> {
    let a = positional(name, args)?;
    arity(name, a.len(), 1, 1, span, &format!("{}(value)", name.name))?;
    let v = check_expr(cx, p, a[0], None)?;
    let Type::Int { size, .. } = v.ty else {
        return Err(Diagnostic::error(format!("`{}` needs an integer, not a {}", name.name, type_name(&v.ty)), v.span, "not an integer"));
    };
    let width: u8 = match name.name.as_str() {
        "ntohs" | "htons" => 2,
        "ntohl" | "htonl" => 4,
        _ => size,
    };
    let mk = |kind: T, ty: Type| Expr { kind, ty, span };
    let bin = |op: ast::BinOp, lhs: Expr, rhs: Expr| mk(T::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), signed: false }, Type::U64);
    let int = |n: u64| mk(T::Const(n), Type::U64);
    let mut out: Option<Expr> = None;
    for i in 0..width as u64 {
        let byte = bin(ast::BinOp::BitAnd, bin(ast::BinOp::Shr, v.clone(), int(8 * i)), int(0xff));
        let moved = bin(ast::BinOp::Shl, byte, int(8 * (width as u64 - 1 - i)));
        out = Some(match out {
            None => moved,
            Some(acc) => bin(ast::BinOp::BitOr, acc, moved),
        });
    }
    let out = out.unwrap_or_else(|| int(0));
    Ok(Expr { ty: Type::Int { size: width, signed: false }, ..out })
}
