//! Typing expressions.

use crate::ast::{self, BinOp, ExprKind as A, TypeNameKind, UnOp};
use crate::diag::Diagnostic;
use crate::kernel::KType;
use crate::source::Span;
use crate::tir::{Access, Builtin, Expr, ExprKind as T};
use crate::types::Type;

use super::probes::ArgSource;
use super::scope::ProbeCx;
use super::Checker;

pub(crate) type Result<T> = std::result::Result<T, Diagnostic>;

pub(crate) fn type_name(t: &Type) -> String {
    match t {
        Type::Int { size, signed } => format!("{}{}", if *signed { 's' } else { 'u' }, *size as u32 * 8),
        Type::Bool => "bool".into(),
        Type::Str { .. } => "str".into(),
        Type::Buf { joined: false, .. } => "buf".into(),
        Type::Buf { joined: true, .. } => "joined strings".into(),
        Type::Array { elem, signed, len } => format!("{}{}[{len}]", if *signed { 's' } else { 'u' }, *elem as u32 * 8),
        Type::Addr => "addr".into(),
        Type::Sym => "sym".into(),
        Type::USym => "usym".into(),
        Type::Ptr { target, .. } => match &**target {
            KType::Struct { name, .. } => format!("struct {name} *"),
            KType::Union { name, .. } => format!("union {name} *"),
            KType::Int { is_char: true, .. } => "char *".into(),
            _ => "pointer".into(),
        },
        Type::Enum(_) => "enum".into(),
        Type::Duration => "duration".into(),
        Type::Time => "time".into(),
        Type::TimeText(_) => "formatted time".into(),
        Type::Ip4 => "ip".into(),
        Type::Ip6 => "ip6".into(),
        Type::KStack(_) => "kstack".into(),
        Type::UStack => "ustack".into(),
        Type::Tuple => "tuple".into(),
        Type::Flow => "flow".into(),
        Type::Ct => "conntrack entry".into(),
        Type::Netns => "netns".into(),
        Type::NfHook(_) => "netfilter hook".into(),
        Type::NfRule(_) => "netfilter rule".into(),
        Type::Cause { .. } => "drop cause".into(),
        Type::Flags(_) => "flags".into(),
        Type::Void => "nothing".into(),
    }
}

/// Up to three candidates close to `name` (Jaro-Winkler above 0.8),
/// closest first.
pub fn near_misses(name: &str, candidates: &[String]) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> =
        candidates.iter().filter(|c| may_be_near(name, c)).map(|c| (strsim::jaro_winkler(name, c), c)).filter(|(s, _)| *s > 0.8).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out: Vec<String> = Vec::new();
    for (_, c) in scored {
        if !out.contains(c) {
            out.push(c.clone());
        }
        if out.len() == 3 {
            break;
        }
    }
    out
}

/// False only when `a` and `b` cannot be near (a cheap test, in one pass,
/// before the quadratic one; a probe name not found is compared with every
/// tracepoint). Jaro-Winkler above 0.8 needs Jaro above 2/3 (the prefix
/// adds at most 0.4 of what is missing), and Jaro is at most
/// (m/|a| + m/|b| + 1) / 3 for m matching characters, which are at most
/// the characters the two have in common.
fn may_be_near(a: &str, b: &str) -> bool {
    if !a.is_ascii() || !b.is_ascii() || a.is_empty() || b.is_empty() {
        return true;
    }
    let mut left = [0u16; 128];
    for c in a.bytes() {
        left[c as usize] = left[c as usize].saturating_add(1);
    }
    let mut common = 0;
    for c in b.bytes() {
        if left[c as usize] > 0 {
            left[c as usize] -= 1;
            common += 1;
        }
    }
    common * (a.len() + b.len()) > a.len() * b.len()
}

fn builtin_vars() -> Vec<&'static str> {
    crate::builtins::names(crate::builtins::Kind::Variable)
}

fn mk(kind: T, ty: Type, span: Span) -> Expr {
    Expr { kind, ty, span }
}

pub(crate) fn str_const(s: &str, span: Span) -> Expr {
    let len = (s.len() + 1).div_ceil(8) * 8;
    let mut bytes = s.as_bytes().to_vec();
    bytes.resize(len, 0);
    mk(T::Bytes(bytes), Type::Str { len: len as u16 }, span)
}

fn is_literal(e: &Expr) -> bool {
    matches!(e.kind, T::Const(_)) && matches!(e.ty, Type::Int { .. })
}

/// Integer-like values that arithmetic and ordering apply to.
fn is_numeric(t: &Type) -> bool {
    matches!(t, Type::Int { .. } | Type::Duration | Type::Addr | Type::Sym)
}

