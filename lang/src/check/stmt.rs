//! Typing statements, map assignments and probe bodies.

use crate::ast::{self, Arg, AssignOp, BinOp, ExprKind as A, MapRef, StmtKind as S};
use crate::diag::Diagnostic;
use crate::tir::{self, AggFunc, Expr, ExprKind as T, MapId, MapKind, MapUpdate, Stmt, StmtKind};
use crate::types::Type;

use super::calls::is_aggregation;
use super::expr::{check_cond, check_expr, type_name, Result};
use super::maps::{display, key_type};
use super::probes::Resolved;
use super::scope::ProbeCx;
use super::Checker;

pub(crate) fn check_probe_body(cx: &mut Checker, r: Resolved, block: &ast::ProbeBlock) -> Result<tir::Probe> {
    let mut p = ProbeCx::new(r.name.clone(), r.args);
    p.record_fields = r.record_fields;
    if let tir::Attach::Uprobe { path, symbol, offset, ret: false } = &r.attach {
        p.uprobe_site = Some((path.clone(), symbol.clone(), *offset));
    }
    let cond = match &block.predicate {
        Some(pred) => Some(check_cond(cx, &mut p, pred)?),
        None => None,
    };
    let body = check_stmts(cx, &mut p, &block.body)?;
    Ok(tir::Probe { attach: r.attach, name: r.name, span: r.span, locals: p.locals, cond, body })
}

pub(crate) fn check_stmts(cx: &mut Checker, p: &mut ProbeCx, stmts: &[ast::Stmt]) -> Result<Vec<Stmt>> {
    p.push_scope();
    // After an error, the rest is still checked (its errors unreported):
    // assignments further down give maps the types a retry needs.
    let mut out = Ok(Vec::new());
    for s in stmts {
        match (check_stmt(cx, p, s), &mut out) {
            (Ok(stmt), Ok(list)) => list.push(stmt),
            (Err(d), Ok(_)) => out = Err(d),
            (_, Err(_)) => {}
        }
    }
    p.pop_scope();
    out
}

fn check_stmt(cx: &mut Checker, p: &mut ProbeCx, s: &ast::Stmt) -> Result<Stmt> {
    match s.kind {
        S::If { .. } => p.nested(s.span, |p| stmt(cx, p, s)),
        _ => stmt(cx, p, s),
    }
}

