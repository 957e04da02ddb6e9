//! Reading user maps back (per-CPU values combined) and printing them like
//! bpftrace: rows sorted by value, histograms as bar charts.

use std::io::{self, Write};

use aya::maps::MapData;
use ntr_compiler::artifact::MapInfo;
use ntr_compiler::codegen::layout;
use ntr_lang::tir::{AggFunc, MapKind};
use ntr_lang::types::Type;
use serde_json::json;

use crate::decode;
use crate::format::Printer;
use crate::rawmap::{per_cpu_u64, u64_at, Entries, RawMap};

/// Rows merged by their printed key: many keys, short strings.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A user map, kept open after the programs are gone so it can be printed.
pub struct UserMap {
    pub info: MapInfo,
    pub raw: RawMap,
    pub _data: MapData,
}

/// A map's entries as bytes, printed by the map's layout: entries whose
/// key does not fit the layout are counted and left out.
pub struct Table<'a> {
    pub info: &'a MapInfo,
    pub entries: Entries,
}

/// A histogram's counts by bucket.
pub(crate) type Buckets = std::collections::BTreeMap<u64, u64>;

/// One combined value.
pub(crate) enum Combined {
    Num(i128),
    Avg {
        sum: i128,
        n: i128,
    },
    /// `stats()`: ordered by the total.
    Stats {
        sum: i128,
        n: i128,
    },
    Bytes(Vec<u8>),
}

impl Combined {
    pub(crate) fn num(&self) -> Option<i128> {
        match self {
            Combined::Num(v) => Some(*v),
            Combined::Avg { sum, n } => sum.checked_div(*n),
            Combined::Stats { sum, .. } => Some(*sum),
            Combined::Bytes(_) => None,
        }
    }

    /// Fold in the value of another key printed alike (stacks whose frames
    /// past the printed ones differ); false when values do not add up so.
    fn merge(&mut self, other: &Combined, func: &AggFunc) -> bool {
        match (self, other, func) {
            (Combined::Num(a), Combined::Num(b), AggFunc::Count | AggFunc::Sum) => *a += b,
            (Combined::Num(a), Combined::Num(b), AggFunc::Min) => *a = (*a).min(*b),
            (Combined::Num(a), Combined::Num(b), AggFunc::Max) => *a = (*a).max(*b),
            (Combined::Avg { sum, n }, Combined::Avg { sum: s, n: m }, AggFunc::Avg)
            | (Combined::Stats { sum, n }, Combined::Stats { sum: s, n: m }, AggFunc::Stats) => {
                *sum += s;
                *n += m;
            }
            _ => return false,
        }
        true
    }
}

impl UserMap {
    pub fn display_name(&self) -> String {
        display_name(&self.info)
    }

    /// `@_name`: the script's bookkeeping, printed only when asked (`print`).
    pub fn is_internal(&self) -> bool {
        self.info.name.starts_with('_')
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The map's entries as they are now.
    fn table(&self) -> Table<'_> {
        Table { info: &self.info, entries: self.raw.entries() }
    }

    /// (key, total) of each row of a `count()` or `sum()` map.
    pub fn totals(&self, p: &mut Printer) -> Vec<(Vec<u8>, i128)> {
        self.table().totals(p)
    }

    /// Print the map; `top` keeps the N largest rows.
    pub fn print(&self, p: &mut Printer, top: Option<u32>, json: bool, out: &mut dyn Write) -> io::Result<()> {
        self.table().print(p, top, json, out)
    }

    /// The rows of a map but a histogram (see `Table::rows`).
    pub(crate) fn rows(&self, p: &mut Printer) -> Vec<(Vec<u8>, Vec<String>, Combined)> {
        self.table().rows(p)
    }

    /// The histograms of a `hist` or `lhist` map (see `Table::histograms`).
    pub(crate) fn histograms(&self, p: &mut Printer) -> Vec<(Vec<u8>, Vec<String>, Buckets)> {
        self.table().histograms(p)
    }
}

fn display_name(info: &MapInfo) -> String {
    format!("@{}", info.name)
}

