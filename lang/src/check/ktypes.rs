//! Kernel C types (BTF) seen as ntr types.

use std::collections::HashMap;

use crate::ast::BinOp;
use crate::kernel::{KType, TypeId};
use crate::tir::{Access, Expr, ExprKind as T};
use crate::types::{EnumDef, EnumId, Type};

use super::Checker;

/// The ntr type of a value of kernel type `k`; `None` for what cannot be a
/// value (embedded structs, void, arrays other than char arrays).
pub(crate) fn value_type(cx: &mut Checker, k: &KType, trusted: bool) -> Option<Type> {
    match k {
        KType::Int { is_bool: true, .. } => Some(Type::Bool),
        KType::Int { size, signed, .. } => Some(Type::Int { size: *size, signed: *signed }),
        KType::Enum { id, .. } => Some(Type::Enum(register_enum(cx, *id))),
        KType::Ptr { target } => {
            let pointee = cx.kernel.resolve(*target);
            Some(match pointee {
                KType::Void | KType::Opaque { .. } => Type::Addr,
                KType::Struct { .. } | KType::Union { .. } => Type::Ptr { target: Box::new(pointee), trusted },
                // Pointers to anything else are read through probe_read (str(), casts).
                other => Type::Ptr { target: Box::new(other), trusted: false },
            })
        }
        KType::Array { elem, len } if matches!(**elem, KType::Int { is_char: true, .. }) => {
            Some(Type::Str { len: (*len).clamp(1, u16::MAX as u32) as u16 })
        }
        // Integer arrays (`u8[16]`, `__be32[4]`), as a list; bounded as
        // `buf()` is, since the value is copied whole into records.
        KType::Array { elem, len } => match **elem {
            KType::Int { size, signed, is_bool: false, .. } if *len >= 1 && u32::from(size) * *len <= 4096 => {
                Some(Type::Array { elem: size, signed, len: *len as u16 })
            }
            _ => None,
        },
        _ => None,
    }
}

/// `ntop(x)` of an address kept as bytes: an `in6_addr` (a pointer to the
/// struct in a field) or an integer array of 16 bytes as an IPv6 address,
/// one of 4 bytes as IPv4. `None` for anything else.
pub(crate) fn address_bytes(v: &Expr) -> Option<Expr> {
    let span = v.span;
    match (&v.kind, &v.ty) {
        (T::LoadStr { base, offset, access }, Type::Array { .. }) => match v.ty.size() {
            16 => Some(Expr { ty: Type::Ip6, ..v.clone() }),
            4 => Some(Expr {
                kind: T::Load { base: base.clone(), offset: *offset, size: 4, signed: false, bitfield: None, access: *access },
                ty: Type::Ip4,
                span,
            }),
            _ => None,
        },
        (_, Type::Ptr { target, trusted }) if matches!(&**target, KType::Struct { name, .. } if name == "in6_addr") => {
            let (base, offset) = match &v.kind {
                T::Binary { op: BinOp::Add, lhs, rhs, .. } => match rhs.kind {
                    T::Const(off) => (lhs.clone(), off as u32),
                    _ => return None,
                },
                _ => (Box::new(v.clone()), 0),
            };
            let access = if *trusted { Access::Direct } else { Access::ProbeRead };
            Some(Expr { kind: T::LoadStr { base, offset, access }, ty: Type::Ip6, span })
        }
        _ => None,
    }
}

/// The program's enum id for BTF enum `id`, adding its names on first use.
pub(crate) fn register_enum(cx: &mut Checker, id: TypeId) -> EnumId {
    if let Some(e) = cx.enum_ids.get(&id) {
        return *e;
    }
    let name = match cx.kernel.resolve(id) {
        KType::Enum { name, .. } => name,
        _ => String::new(),
    };
    let raw = cx.kernel.enum_values(id);
    let prefix = common_prefix(&raw);
    let values = raw.iter().map(|(n, v)| (*v, n.strip_prefix(prefix.as_str()).unwrap_or(n).to_string())).collect();
    let eid = cx.enums.len();
    cx.enums.push(EnumDef { name, values });
    cx.enum_ids.insert(id, eid);
    eid
}