fn stmt(cx: &mut Checker, p: &mut ProbeCx, s: &ast::Stmt) -> Result<Stmt> {
    let span = s.span;
    let kind = match &s.kind {
        S::Let { name, value } => {
            let v = check_expr(cx, p, value, None)?;
            if v.ty == Type::Void {
                return Err(Diagnostic::error("this has no value", v.span, "nothing to store"));
            }
            let local = p.declare(&name.name, v.ty.clone(), name.span);
            StmtKind::Let { local, value: v }
        }
        S::Assign { name, op, value } => {
            let Some(local) = p.lookup(&name.name) else {
                return Err(Diagnostic::error(format!("unknown local `{}`", name.name), name.span, "not declared")
                    .with_help(format!("declare it first: `let {} = …`", name.name)));
            };
            let ty = p.locals[local].ty.clone();
            let v = check_expr(cx, p, value, Some(&ty))?;
            let value = match op {
                AssignOp::Set => {
                    if !assignable(&ty, &v.ty) {
                        return Err(mismatch(&ty, &v, "the local was declared with this type").with_secondary(p.locals[local].span, "declared here"));
                    }
                    // A string's capacity is storage: the local holds the
                    // longest string assigned (reads above saw shorter ones).
                    if let (Type::Str { len }, Type::Str { len: new }) = (&mut p.locals[local].ty, &v.ty) {
                        *len = (*len).max(*new);
                    }
                    v
                }
                AssignOp::Add | AssignOp::Sub => {
                    if !ty.is_integer() || !v.ty.is_integer() {
                        return Err(Diagnostic::error(format!("cannot add a {} to a {}", type_name(&v.ty), type_name(&ty)), v.span, "not numbers"));
                    }
                    let op = if matches!(op, AssignOp::Add) { BinOp::Add } else { BinOp::Sub };
                    let cur = Expr { kind: T::Local(local), ty: ty.clone(), span: name.span };
                    let signed = ty.is_signed();
                    Expr { kind: T::Binary { op, lhs: Box::new(cur), rhs: Box::new(v), signed }, ty: ty.clone(), span }
                }
            };
            StmtKind::Let { local, value }
        }
        S::MapAssign { map, op, value } => return map_assign(cx, p, map, op, value, span),
        S::If { cond, then, otherwise } => {
            // `if has(arg) { … } else { … }`: only the branch this kernel's
            // probe can run is checked, so one script fits kernels whose
            // tracepoints differ.
            if let Some(live) = static_condition(p, cond)? {
                let branch = if live { Some(then) } else { otherwise.as_ref() };
                let body = match branch {
                    Some(b) => check_stmts(cx, p, b)?,
                    None => Vec::new(),
                };
                let cond = Expr { kind: T::Const(1), ty: Type::Bool, span: cond.span };
                return Ok(Stmt { kind: StmtKind::If { cond, then: body, otherwise: Vec::new() }, span });
            }
            let cond = check_cond(cx, p, cond)?;
            let then = check_stmts(cx, p, then)?;
            let otherwise = match otherwise {
                Some(b) => check_stmts(cx, p, b)?,
                None => Vec::new(),
            };
            StmtKind::If { cond, then, otherwise }
        }
        S::Return(value) => {
            let Some(frame_idx) = p.inlining.len().checked_sub(1) else {
                if let Some(v) = value {
                    return Err(
                        Diagnostic::error("a probe cannot return a value", v.span, "returned value").with_help("`return;` alone leaves the probe")
                    );
                }
                return Ok(Stmt { kind: StmtKind::Return { value: None }, span });
            };
            let value = match value {
                None => None,
                Some(e) => {
                    let v = check_expr(cx, p, e, None)?;
                    let frame = &mut p.inlining[frame_idx];
                    match &mut frame.ret {
                        None => frame.ret = Some((v.ty.clone(), v.span)),
                        // Strings of any length: the result holds the longest.
                        Some((Type::Str { len }, _)) if matches!(v.ty, Type::Str { .. }) => *len = (*len).max(v.ty.size() as u16),
                        Some((t, first)) if !assignable(t, &v.ty) => {
                            return Err(mismatch(t, &v, "the fn returns different types").with_secondary(*first, "first return"));
                        }
                        Some(_) => {}
                    }
                    Some((frame.result, v))
                }
            };
            StmtKind::Return { value }
        }
        S::Expr(e) => match &e.kind {
            A::Call { name, args } => return super::calls::check_call_stmt(cx, p, name, args, span),
            _ => {
                return Err(Diagnostic::error("this expression's value is not used", e.span, "unused value")
                    .with_help("print it with `print(…)`, or store it in a map or a local"))
            }
        },
    };
    Ok(Stmt { kind, span })
}

fn assignable(to: &Type, from: &Type) -> bool {
    match (to, from) {
        (Type::Int { .. }, Type::Int { .. }) => true,
        (Type::Str { .. }, Type::Str { .. }) => true,
        _ => to == from,
    }
}

fn mismatch(expected: &Type, v: &Expr, why: &str) -> Diagnostic {
    Diagnostic::error(format!("expected a {}, found a {}", type_name(expected), type_name(&v.ty)), v.span, "mismatched types")
        .with_note(why.to_string())
}