impl Table<'_> {
    fn display_name(&self) -> String {
        display_name(self.info)
    }

    fn signed(&self) -> bool {
        match &self.info.kind {
            MapKind::Agg { arg, .. } => arg.is_signed(),
            MapKind::Value(t) => t.is_signed(),
        }
    }

    /// (key, value) pairs that fit the map's layout; the others are
    /// counted in `p.malformed` and left out.
    fn entries(&self, p: &mut Printer) -> Vec<(&[u8], &[u8])> {
        let (entries, bad): (Vec<_>, Vec<_>) = self.entries.iter().partition(|(k, _)| decode::fits(&self.info.key, k));
        p.malformed += bad.len() as u64;
        entries
    }

    /// (key, total) of each row of a `count()` or `sum()` map.
    pub fn totals(&self, p: &mut Printer) -> Vec<(Vec<u8>, i128)> {
        if !matches!(self.info.kind, MapKind::Agg { func: AggFunc::Count | AggFunc::Sum, .. }) {
            return Vec::new();
        }
        self.entries(p).into_iter().filter_map(|(k, v)| Some((k.to_vec(), self.combine(v)?.num()?))).collect()
    }

    fn combine(&self, value: &[u8]) -> Option<Combined> {
        let vs = self.info.value_size;
        let signed = self.signed();
        let sum_as = |off, signed: bool| per_cpu_u64(value, vs, off).map(|v| if signed { v as i64 as i128 } else { v as i128 }).sum::<i128>();
        let sum = |off| sum_as(off, signed);
        Some(match &self.info.kind {
            MapKind::Agg { func: AggFunc::Min | AggFunc::Max, .. } => {
                let vals = per_cpu_u64(value, vs, 0);
                let sets = per_cpu_u64(value, vs, 8);
                let it = vals.into_iter().zip(sets).filter(|(_, s)| *s != 0).map(|(v, _)| if signed { v as i64 as i128 } else { v as i128 });
                let best = if matches!(self.info.kind, MapKind::Agg { func: AggFunc::Min, .. }) { it.min() } else { it.max() };
                Combined::Num(best?)
            }
            MapKind::Agg { func: func @ (AggFunc::Avg | AggFunc::Stats), .. } => {
                // How many values: a count, whatever their sign.
                let n = sum_as(8, false);
                if n == 0 {
                    return None;
                }
                if *func == AggFunc::Stats {
                    Combined::Stats { sum: sum(0), n }
                } else {
                    Combined::Avg { sum: sum(0), n }
                }
            }
            MapKind::Agg { .. } => Combined::Num(sum(0)),
            MapKind::Value(_) => Combined::Bytes(value.to_vec()),
        })
    }

    /// The key's fields as text (a key that does not fit, none: `entries`
    /// leaves those out).
    fn key_text(&self, p: &mut Printer, key: &[u8]) -> Vec<String> {
        self.info.key.iter().filter_map(|f| Some(p.text(&f.ty, decode::field(f, key)?))).collect()
    }

    fn key_json(&self, p: &mut Printer, key: &[u8]) -> Vec<serde_json::Value> {
        decode::fields(&self.info.key, key).unwrap_or_default().iter().map(|(ty, b)| p.json(ty, b)).collect()
    }

    /// `@name[key, …]` of a row.
    fn write_label(name: &str, keys: &[String], out: &mut dyn Write) -> io::Result<()> {
        out.write_all(name.as_bytes())?;
        if let Some((first, rest)) = keys.split_first() {
            write!(out, "[{first}")?;
            for k in rest {
                write!(out, ", {k}")?;
            }
            out.write_all(b"]")?;
        }
        Ok(())
    }

    /// Print the map; `top` keeps the N largest rows.
    pub fn print(&self, p: &mut Printer, top: Option<u32>, json: bool, out: &mut dyn Write) -> io::Result<()> {
        match &self.info.kind {
            MapKind::Agg { func: func @ (AggFunc::Hist | AggFunc::Lhist { .. }), .. } => self.print_hist(p, func, top, json, out),
            _ => self.print_rows(p, top, json, out),
        }
    }

    /// The rows of a map but a histogram: (key, key as text, value), keys
    /// that print alike combined, in no order.
    pub(crate) fn rows(&self, p: &mut Printer) -> Vec<(Vec<u8>, Vec<String>, Combined)> {
        self.merged_rows(p).into_iter().map(|(k, text, c)| (k.to_vec(), text, c)).collect()
    }

    /// `rows`, the keys borrowed.
    fn merged_rows(&self, p: &mut Printer) -> Vec<(&[u8], Vec<String>, Combined)> {
        let mut rows: Vec<(&[u8], Vec<String>, Combined)> = Vec::new();
        for (k, v) in self.entries(p) {
            if let Some(c) = self.combine(v) {
                rows.push((k, self.key_text(p, k), c));
            }
        }
        // Keys named at print time (a netfilter hook from a stack, a
        // stack's first frames, a cause) can print alike: their values are
        // combined into the first row printed so. By printed key, so this
        // stays linear.
        let mut first: FastMap<&[String], usize> = FastMap::with_capacity_and_hasher(rows.len(), Default::default());
        let mut into = vec![None; rows.len()];
        for (i, (_, text, _)) in rows.iter().enumerate() {
            match first.get(text.as_slice()) {
                Some(&j) => into[i] = Some(j),
                None => {
                    first.insert(text, i);
                }
            }
        }
        drop(first);
        let mut kept = vec![true; rows.len()];
        if let MapKind::Agg { func, .. } = &self.info.kind {
            for (i, j) in into.iter().enumerate().filter_map(|(i, j)| Some((i, (*j)?))) {
                let (head, tail) = rows.split_at_mut(i);
                kept[i] = !head[j].2.merge(&tail[0].2, func);
            }
        }
        rows.into_iter().zip(kept).filter(|(_, k)| *k).map(|(row, _)| row).collect()
    }

    fn print_rows(&self, p: &mut Printer, top: Option<u32>, json: bool, out: &mut dyn Write) -> io::Result<()> {
        let mut rows = self.merged_rows(p);
        rows.sort_by(|a, b| match (a.2.num(), b.2.num()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => std::cmp::Ordering::Equal,
        });
        if let Some(n) = top {
            let skip = rows.len().saturating_sub(n as usize);
            rows.drain(..skip);
        }
        let value_ty = match &self.info.kind {
            MapKind::Value(t) => t.clone(),
            // The first or last moment: shown as a time.
            MapKind::Agg { func: AggFunc::Min | AggFunc::Max, arg: Type::Time } => Type::Time,
            _ => Type::S64,
        };
        let name = self.display_name();
        for (key, keys, value) in rows {
            let value = match (&value, &value_ty) {
                (Combined::Num(n), Type::Time) => Combined::Bytes((*n as u64).to_ne_bytes().to_vec()),
                _ => value,
            };
            if json {
                let v = match (&value, value.num()) {
                    (Combined::Bytes(b), _) => p.json(&value_ty, b),
                    (Combined::Stats { sum, n }, _) => json!({"count": *n as i64, "average": (sum / n) as i64, "total": *sum as i64}),
                    (_, n) => json!(n.unwrap_or(0) as i64),
                };
                let line = json!({"type": "map", "map": name, "key": self.key_json(p, key), "value": v});
                writeln!(out, "{line}")?;
            } else {
                let v = match (&value, value.num()) {
                    (Combined::Bytes(b), _) => p.text(&value_ty, b),
                    (Combined::Stats { sum, n }, _) => format!("count {n}, average {}, total {sum}", sum / n),
                    (_, n) => n.unwrap_or(0).to_string(),
                };
                Self::write_label(&name, &keys, out)?;
                writeln!(out, ": {v}")?;
            }
        }
        if !json {
            writeln!(out)?;
        }
        Ok(())
    }

    /// The histograms of a `hist` or `lhist` map: (key, key as text,
    /// counts by bucket), keys that print alike one histogram, in no order.
    pub(crate) fn histograms(&self, p: &mut Printer) -> Vec<(Vec<u8>, Vec<String>, Buckets)> {
        let MapKind::Agg { func, .. } = &self.info.kind else { return Vec::new() };
        let user_key = layout::bucket_offset(self.info.key_size) as usize;
        // printed user key → bucket → count (keys printed alike, such as
        // stacks alike in their printed frames, are one histogram)
        let mut groups: Vec<(Vec<u8>, Vec<String>, Buckets)> = Vec::new();
        let mut by_text: FastMap<Vec<String>, usize> = FastMap::default();
        for (key, value) in self.entries(p) {
            let Some(k) = key.get(..user_key).map(<[u8]>::to_vec) else { continue };
            let bucket = u64_at(key, user_key);
            if bucket >= bucket_count(func) {
                // No histogram has it: the programs never write it.
                p.malformed += 1;
                continue;
            }
            let count = per_cpu_u64(value, self.info.value_size, 0).fold(0u64, u64::saturating_add);
            let text = self.key_text(p, &k);
            match by_text.get(&text) {
                Some(&i) => {
                    let n = groups[i].2.entry(bucket).or_default();
                    *n = n.saturating_add(count);
                }
                None => {
                    by_text.insert(text.clone(), groups.len());
                    groups.push((k, text, [(bucket, count)].into_iter().collect()));
                }
            }
        }
        groups
    }

    fn print_hist(&self, p: &mut Printer, func: &AggFunc, top: Option<u32>, json: bool, out: &mut dyn Write) -> io::Result<()> {
        let mut groups = self.histograms(p);
        groups.sort_by_key(|(_, _, b)| b.values().fold(0u64, |a, n| a.saturating_add(*n)));
        if let Some(n) = top {
            let skip = groups.len().saturating_sub(n as usize);
            groups.drain(..skip);
        }
        let name = self.display_name();
        for (key, keys, buckets) in groups {
            let (Some(first), Some(last)) = (buckets.keys().next().copied(), buckets.keys().last().copied()) else { continue };
            if json {
                let list: Vec<_> = (first..=last)
                    .map(|b| {
                        let (lo, hi) = bounds(func, b);
                        json!({"lo": lo, "hi": hi, "count": buckets.get(&b).copied().unwrap_or(0)})
                    })
                    .collect();
                let line = json!({"type": "hist", "map": name, "key": self.key_json(p, &key), "buckets": list});
                writeln!(out, "{line}")?;
                continue;
            }
            Self::write_label(&name, &keys, out)?;
            writeln!(out, ":")?;
            let max = buckets.values().copied().max().unwrap_or(1).max(1);
            for b in first..=last {
                let count = buckets.get(&b).copied().unwrap_or(0);
                let bar = "@".repeat((count as u128 * 52 / max as u128) as usize);
                writeln!(out, "{:<20} {:>8} |{:<52}|", label(func, b), count, bar)?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

/// How many buckets a histogram has: for `hist`, negative, zero and one
/// per power of two up to 2^63.
fn bucket_count(func: &AggFunc) -> u64 {
    match func {
        AggFunc::Lhist { lo, hi, step } => layout::lhist_buckets(*lo, *hi, *step) as u64,
        _ => 66,
    }
}

/// The value range of bucket `b`: [lo, hi), `None` for an open end.
pub(crate) fn bounds(func: &AggFunc, b: u64) -> (Option<i64>, Option<i64>) {
    match func {
        AggFunc::Lhist { lo, hi, step } => {
            let last = layout::lhist_buckets(*lo, *hi, *step) as u64 - 1;
            if b == 0 {
                (None, Some(*lo))
            } else if b == last {
                (Some(*hi), None)
            } else {
                let start = lo + (b as i64 - 1) * step;
                (Some(start), Some((start + step).min(*hi)))
            }
        }
        _ => match b {
            0 => (None, Some(0)),
            1 => (Some(0), Some(1)),
            k => {
                let lo = 1i64.checked_shl(k as u32 - 2).unwrap_or(i64::MAX);
                (Some(lo), lo.checked_mul(2))
            }
        },
    }
}

/// `1K`, `2M`… for powers of two, as bpftrace labels buckets.
fn short(n: i64) -> String {
    for (shift, suffix) in [(60, "E"), (50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        let unit = 1i64 << shift;
        if n >= unit && n % unit == 0 {
            return format!("{}{suffix}", n / unit);
        }
    }
    n.to_string()
}

fn label(func: &AggFunc, b: u64) -> String {
    match (func, bounds(func, b)) {
        (AggFunc::Lhist { .. }, (None, Some(hi))) => format!("(..., {hi})"),
        (AggFunc::Lhist { .. }, (Some(lo), None)) => format!("[{lo}, ...)"),
        (AggFunc::Lhist { .. }, (Some(lo), Some(hi))) => format!("[{lo}, {hi})"),
        (_, (None, _)) => "(..., 0)".into(),
        (_, (Some(0), _)) => "[0]".into(),
        (_, (Some(1), _)) => "[1]".into(),
        (_, (Some(lo), Some(hi))) => format!("[{}, {})", short(lo), short(hi)),
        (_, (Some(lo), None)) => format!("[{}, ...)", short(lo)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_labels_like_bpftrace() {
        assert_eq!(label(&AggFunc::Hist, 1), "[0]");
        assert_eq!(label(&AggFunc::Hist, 2), "[1]");
        assert_eq!(label(&AggFunc::Hist, 3), "[2, 4)");
        assert_eq!(label(&AggFunc::Hist, 8), "[64, 128)");
        assert_eq!(label(&AggFunc::Hist, 12), "[1K, 2K)");
        let l = AggFunc::Lhist { lo: 0, hi: 2000, step: 500 };
        assert_eq!(label(&l, 0), "(..., 0)");
        assert_eq!(label(&l, 1), "[0, 500)");
        assert_eq!(label(&l, 3), "[1000, 1500)");
        assert_eq!(label(&l, 5), "[2000, ...)");
    }
}