pub(crate) fn check_expr(cx: &mut Checker, p: &mut ProbeCx, e: &ast::Expr, expect: Option<&Type>) -> Result<Expr> {
    p.nested(e.span, |p| expr(cx, p, e, expect))
}

fn expr(cx: &mut Checker, p: &mut ProbeCx, e: &ast::Expr, expect: Option<&Type>) -> Result<Expr> {
    let span = e.span;
    match &e.kind {
        A::Int(n) => {
            let ty = match expect {
                Some(t @ Type::Int { .. }) => t.clone(),
                _ => Type::S64,
            };
            Ok(mk(T::Const(*n), ty, span))
        }
        A::Str(s) => Ok(str_const(s, span)),
        A::Bool(b) => Ok(mk(T::Const(*b as u64), Type::Bool, span)),
        A::Duration(ns) => Ok(mk(T::Const(*ns), Type::Duration, span)),
        A::Ip(std::net::IpAddr::V4(a)) => Ok(mk(T::Const(u32::from_ne_bytes(a.octets()) as u64), Type::Ip4, span)),
        A::Ip(std::net::IpAddr::V6(a)) => {
            ipv6_not_names(cx, p, a, span)?;
            Ok(mk(T::Bytes(a.octets().to_vec()), Type::Ip6, span))
        }
        A::Cidr(..) => Err(Diagnostic::error("a CIDR prefix is not a value", span, "only meaningful as a filter")
            .with_help("compare addresses instead, e.g. `ip == 10.0.2.2`")),
        A::Ident(name) => ident(cx, p, name, span, expect),
        A::Field { base, field } => {
            if let Some(v) = param_ref(cx, p, base, field)? {
                return Ok(v);
            }
            if let Some(v) = builtin_ref(cx, p, base, field)? {
                return Ok(v);
            }
            if let Some(v) = arg_ref(p, base, field)? {
                return Ok(v);
            }
            let base = check_expr(cx, p, base, None)?;
            field_access(cx, base, field)
        }
        A::Map(m) => super::stmt::map_read(cx, p, m),
        A::Call { name, args } => super::calls::check_call_expr(cx, p, name, args, span, expect),
        A::Unary { op, operand } => unary(cx, p, *op, operand, span),
        A::Binary { op, lhs, rhs } => binary(cx, p, *op, lhs, rhs, span),
        A::Cast { ty, operand } => cast(cx, p, ty, operand, span),
        A::Cond { cond, then, otherwise } => {
            let c = check_cond(cx, p, cond)?;
            let mut a = check_expr(cx, p, then, expect)?;
            let mut b = check_expr(cx, p, otherwise, Some(&a.ty))?;
            unify_literals(&mut a, &mut b);
            let ty = common_type(&a.ty, &b.ty).ok_or_else(|| {
                Diagnostic::error("the two branches have different types", span, format!("{} and {}", type_name(&a.ty), type_name(&b.ty)))
            })?;
            Ok(mk(T::Cond { cond: Box::new(c), then: Box::new(a), otherwise: Box::new(b) }, ty, span))
        }
    }
}

/// An expression used as a condition: bools as they are, integers compared to 0.
pub(crate) fn check_cond(cx: &mut Checker, p: &mut ProbeCx, e: &ast::Expr) -> Result<Expr> {
    let v = check_expr(cx, p, e, Some(&Type::Bool))?;
    truthy(v)
}

fn truthy(v: Expr) -> Result<Expr> {
    match &v.ty {
        Type::Bool => Ok(v),
        t if t.is_integer() || matches!(t, Type::Ptr { .. }) => {
            let span = v.span;
            Ok(mk(T::Binary { op: BinOp::Ne, lhs: Box::new(v), rhs: Box::new(mk(T::Const(0), Type::U64, span)), signed: false }, Type::Bool, span))
        }
        t => Err(Diagnostic::error(format!("a {} cannot be a condition", type_name(t)), v.span, "not true or false")
            .with_help("compare it with something, e.g. `x == \"name\"`")),
    }
}

/// `params.NAME`: a parameter even where a probe argument or local has the
/// same name (dropwatch's `reason` parameter vs kfree_skb's `reason`).
pub(crate) fn param_ref(cx: &Checker, p: &ProbeCx, base: &ast::Expr, field: &ast::Ident) -> Result<Option<Expr>> {
    let A::Ident(name) = &base.kind else { return Ok(None) };
    if name != "params" || p.lookup(name).is_some() || p.arg(name).is_some() {
        return Ok(None);
    }
    match cx.params.get(&field.name) {
        Some(v) => Ok(Some(param_value(v, base.span.to(field.span)))),
        None => {
            let names: Vec<String> = cx.params.keys().cloned().collect();
            let near = near_misses(&field.name, &names);
            let mut d = Diagnostic::error(format!("unknown parameter `{}`", field.name), field.span, "no such param");
            if !near.is_empty() {
                d = d.with_help(format!("did you mean {}?", super::probes::quote_list(&near)));
            }
            Err(d)
        }
    }
}