/// The prefix to drop from enum value names when printing: the longest
/// `_`-terminated prefix a majority shares, nearly as many as the most
/// common prefix (`SKB_DROP_REASON_` in
/// skb_drop_reason, whose first values are `SKB_NOT_DROPPED_YET` and
/// `SKB_CONSUMED`). Values without it keep their full name.
/// The names ntr prints (and accepts) for an enum's values: without the
/// prefix most share (`NO_SOCKET` for `SKB_DROP_REASON_NO_SOCKET`).
pub fn printed_names(values: &[(String, i64)]) -> Vec<String> {
    let prefix = common_prefix(values);
    values.iter().map(|(n, _)| n.strip_prefix(prefix.as_str()).unwrap_or(n).to_string()).collect()
}

fn common_prefix(values: &[(String, i64)]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (name, _) in values {
        for (i, _) in name.match_indices('_') {
            *counts.entry(&name[..=i]).or_default() += 1;
        }
    }
    // Nearly as common as the most common prefix: `SK_RST_REASON_TCP_` is
    // shared by half of sk_rst_reason, not by nearly all.
    let quorum = (values.len() / 2 + 1).max(2);
    let most = counts.values().copied().max().unwrap_or(0);
    counts
        .into_iter()
        .filter(|(p, n)| *n >= quorum && *n * 10 >= most * 9 && values.iter().all(|(v, _)| v.len() > p.len() || !v.starts_with(p)))
        .max_by_key(|(p, _)| p.len())
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

impl Checker<'_> {
    /// The value of enum constant `name` in program enum `eid`: by its printed
    /// name (`NO_SOCKET`) or its full BTF name (`SKB_DROP_REASON_NO_SOCKET`).
    pub(crate) fn enum_value(&self, eid: EnumId, name: &str) -> Option<i64> {
        self.enums[eid].values.iter().find(|(_, n)| n == name).map(|(v, _)| *v).or_else(|| {
            let btf_id = self.enum_ids.iter().find(|(_, e)| **e == eid).map(|(id, _)| *id)?;
            self.kernel.enum_values(btf_id).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
        })
    }

    /// Printed names of enum `eid`, for suggestions.
    pub(crate) fn enum_names(&self, eid: EnumId) -> Vec<String> {
        self.enums[eid].values.iter().map(|(_, n)| n.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::common_prefix;

    #[test]
    fn strips_the_prefix_most_values_share() {
        let v = |names: &[&str]| names.iter().map(|n| (n.to_string(), 0)).collect::<Vec<_>>();
        // skb_drop_reason: two values without the prefix among many with it.
        let mut reasons = v(&["SKB_NOT_DROPPED_YET", "SKB_CONSUMED", "SKB_DROP_REASON_TCP_CSUM", "SKB_DROP_REASON_TCP_FLAGS"]);
        reasons.extend((0..20).map(|i| (format!("SKB_DROP_REASON_R{i}"), 0)));
        assert_eq!(common_prefix(&reasons), "SKB_DROP_REASON_");
        assert_eq!(common_prefix(&v(&["TCP_ESTABLISHED", "TCP_SYN_SENT"])), "TCP_");
        let rst = v(&[
            "SK_RST_REASON_NOT_SPECIFIED",
            "SK_RST_REASON_NO_SOCKET",
            "SK_RST_REASON_TCP_FLAGS",
            "SK_RST_REASON_TCP_STATE",
            "SK_RST_REASON_TCP_OLD_ACK",
            "SK_RST_REASON_ERROR",
        ]);
        assert_eq!(common_prefix(&rst), "SK_RST_REASON_");
        assert_eq!(common_prefix(&v(&["A_B", "A_"])), "");
        assert_eq!(common_prefix(&v(&["ONLY"])), "");
    }
}
