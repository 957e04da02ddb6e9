//! Memory layouts shared with the runtime: every scalar takes an 8-byte
//! slot, memory values (strings, IPv6, tuples…) their size rounded up to 8.

use ntr_lang::tir::{AggFunc, MapKind};
use ntr_lang::types::Type;

use crate::artifact::Field;

/// Bytes a value of this type takes in a key, value or event record.
pub fn slot_size(ty: &Type) -> u32 {
    match ty {
        Type::Str { len } => (*len as u32).div_ceil(8) * 8,
        ty if ty.is_memory() => ty.size().div_ceil(8) * 8,
        _ => 8,
    }
}

/// Fields laid out one after another from `start`; returns them and the end.
pub fn fields(types: &[Type], start: u32) -> (Vec<Field>, u32) {
    let mut off = start;
    let mut out = Vec::new();
    for ty in types {
        out.push(Field { ty: ty.clone(), offset: off });
        off += slot_size(ty);
    }
    (out, off)
}

/// A map's key layout: the user's keys (an 8-byte zero key when there are
/// none), plus a bucket slot for histograms. Returns fields and key size.
pub fn map_key(keys: &[Type], kind: &MapKind) -> (Vec<Field>, u32) {
    let (fields, mut size) = fields(keys, 0);
    if size == 0 {
        size = 8;
    }
    if matches!(kind, MapKind::Agg { func: AggFunc::Hist | AggFunc::Lhist { .. }, .. }) {
        size += 8;
    }
    (fields, size)
}

/// Offset of the histogram bucket slot in a hist/lhist key.
pub fn bucket_offset(key_size: u32) -> u32 {
    key_size - 8
}

pub fn map_value_size(kind: &MapKind) -> u32 {
    match kind {
        MapKind::Agg { func: AggFunc::Min | AggFunc::Max | AggFunc::Avg | AggFunc::Stats, .. } => 16,
        MapKind::Agg { .. } => 8,
        MapKind::Value(ty) => slot_size(ty),
    }
}

/// Number of lhist buckets: one below `lo`, one per step, one at or above `hi`.
pub fn lhist_buckets(lo: i64, hi: i64, step: i64) -> i64 {
    (hi - lo + step - 1) / step + 2
}

/// A kernel stack value: the stack id (negative: the helper's error) in the
/// low 32 bits, the depth of the stack map it was taken into (0: full) in
/// the next 8, and whether tracing frames may lead it in bit 40.
pub fn kstack_tag(map_depth: u8, tracing: bool) -> u64 {
    (map_depth as u64) << 32 | (tracing as u64) << 40
}

/// (stack id or error, stack map depth, tracing frames may lead) of a
/// kernel stack value.
pub fn kstack_parts(raw: u64) -> (i32, u8, bool) {
    (raw as u32 as i32, (raw >> 32) as u8, raw >> 40 & 1 == 1)
}