/// `builtin.NAME`: a builtin even where a probe argument, parameter or
/// local has the same name (`sys_enter_kill`'s `pid` vs the task's).
fn builtin_ref(cx: &Checker, p: &ProbeCx, base: &ast::Expr, field: &ast::Ident) -> Result<Option<Expr>> {
    let A::Ident(name) = &base.kind else { return Ok(None) };
    if name != "builtin" || p.lookup(name).is_some() || p.arg(name).is_some() {
        return Ok(None);
    }
    let span = base.span.to(field.span);
    builtin_var(cx, p, &field.name, span)?.map(Some).ok_or_else(|| {
        let near = near_misses(&field.name, &builtin_vars().iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let d = Diagnostic::error(format!("unknown builtin `{}`", field.name), field.span, "no such builtin");
        d.with_help(if near.is_empty() {
            format!("builtins: {}", builtin_vars().join(", "))
        } else {
            format!("did you mean {}?", super::probes::quote_list(&near))
        })
    })
}

/// `args.NAME`: the probe's argument, named so (no warning where it has a
/// builtin's name: `args.pid` in `sys_enter_kill` is the target).
fn arg_ref(p: &ProbeCx, base: &ast::Expr, field: &ast::Ident) -> Result<Option<Expr>> {
    let A::Ident(name) = &base.kind else { return Ok(None) };
    if name != "args" || p.lookup(name).is_some() || p.arg(name).is_some() {
        return Ok(None);
    }
    let span = base.span.to(field.span);
    match p.arg(&field.name) {
        Some(arg) => Ok(Some(arg_expr(arg, span))),
        None => {
            let mut names: Vec<String> = p.args.iter().map(|a| a.name.clone()).collect();
            names.dedup();
            let d = Diagnostic::error(format!("`{}` has no argument `{}`", p.name, field.name), field.span, "no such argument");
            let d = if names.is_empty() { d } else { d.with_help(format!("its arguments: {}", names.join(", "))) };
            Err(record_field_note(p, &field.name, d))
        }
    }
}

/// Where `name` is a field of the tracepoint's tracefs record (what
/// bpftrace's `args.NAME` reads), how to reach it: the probe attaches as
/// tp_btf, whose arguments are the tracepoint's own.
fn record_field_note(p: &ProbeCx, name: &str, d: Diagnostic) -> Diagnostic {
    if !p.record_fields.iter().any(|f| f == name) {
        return d;
    }
    let tracefs = p.name.replacen("tracepoint:", "tracefs:", 1);
    d.with_note(format!(
        "`{name}` is a field of the tracepoint's tracefs record; `{}` attaches as tp_btf, whose arguments are the tracepoint's own",
        p.name
    ))
    .with_help(format!("`on {tracefs}` reads the record's fields instead"))
}

/// A probe argument's value, read from where the context holds it.
fn arg_expr(arg: &super::probes::Arg, span: Span) -> Expr {
    let kind = match arg.source {
        ArgSource::Slot(i) => T::CtxSlot(i),
        ArgSource::Field { offset, size, signed } => T::CtxField { offset, size, signed },
        ArgSource::DataLocStr { offset } => T::CtxDataLocStr { offset },
    };
    mk(kind, arg.ty.clone(), span)
}

/// The function or tracepoint a probe is on, from its resolved name
/// (`kprobe:tcp_v4_rcv+0x10` → `tcp_v4_rcv`, `uprobe:libc:getaddrinfo` →
/// `getaddrinfo`, `tracepoint:skb:kfree_skb` → `kfree_skb`).
fn probe_func(probe: &str) -> Option<&str> {
    let kind = probe.split([':', ' ']).next().unwrap_or(probe);
    if matches!(kind, "begin" | "end" | "every" | "profile") {
        return None;
    }
    let last = probe.rsplit(':').next().unwrap_or(probe);
    Some(last.split('+').next().unwrap_or(last))
}

/// The builtin variable `name` (`pid`, `comm`, `kstack`…); `None` for a
/// name the catalogue has no variable of, an error for one that has no
/// value here (`cpid` without `-c`, `func` in `begin`).
fn builtin_var(cx: &Checker, p: &ProbeCx, name: &str, span: Span) -> Result<Option<Expr>> {
    let builtin = |b: Builtin, ty: Type| Some(mk(T::Builtin(b), ty, span));
    if !crate::builtins::is(name, crate::builtins::Kind::Variable) {
        return Ok(None);
    }
    Ok(match name {
        "pid" => builtin(Builtin::Pid, Type::Int { size: 4, signed: false }),
        "tid" => builtin(Builtin::Tid, Type::Int { size: 4, signed: false }),
        "uid" => builtin(Builtin::Uid, Type::Int { size: 4, signed: false }),
        "gid" => builtin(Builtin::Gid, Type::Int { size: 4, signed: false }),
        "comm" => builtin(Builtin::Comm, Type::Str { len: 16 }),
        "cpu" => builtin(Builtin::Cpu, Type::Int { size: 4, signed: false }),
        "nsecs" => builtin(Builtin::Nsecs, Type::U64),
        "walltime" => builtin(Builtin::Walltime, Type::Time),
        "elapsed" => builtin(Builtin::Elapsed, Type::Duration),
        // Read through bpf_probe_read_kernel (the helper's result is a plain
        // number to the verifier in most program types).
        "curtask" => {
            let task = cx
                .kernel
                .struct_by_name("task_struct")
                .ok_or_else(|| Diagnostic::error("`curtask` needs `struct task_struct`, which this kernel's BTF lacks", span, "no task type"))?;
            builtin(Builtin::CurTask, Type::Ptr { target: Box::new(task), trusted: false })
        }
        "cgroup" => builtin(Builtin::Cgroup, Type::U64),
        "cpid" => {
            let pid = cx.cpid.ok_or_else(|| {
                Diagnostic::error("`cpid` is the pid of the command `-c CMD` runs", span, "no -c command")
                    .with_help("run the script with `-c 'COMMAND ARGS'`")
            })?;
            Some(mk(T::Const(pid as u64), Type::U32, span))
        }
        "kstack" => builtin(Builtin::KStack(0), Type::KStack(0)),
        "ustack" => builtin(Builtin::UStack, Type::UStack),
        "probe" => Some(str_const(&p.name, span)),
        "func" => {
            let f = probe_func(&p.name).ok_or_else(|| {
                Diagnostic::error(format!("`func` is the name of a probed function or tracepoint: `{}` has none", p.name), span, "no function here")
                    .with_help("`probe` names any probe")
            })?;
            Some(str_const(f, span))
        }
        _ => None,
    })
}

fn param_value(v: &super::ParamValue, span: Span) -> Expr {
    match &v.bytes {
        Some(b) => mk(T::Bytes(b.clone()), v.ty.clone(), span),
        None => mk(T::Const(v.int), v.ty.clone(), span),
    }
}

fn ident(cx: &mut Checker, p: &mut ProbeCx, name: &str, span: Span, expect: Option<&Type>) -> Result<Expr> {
    if let Some(id) = p.lookup(name) {
        return Ok(mk(T::Local(id), p.locals[id].ty.clone(), span));
    }
    // Probe arguments shadow parameters; `params.NAME` reaches a shadowed one.
    if let Some(arg) = p.arg(name) {
        if crate::builtins::is(name, crate::builtins::Kind::Variable) {
            let w = Diagnostic::warning(format!("`{name}` is `{}`'s argument here, not the builtin", p.name), span, "the probe's argument")
                .with_help(format!("`builtin.{name}` is the builtin; `args.{name}` names the argument (and says nothing)"));
            if !cx.warnings.iter().any(|x| x.message == w.message) {
                cx.warnings.push(w);
            }
        }
        return Ok(arg_expr(arg, span));
    }
    if let Some(v) = cx.params.get(name) {
        return Ok(param_value(v, span));
    }
    if let Some(&(value, _)) = cx.consts.get(name) {
        return Ok(mk(T::Const(value as u64), Type::S64, span));
    }
    if let Some(b) = builtin_var(cx, p, name, span)? {
        return Ok(b);
    }
    if let Some(Type::Enum(eid)) = expect {
        if let Some(v) = cx.enum_value(*eid, name) {
            return Ok(mk(T::Const(v as u64), Type::Enum(*eid), span));
        }
        let near = near_misses(name, &cx.enum_names(*eid));
        let mut d = Diagnostic::error(format!("`{name}` is not a value of enum {}", cx.enums[*eid].name), span, "unknown enum value");
        if !near.is_empty() {
            d = d.with_help(format!("did you mean {}?", super::probes::quote_list(&near)));
        }
        return Err(d);
    }
    if let Some((KType::Enum { id, .. }, v)) = cx.kernel.enum_constant(name) {
        let eid = super::ktypes::register_enum(cx, id);
        return Ok(mk(T::Const(v as u64), Type::Enum(eid), span));
    }
    let mut candidates = p.visible_names();
    candidates.extend(cx.params.keys().cloned());
    candidates.extend(cx.consts.keys().cloned());
    candidates.extend(builtin_vars().iter().map(|s| s.to_string()));
    let near = near_misses(name, &candidates);
    let mut d = Diagnostic::error(format!("unknown name `{name}`"), span, "not a local, parameter, probe argument or builtin");
    if !near.is_empty() {
        d = d.with_help(format!("did you mean {}?", super::probes::quote_list(&near)));
    }
    if !p.args.is_empty() {
        let mut args: Vec<String> = p.args.iter().map(|a| a.name.clone()).collect();
        args.dedup();
        d = d.with_note(format!("`{}` has arguments: {}", p.name, args.join(", ")));
    }
    d = record_field_note(p, name, d);
    if let Some(since) = p.name.strip_prefix("tracepoint:").and_then(|tp| crate::kernel::history::argument_since(tp, name)) {
        d = d
            .with_note(format!("`{name}` is an argument of `{}` since Linux {since}; this kernel's tracepoint predates it", p.name))
            .with_help(format!("to run on both, guard its uses: `if has({name}) {{ … }} else {{ … }}`"));
    }
    Err(d)
}

/// `base.field` through BTF. Embedded structs are kept as `base + offset`
/// pointers so nested fields fold into one load.
pub(crate) fn field_access(cx: &mut Checker, base: Expr, field: &ast::Ident) -> Result<Expr> {
    if matches!(base.ty, Type::Tuple | Type::Flow | Type::Ct) {
        return super::net::field(cx, base, field);
    }
    let span = base.span.to(field.span);
    let Type::Ptr { target, trusted } = &base.ty else {
        return Err(Diagnostic::error(
            format!("a {} has no fields", type_name(&base.ty)),
            field.span,
            format!("`.{}` on a {}", field.name, type_name(&base.ty)),
        )
        .with_help("fields are read through kernel struct pointers, e.g. `skb.len`; cast an address first: `((struct sk_buff *)addr).len`"));
    };
    let trusted = *trusted;
    let (id, struct_name) = match &**target {
        KType::Struct { id, name, .. } => (*id, format!("struct {name}")),
        KType::Union { id, name, .. } => (*id, format!("union {name}")),
        _ => return Err(Diagnostic::error(format!("a {} has no fields", type_name(&base.ty)), field.span, "not a struct")),
    };
    let Some(m) = cx.kernel.member(id, &field.name) else {
        let members = cx.kernel.members(id);
        let names: Vec<String> = members.iter().map(|m| m.name.clone()).filter(|n| !n.is_empty()).collect();
        let near = near_misses(&field.name, &names);
        let mut d = Diagnostic::error(format!("{struct_name} has no field `{}`", field.name), field.span, "unknown field");
        if !near.is_empty() {
            d = d.with_help(format!("did you mean {}?", super::probes::quote_list(&near)));
        }
        return Err(
            d.with_note(format!("`ntr info struct {}` lists its fields", struct_name.trim_start_matches("struct ").trim_start_matches("union ")))
        );
    };
    let (root, base_off) = match base.kind {
        T::Binary { op: BinOp::Add, lhs, rhs, .. } if matches!(base.ty, Type::Ptr { .. }) => match rhs.kind {
            T::Const(off) => (*lhs, off as u32),
            _ => unreachable_embedded(span)?,
        },
        _ => (base, 0),
    };
    let access = if trusted { Access::Direct } else { Access::ProbeRead };
    let offset = base_off + m.offset_bits / 8;
    if let Some(width) = m.bitfield_bits.filter(|w| *w > 0) {
        let unit = m.ty.size().clamp(1, 8);
        let unit_off = m.offset_bits / (unit * 8) * unit;
        let shift = (m.offset_bits - unit_off * 8) as u8;
        let ty = super::ktypes::value_type(cx, &m.ty, false).unwrap_or(Type::U64);
        let kind = T::Load {
            base: Box::new(root),
            offset: base_off + unit_off,
            size: unit as u8,
            signed: false,
            bitfield: Some((shift, width)),
            access: Access::ProbeRead,
        };
        return Ok(mk(kind, ty, span));
    }
    match &m.ty {
        KType::Struct { .. } | KType::Union { .. } => {
            let ty = Type::Ptr { target: Box::new(m.ty.clone()), trusted };
            let off = mk(T::Const(offset as u64), Type::U64, field.span);
            Ok(mk(T::Binary { op: BinOp::Add, lhs: Box::new(root), rhs: Box::new(off), signed: false }, ty, span))
        }
        KType::Array { .. } => match super::ktypes::value_type(cx, &m.ty, trusted) {
            Some(ty @ (Type::Str { .. } | Type::Array { .. })) => Ok(mk(T::LoadStr { base: Box::new(root), offset, access }, ty, span)),
            _ => Err(Diagnostic::error(
                format!("field `{}` is an array of {}", field.name, cx.kernel.type_name(&m.ty)),
                field.span,
                "only arrays of integers (up to 4096 bytes) can be read",
            )),
        },
        KType::Int { .. } | KType::Enum { .. } | KType::Ptr { .. } => {
            let ty = super::ktypes::value_type(cx, &m.ty, trusted).unwrap_or(Type::U64);
            let (size, signed) = match &m.ty {
                KType::Int { size, signed, .. } => (*size, *signed),
                KType::Enum { size, signed, .. } => (*size, *signed),
                _ => (8, false),
            };
            Ok(mk(T::Load { base: Box::new(root), offset, size, signed, bitfield: None, access }, ty, span))
        }
        other => Err(Diagnostic::error(
            format!("field `{}` has type {}, which ntr cannot read", field.name, cx.kernel.type_name(other)),
            field.span,
            "unreadable field",
        )),
    }
}

fn unreachable_embedded(span: Span) -> Result<(Expr, u32)> {
    Err(Diagnostic::error("cannot read a field here", span, "unexpected pointer arithmetic"))
}

fn unary(cx: &mut Checker, p: &mut ProbeCx, op: UnOp, operand: &ast::Expr, span: Span) -> Result<Expr> {
    match op {
        UnOp::Deref => deref(cx, p, operand, span),
        UnOp::Not => {
            let v = check_cond(cx, p, operand)?;
            Ok(mk(T::Unary { op, operand: Box::new(v) }, Type::Bool, span))
        }
        UnOp::Neg | UnOp::BitNot => {
            let v = check_expr(cx, p, operand, None)?;
            if !is_numeric(&v.ty) {
                return Err(Diagnostic::error(
                    format!("cannot apply `{}` to a {}", if op == UnOp::Neg { "-" } else { "~" }, type_name(&v.ty)),
                    v.span,
                    "not a number",
                ));
            }
            let ty = if op == UnOp::Neg { Type::S64 } else { Type::Int { size: 8, signed: v.ty.is_signed() } };
            Ok(mk(T::Unary { op, operand: Box::new(v) }, ty, span))
        }
    }
}

/// `*p`: the integer, enum or pointer a typed pointer points to, read from
/// kernel memory, else user memory (a syscall's `int *`). A struct is read
/// field by field (`p.f`), and an address has no type to read.
fn deref(cx: &mut Checker, p: &mut ProbeCx, operand: &ast::Expr, span: Span) -> Result<Expr> {
    let v = check_expr(cx, p, operand, None)?;
    let Type::Ptr { target, .. } = &v.ty else {
        return Err(Diagnostic::error(format!("`*` needs a typed pointer; this is of type {}", type_name(&v.ty)), v.span, "nothing to read through")
            .with_help("a struct's pointer fields have a type (`*curtask.clear_child_tid`); an address needs one: `((struct sk_buff *)addr).len`"));
    };
    let (size, signed) = match &**target {
        KType::Int { size, signed, .. } | KType::Enum { size, signed, .. } => (*size, *signed),
        KType::Ptr { .. } => (8, false),
        KType::Struct { .. } | KType::Union { .. } => {
            return Err(Diagnostic::error("`*` of a struct pointer", span, "a struct is not one value").with_help("read its fields: `p.field`"))
        }
        other => return Err(Diagnostic::error(format!("`*` cannot read a {}", cx.kernel.type_name(other)), span, "unreadable")),
    };
    let ty = super::ktypes::value_type(cx, target, false).unwrap_or(Type::U64);
    Ok(mk(T::Load { base: Box::new(v), offset: 0, size, signed, bitfield: None, access: Access::ProbeRead }, ty, span))
}

/// A literal on one side takes the type of the other side.
fn unify_literals(a: &mut Expr, b: &mut Expr) {
    if is_literal(a) && !is_literal(b) && matches!(b.ty, Type::Int { .. }) {
        a.ty = b.ty.clone();
    } else if is_literal(b) && !is_literal(a) && matches!(a.ty, Type::Int { .. }) {
        b.ty = a.ty.clone();
    }
}

fn common_type(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        (Type::Int { size: s1, signed: g1 }, Type::Int { size: s2, signed: g2 }) => Some(Type::Int { size: *s1.max(s2), signed: *g1 && *g2 }),
        (Type::Str { len: l1 }, Type::Str { len: l2 }) => Some(Type::Str { len: *l1.max(l2) }),
        _ if a == b => Some(a.clone()),
        _ => None,
    }
}