/// The map of `@name[keys]` and its typed keys (checked against earlier uses).
pub(crate) fn map_keys(cx: &mut Checker, p: &mut ProbeCx, m: &MapRef) -> Result<(MapId, Vec<Expr>)> {
    let map = cx.maps.id(&m.name, m.span);
    let expected = cx.maps.keys(map).cloned();
    let mut keys = Vec::new();
    for (i, k) in m.keys.iter().enumerate() {
        let hint = expected.as_ref().and_then(|e| e.get(i));
        let v = check_expr(cx, p, k, hint)?;
        if matches!(v.ty, Type::Void) {
            return Err(Diagnostic::error("this has no value to use as a key", v.span, "no value"));
        }
        keys.push(v);
    }
    let types: Vec<Type> = keys.iter().map(|k| k.ty.clone()).collect();
    cx.maps.set_keys(map, &types, m.span)?;
    cx.maps.set_labels(map, &m.labels, m.keys.iter().map(super::labels::derive).collect())?;
    // Keys are stored widened; make the conversions explicit.
    let keys = keys
        .into_iter()
        .map(|k| {
            let stored = key_type(&k.ty);
            match (&k.ty, &stored) {
                (Type::Int { size, .. }, Type::Int { signed, .. }) if *size != 8 => {
                    let span = k.span;
                    Expr { kind: T::Convert { operand: Box::new(k), size: 8, signed: *signed }, ty: stored, span }
                }
                _ => Expr { ty: stored, ..k },
            }
        })
        .collect();
    Ok((map, keys))
}

pub(crate) fn map_read(cx: &mut Checker, p: &mut ProbeCx, m: &MapRef) -> Result<Expr> {
    let (map, keys) = map_keys(cx, p, m)?;
    match cx.maps.kind(map).cloned() {
        Some(MapKind::Value(ty)) => Ok(Expr { kind: T::MapRead { map, keys }, ty, span: m.span }),
        Some(MapKind::Agg { .. }) => {
            Err(Diagnostic::error(format!("`{}` is an aggregation and cannot be read in a probe", display(&m.name)), m.span, "aggregated per CPU")
                .with_help(format!("print it with `print({})`", display(&m.name))))
        }
        None => {
            // Keep checking with a provisional type: the assignment that
            // types this map may come later, and a second pass will know it.
            cx.read_before_assign = true;
            cx.diags.push(
                Diagnostic::error(format!("map `{}` is read but never assigned", display(&m.name)), m.span, "no value")
                    .with_help(format!("give it values somewhere, e.g. `{}[…] = …`", display(&m.name))),
            );
            Ok(Expr { kind: T::MapRead { map, keys }, ty: Type::U64, span: m.span })
        }
    }
}

fn map_assign(cx: &mut Checker, p: &mut ProbeCx, m: &MapRef, op: &AssignOp, value: &ast::Expr, span: crate::source::Span) -> Result<Stmt> {
    let (map, keys) = map_keys(cx, p, m)?;
    let (kind, update) = match (op, &value.kind) {
        (AssignOp::Set, A::Call { name, args }) if is_aggregation(&name.name) => {
            let (func, arg) = aggregation(cx, p, &name.name, args, value.span)?;
            let arg_ty = arg.as_ref().map(|a| key_type(&a.ty)).unwrap_or(Type::U64);
            (MapKind::Agg { func, arg: arg_ty }, MapUpdate::Agg(arg))
        }
        (AssignOp::Set, _) => {
            let hint = match cx.maps.kind(map) {
                Some(MapKind::Value(t)) => Some(t.clone()),
                _ => None,
            };
            let v = check_expr(cx, p, value, hint.as_ref())?;
            if matches!(v.ty, Type::Void) {
                return Err(Diagnostic::error("this has no value to store", v.span, "no value"));
            }
            (MapKind::Value(key_type(&v.ty)), MapUpdate::Set(v))
        }
        (AssignOp::Add | AssignOp::Sub, _) => {
            let v = check_expr(cx, p, value, None)?;
            if !v.ty.is_integer() {
                return Err(Diagnostic::error(format!("cannot add a {} to a map value", type_name(&v.ty)), v.span, "not a number"));
            }
            let ty = match cx.maps.kind(map) {
                Some(MapKind::Value(t)) => t.clone(),
                _ => Type::S64,
            };
            let update = if matches!(op, AssignOp::Add) { MapUpdate::Add(v) } else { MapUpdate::Sub(v) };
            (MapKind::Value(ty), update)
        }
    };
    cx.maps.set_kind(map, kind, m.span)?;
    Ok(Stmt { kind: StmtKind::MapUpdate { map, keys, update }, span })
}

