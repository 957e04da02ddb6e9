//! `--metrics`: a script's maps as Prometheus metrics (OpenMetrics),
//! read from the kernel when scraped, never per event. A map `@name` is
//! the metric `ntr_name`; its keys are labels (`MapInfo::labels`).

mod exposition;
mod server;

use ntr_compiler::artifact::MapInfo;
use ntr_lang::tir::{AggFunc, MapKind};
use ntr_lang::types::Type;

pub use exposition::{encode, Family, Kind, Sample, SeriesLimit};
pub use server::Server;

use crate::format::Printer;
use crate::maps::{bounds, Combined, UserMap};
use crate::rawmap::u64_at;

/// How `@name` is exported: `Ok(None)` for an internal map (`@_name`),
/// `Err` saying why a map cannot be.
pub fn kind(info: &MapInfo) -> Result<Option<Kind>, String> {
    if info.name.starts_with('_') {
        return Ok(None);
    }
    if metric_name(info) == exposition::DROPPED {
        return Err(format!("{} is ntr's own metric: rename the map", exposition::DROPPED));
    }
    if info.key.iter().any(|f| matches!(f.ty, Type::KStack(_) | Type::UStack)) {
        return Err("it is keyed by a stack, and stacks are not labels: write it with --folded or --flamegraph".into());
    }
    Ok(Some(match &info.kind {
        MapKind::Agg { func: AggFunc::Count, .. } => Kind::Counter,
        // A sum of values that can be negative can fall: not a counter.
        MapKind::Agg { func: AggFunc::Sum, arg } if !arg.is_signed() => Kind::Counter,
        MapKind::Agg { func: AggFunc::Hist | AggFunc::Lhist { .. }, .. } => Kind::Histogram,
        MapKind::Agg { func: AggFunc::Stats, .. } => {
            return Err("stats() is three numbers, not one: export its count and total as count() and sum() maps".into())
        }
        MapKind::Agg { .. } => Kind::Gauge,
        MapKind::Value(Type::Int { .. } | Type::Duration | Type::Time) => Kind::Gauge,
        MapKind::Value(_) => return Err("its values are not numbers".into()),
    }))
}

/// The metric of map `@name`.
pub fn metric_name(info: &MapInfo) -> String {
    format!("ntr_{}", if info.name.is_empty() { "map" } else { &info.name })
}

/// A number as exported: a `walltime` as seconds since the Unix epoch.
fn number(p: &Printer, ty: &Type, n: i128) -> f64 {
    match ty {
        Type::Time => p.unix_seconds(n as u64),
        _ => n as f64,
    }
}

/// A histogram's buckets by `le`: integer values in [lo, hi) are those
/// `<= hi - 1`. A `hist` lists its buckets up to the highest used, an
/// `lhist` all of them; +Inf closes both.
fn buckets(func: &AggFunc, counts: &crate::maps::Buckets) -> Vec<(f64, u64)> {
    let (first, last) = match func {
        AggFunc::Lhist { lo, hi, step } => (0, ntr_compiler::codegen::layout::lhist_buckets(*lo, *hi, *step) as u64 - 1),
        // Bucket 0 holds negative values: listed only when used.
        _ => (if counts.contains_key(&0) { 0 } else { 1 }, counts.keys().last().copied().unwrap_or(1)),
    };
    let mut out: Vec<(f64, u64)> = (first..=last)
        .map(|b| {
            let le = match bounds(func, b).1 {
                Some(hi) => (hi - 1) as f64,
                None => f64::INFINITY,
            };
            (le, counts.get(&b).copied().unwrap_or(0))
        })
        .collect();
    if out.last().is_none_or(|(le, _)| le.is_finite()) {
        out.push((f64::INFINITY, 0));
    }
    out
}

/// One map's family, its rows largest first (kept first when the series
/// are bounded).
fn family(m: &UserMap, kind: Kind, p: &mut Printer) -> Family {
    let mut rows: Vec<(f64, Vec<String>, Sample)> = match &m.info.kind {
        MapKind::Agg { func: func @ (AggFunc::Hist | AggFunc::Lhist { .. }), .. } => m
            .histograms(p)
            .into_iter()
            .map(|(_, labels, counts)| (counts.values().sum::<u64>() as f64, labels, Sample::Buckets(buckets(func, &counts))))
            .collect(),
        kind => {
            let ty = match kind {
                MapKind::Agg { arg, .. } => arg.clone(),
                MapKind::Value(t) => t.clone(),
            };
            let mut rows = Vec::new();
            for (_, labels, value) in m.rows(p) {
                let v = match value {
                    Combined::Avg { sum, n } | Combined::Stats { sum, n } => sum as f64 / n as f64,
                    Combined::Num(n) => number(p, &ty, n),
                    Combined::Bytes(b) => {
                        let raw = u64_at(&b, 0);
                        number(p, &ty, if ty.is_signed() { raw as i64 as i128 } else { raw as i128 })
                    }
                };
                rows.push((v, labels, Sample::Value(v)));
            }
            rows
        }
    };
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let labels = m.info.labels.clone();
    let by = if labels.is_empty() { String::new() } else { format!(" by {}", labels.join(", ")) };
    Family {
        name: metric_name(&m.info),
        help: format!("ntr map {}{by}", m.display_name()),
        kind,
        labels,
        rows: rows.into_iter().map(|(_, l, s)| (l, s)).collect(),
    }
}

/// The exported maps, read now.
pub(crate) fn families(maps: &[UserMap], p: &mut Printer) -> Vec<Family> {
    maps.iter().filter_map(|m| Some(family(m, kind(&m.info).ok()??, p))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_integer_upper_bounds_closed_by_inf() {
        // hist: [0] le 0, [1] le 1, [2, 4) le 3, [4, 8) le 7; up to the highest used.
        let counts: crate::maps::Buckets = [(1, 2), (4, 5)].into_iter().collect();
        assert_eq!(buckets(&AggFunc::Hist, &counts), [(0.0, 2), (1.0, 0), (3.0, 0), (7.0, 5), (f64::INFINITY, 0)]);
        // A negative value's bucket comes first when used.
        let counts: crate::maps::Buckets = [(0, 1), (2, 1)].into_iter().collect();
        assert_eq!(buckets(&AggFunc::Hist, &counts), [(-1.0, 1), (0.0, 0), (1.0, 1), (f64::INFINITY, 0)]);
        // lhist(0, 100, 50): below 0, [0, 50), [50, 100), 100 and above; all listed.
        let l = AggFunc::Lhist { lo: 0, hi: 100, step: 50 };
        let counts: crate::maps::Buckets = [(2, 3)].into_iter().collect();
        assert_eq!(buckets(&l, &counts), [(-1.0, 0), (49.0, 0), (99.0, 3), (f64::INFINITY, 0)]);
    }
}