fn binary(cx: &mut Checker, p: &mut ProbeCx, op: BinOp, lhs: &ast::Expr, rhs: &ast::Expr, span: Span) -> Result<Expr> {
    if matches!(op, BinOp::And | BinOp::Or) {
        let l = check_cond(cx, p, lhs)?;
        let r = check_cond(cx, p, rhs)?;
        return Ok(mk(T::Binary { op, lhs: Box::new(l), rhs: Box::new(r), signed: false }, Type::Bool, span));
    }
    let mut l = check_expr(cx, p, lhs, None)?;
    // The left side's type guides the right (enum names, literal widths).
    let mut r = check_expr(cx, p, rhs, Some(&l.ty))?;
    if matches!(r.ty, Type::Enum(_)) && matches!(lhs.kind, A::Ident(_)) && !matches!(l.ty, Type::Enum(_)) {
        // `NO_SOCKET == reason`: re-read the left side as a name of the right's enum.
        if let Ok(again) = check_expr(cx, p, lhs, Some(&r.ty)) {
            l = again;
        }
    }
    unify_literals(&mut l, &mut r);
    let signed = l.ty.is_signed() && r.ty.is_signed();
    let comparison = matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge);
    if comparison {
        let ok = match (&l.ty, &r.ty) {
            (a, b) if is_numeric(a) && is_numeric(b) => true,
            (Type::Enum(a), Type::Enum(b)) => a == b,
            (Type::Enum(_), Type::Int { .. }) | (Type::Int { .. }, Type::Enum(_)) => true,
            (Type::Netns, Type::Netns | Type::Int { .. }) | (Type::Int { .. }, Type::Netns) => matches!(op, BinOp::Eq | BinOp::Ne),
            (Type::Flags(a), Type::Flags(b)) => a == b,
            (Type::Time, Type::Time) => true,
            (Type::Flags(_), Type::Int { .. }) | (Type::Int { .. }, Type::Flags(_)) => true,
            (Type::Str { .. }, Type::Str { .. }) | (Type::Bool, Type::Bool) | (Type::Ip4, Type::Ip4) => matches!(op, BinOp::Eq | BinOp::Ne),
            (Type::Ptr { .. }, b) | (b, Type::Ptr { .. }) => is_numeric(b) || matches!(b, Type::Ptr { .. }),
            _ => false,
        };
        if !ok {
            return Err(Diagnostic::error(format!("cannot compare a {} with a {}", type_name(&l.ty), type_name(&r.ty)), span, "mismatched types")
                .with_secondary(l.span, type_name(&l.ty))
                .with_secondary(r.span, type_name(&r.ty)));
        }
        return Ok(mk(T::Binary { op, lhs: Box::new(l), rhs: Box::new(r), signed }, Type::Bool, span));
    }
    // Moments on the clock: their difference is a duration.
    if (&l.ty, &r.ty, op) == (&Type::Time, &Type::Time, BinOp::Sub) {
        return Ok(mk(T::Binary { op, lhs: Box::new(l), rhs: Box::new(r), signed: false }, Type::Duration, span));
    }
    for side in [&l, &r] {
        if !is_numeric(&side.ty) && !matches!(side.ty, Type::Ptr { .. }) {
            return Err(Diagnostic::error(format!("cannot do arithmetic on a {}", type_name(&side.ty)), side.span, "not a number"));
        }
    }
    constant_operand(op, &r)?;
    let ty = match (&l.ty, &r.ty, op) {
        (Type::Duration, _, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) | (_, Type::Duration, BinOp::Add | BinOp::Mul) => Type::Duration,
        (Type::Addr | Type::Ptr { .. }, _, BinOp::Add | BinOp::Sub) => Type::Addr,
        _ => Type::Int { size: 8, signed },
    };
    Ok(mk(T::Binary { op, lhs: Box::new(l), rhs: Box::new(r), signed }, ty, span))
}