fn aggregation(cx: &mut Checker, p: &mut ProbeCx, name: &str, args: &[Arg], span: crate::source::Span) -> Result<(AggFunc, Option<Expr>)> {
    let positional: Vec<&ast::Expr> = args
        .iter()
        .map(|a| match a {
            Arg::Positional(e) => Ok(e),
            Arg::Named(n, _) => Err(Diagnostic::error(format!("`{name}` takes no named arguments"), n.span, "named argument")),
        })
        .collect::<Result<_>>()?;
    let want = match name {
        "count" => 0,
        "lhist" => 4,
        _ => 1,
    };
    if positional.len() != want {
        let usage = match name {
            "count" => "count()".to_string(),
            "lhist" => "lhist(value, min, max, step)".to_string(),
            n => format!("{n}(value)"),
        };
        return Err(Diagnostic::error(
            format!("`{name}` takes {want} argument{}, not {}", if want == 1 { "" } else { "s" }, positional.len()),
            span,
            "wrong number of arguments",
        )
        .with_help(format!("usage: {usage}")));
    }
    if name == "count" {
        return Ok((AggFunc::Count, None));
    }
    let v = check_expr(cx, p, positional[0], None)?;
    if !v.ty.is_integer() || matches!(v.ty, Type::Enum(_) | Type::Bool) {
        return Err(Diagnostic::error(format!("`{name}` needs a number, not a {}", type_name(&v.ty)), v.span, "not a number"));
    }
    if v.ty == Type::Time && !matches!(name, "min" | "max") {
        return Err(Diagnostic::error(format!("`{name}` of a time means nothing"), v.span, "a moment, not an amount")
            .with_help("`min(walltime)` keeps the first moment, `max(walltime)` the last; a difference of two is a duration"));
    }
    let func = match name {
        "sum" => AggFunc::Sum,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "avg" => AggFunc::Avg,
        "stats" => AggFunc::Stats,
        "hist" => AggFunc::Hist,
        _ => {
            let mut consts = Vec::new();
            for e in &positional[1..] {
                consts.push(const_int(e).ok_or_else(|| Diagnostic::error("lhist bounds must be constant numbers", e.span, "not a constant"))?);
            }
            let (lo, hi, step) = (consts[0], consts[1], consts[2]);
            if step <= 0 || hi <= lo {
                return Err(Diagnostic::error("lhist needs min < max and step > 0", span, "empty range"));
            }
            if (hi - lo) / step > 1000 {
                return Err(Diagnostic::error("lhist would have more than 1000 buckets", span, "too many buckets").with_help("use a larger step"));
            }
            AggFunc::Lhist { lo, hi, step }
        }
    };
    Ok((func, Some(v)))
}

pub(crate) fn const_int(e: &ast::Expr) -> Option<i64> {
    match &e.kind {
        A::Int(n) => i64::try_from(*n).ok(),
        A::Duration(ns) => i64::try_from(*ns).ok(),
        A::Unary { op: ast::UnOp::Neg, operand } => const_int(operand).map(|v| -v),
        _ => None,
    }
}

/// The value of a condition decided by `has(…)` alone: made of `has`, `!`,
/// `&&` and `||`, or short-circuited by them (`has(reason) && reason == X`
/// is false where the probe has no `reason`, whatever the right side).
fn static_condition(p: &ProbeCx, e: &ast::Expr) -> Result<Option<bool>> {
    Ok(match &e.kind {
        A::Call { name, args } if name.name == "has" => Some(super::calls::probe_has(p, name, args, e.span)?),
        A::Unary { op: ast::UnOp::Not, operand } => static_condition(p, operand)?.map(|v| !v),
        A::Binary { op: op @ (ast::BinOp::And | ast::BinOp::Or), lhs, rhs } => {
            let and = *op == ast::BinOp::And;
            match static_condition(p, lhs)? {
                // false && …, true || …
                Some(l) if l != and => Some(l),
                Some(_) => static_condition(p, rhs)?,
                None => match static_condition(p, rhs)? {
                    Some(r) if r != and => Some(r),
                    _ => None,
                },
            }
        }
        _ => None,
    })
}