/// A constant right side the verifier would refuse: a division by zero, a
/// shift past 63 bits (or by a negative amount).
fn constant_operand(op: BinOp, r: &Expr) -> Result<()> {
    let v = match &r.kind {
        T::Const(v) => *v,
        T::Unary { op: UnOp::Neg, operand } => match operand.kind {
            T::Const(v) => v.wrapping_neg(),
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    match op {
        BinOp::Div | BinOp::Mod if v == 0 => {
            Err(Diagnostic::error(if op == BinOp::Div { "division by zero" } else { "remainder of a division by zero" }, r.span, "this is 0")
                .with_help("divide by a value that cannot be 0, or test it first: `x != 0 ? y / x : 0`"))
        }
        BinOp::Shl | BinOp::Shr if v >= 64 => {
            Err(Diagnostic::error(format!("a shift by {} bits is out of range", v as i64), r.span, "not from 0 to 63")
                .with_help("values are 64 bits wide: shift by 0 to 63"))
        }
        _ => Ok(()),
    }
}

fn cast(cx: &mut Checker, p: &mut ProbeCx, ty: &ast::TypeName, operand: &ast::Expr, span: Span) -> Result<Expr> {
    let v = check_expr(cx, p, operand, None)?;
    if !is_numeric(&v.ty) && !matches!(v.ty, Type::Ptr { .. } | Type::Enum(_) | Type::Bool) {
        return Err(Diagnostic::error(format!("cannot cast a {}", type_name(&v.ty)), v.span, "not a number or pointer"));
    }
    match &ty.kind {
        TypeNameKind::Named(n) => {
            if let Some(t @ Type::Int { size, signed }) = super::params::int_type(n) {
                return Ok(mk(T::Convert { operand: Box::new(v), size, signed }, t, span));
            }
            match n.as_str() {
                "addr" => Ok(Expr { ty: Type::Addr, ..v }),
                "bool" => truthy(v),
                _ => Err(Diagnostic::error(format!("cannot cast to `{n}`"), ty.span, "not a cast target")
                    .with_help("casts: (u8)…(u64), (s8)…(s64), (addr), (bool), (enum NAME), (enum NAME[]), (struct NAME *)")),
            }
        }
        TypeNameKind::StructPtr(name) => match cx.kernel.struct_by_name(name) {
            Some(k) => Ok(Expr { ty: Type::Ptr { target: Box::new(k), trusted: false }, span, ..v }),
            None => Err(Diagnostic::error(format!("unknown kernel struct `{name}`"), ty.span, "not in this kernel's BTF")),
        },
        // An anonymous enum is named by one of its constants: `(enum TCP_ESTABLISHED)`.
        TypeNameKind::Enum(name) => match cx.kernel.enum_by_name(name).or_else(|| cx.kernel.enum_constant(name).map(|(k, _)| k)) {
            Some(KType::Enum { id, .. }) => {
                let eid = super::ktypes::register_enum(cx, id);
                Ok(Expr { ty: Type::Enum(eid), span, ..v })
            }
            _ => Err(Diagnostic::error(format!("unknown kernel enum `{name}`"), ty.span, "not in this kernel's BTF")
                .with_help("name an enum, or an anonymous one by a constant it defines: `(enum TCP_ESTABLISHED)state`")),
        },
        // A set of the enum's values: bit N stands for value N.
        TypeNameKind::EnumSet(name) => match cx.kernel.enum_by_name(name).or_else(|| cx.kernel.enum_constant(name).map(|(k, _)| k)) {
            Some(KType::Enum { id, .. }) if is_numeric(&v.ty) => {
                let eid = super::ktypes::register_enum(cx, id);
                Ok(Expr { ty: Type::Flags(eid), span, ..v })
            }
            Some(KType::Enum { .. }) => Err(Diagnostic::error(format!("cannot read a {} as a set", type_name(&v.ty)), v.span, "not a number")),
            _ => Err(Diagnostic::error(format!("unknown kernel enum `{name}`"), ty.span, "not in this kernel's BTF")
                .with_help("name an enum, or an anonymous one by a constant it defines: `(enum nf_inet_hooks[])mask`")),
        },
    }
}

/// `a::b` is an IPv6 address to the lexer: where its groups are also names
/// in scope (`@x[a::b]` with locals `a` and `b`), refuse to guess.
fn ipv6_not_names(cx: &Checker, p: &ProbeCx, addr: &std::net::Ipv6Addr, span: Span) -> Result<()> {
    let text = addr.to_string();
    let groups: Vec<&str> = text.split(':').filter(|g| !g.is_empty()).collect();
    let named: Vec<&str> = groups.iter().copied().filter(|g| p.lookup(g).is_some() || p.arg(g).is_some() || cx.params.contains_key(*g)).collect();
    if groups.iter().all(|g| g.starts_with(|c: char| c.is_ascii_alphabetic())) && !named.is_empty() {
        let quoted: Vec<String> = named.iter().map(|n| format!("`{n}`")).collect();
        return Err(Diagnostic::error(
            format!(
                "`{text}` reads as an IPv6 address, but {} also name{} values here",
                quoted.join(" and "),
                if named.len() == 1 { "s" } else { "" }
            ),
            span,
            "an IPv6 address literal",
        )
        .with_help("ntr has no `::` operator: separate map keys with a comma (`@x[a, b]`); if the address is meant, rename the variables"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The cheap test never rules out a pair the full one finds near.
    #[test]
    fn may_be_near_keeps_every_near_pair() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut word = |n: u64| (0..1 + next() % n).map(|_| b"abcdeskb_"[(next() % 9) as usize] as char).collect::<String>();
        let (mut near, mut ruled_out) = (0, 0);
        for _ in 0..200_000 {
            let (a, b) = (word(12), word(12));
            let close = strsim::jaro_winkler(&a, &b) > 0.8;
            let possible = super::may_be_near(&a, &b);
            assert!(possible || !close, "{a:?} {b:?}");
            near += close as u32;
            ruled_out += !possible as u32;
        }
        assert!(near > 1000 && ruled_out > 10_000, "{near} near, {ruled_out} ruled out");
    }
}
