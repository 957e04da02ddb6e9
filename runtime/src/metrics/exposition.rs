//! Metric families as OpenMetrics text, through `prometheus-client`, with
//! the number of series bounded.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Clone, Debug)]
pub enum Sample {
    Value(f64),
    /// (upper bound `le`, count in that bucket alone), the last bound +Inf.
    Buckets(Vec<(f64, u64)>),
}

impl Sample {
    /// The series this sample is to Prometheus: a histogram's are its
    /// buckets, `_sum` and `_count`.
    fn series(&self) -> usize {
        match self {
            Sample::Value(_) => 1,
            Sample::Buckets(b) => b.len() + 2,
        }
    }
}

/// One metric (a map): its rows are label values and a sample, the rows
/// to keep first when the series are bounded coming first.
#[derive(Clone, Debug)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub labels: Vec<String>,
    pub rows: Vec<(Vec<String>, Sample)>,
}

/// At most `max` series a scrape; `dropped` adds up those left out.
pub struct SeriesLimit {
    pub max: usize,
    pub dropped: u64,
}

pub const DROPPED: &str = "ntr_series_dropped";

#[derive(Debug)]
struct Snapshot {
    families: Vec<Family>,
    dropped: u64,
}

fn row(mut m: MetricEncoder, kind: Kind, sample: &Sample) -> Result<(), std::fmt::Error> {
    match (kind, sample) {
        // Counts as integers: `7`, not `7.0`.
        (Kind::Counter, Sample::Value(v)) if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(v) => {
            m.encode_counter::<NoLabelSet, _, f64>(&(*v as u64), None)
        }
        (Kind::Counter, Sample::Value(v)) => m.encode_counter::<NoLabelSet, _, f64>(v, None),
        (Kind::Gauge, Sample::Value(v)) => m.encode_gauge(v),
        // ntr's histograms count by bucket only: their sum is not known.
        (Kind::Histogram, Sample::Buckets(b)) => m.encode_histogram::<NoLabelSet>(f64::NAN, b.iter().map(|(_, n)| n).sum(), b, None),
        _ => Err(std::fmt::Error),
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            let ty = match f.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut m = encoder.encode_descriptor(&f.name, &f.help, None, ty)?;
            for (values, sample) in &f.rows {
                let labels: Vec<(&str, &str)> = f.labels.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect();
                row(m.encode_family(&labels)?, f.kind, sample)?;
            }
        }
        let help = "Series left out of scrapes past --metrics-max-series, added up over scrapes";
        let m = encoder.encode_descriptor(DROPPED, help, None, MetricType::Counter)?;
        row(m, Kind::Counter, &Sample::Value(self.dropped as f64))
    }
}

/// The families as an OpenMetrics exposition, rows past the limit left
/// out (and counted in `ntr_series_dropped_total`).
pub fn encode(mut families: Vec<Family>, limit: &mut SeriesLimit) -> Result<String, String> {
    let mut series = 0;
    for f in &mut families {
        f.rows.retain(|(_, s)| {
            let n = s.series();
            let keep = series + n <= limit.max;
            if keep {
                series += n;
            } else {
                limit.dropped += n as u64;
            }
            keep
        });
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot { families, dropped: limit.dropped }));
    let mut text = String::new();
    // Writing to a String fails only on a sample of the wrong kind.
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(|_| "a map's rows do not fit its metric type".to_string())?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(name: &str, kind: Kind, labels: &[&str], rows: Vec<(Vec<&str>, Sample)>) -> Family {
        Family {
            name: name.into(),
            help: format!("@{name}"),
            kind,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            rows: rows.into_iter().map(|(v, s)| (v.into_iter().map(String::from).collect(), s)).collect(),
        }
    }

    #[test]
    fn counters_gauges_and_histograms_in_openmetrics() {
        let families = vec![
            family("ntr_drops", Kind::Counter, &["site", "reason"], vec![(vec!["tcp_v4_rcv+0x8a", "NO_SOCKET"], Sample::Value(7.0))]),
            family("ntr_lat", Kind::Gauge, &[], vec![(vec![], Sample::Value(2.5))]),
            family(
                "ntr_size",
                Kind::Histogram,
                &["comm"],
                vec![(vec!["nc"], Sample::Buckets(vec![(0.0, 1), (1.0, 0), (3.0, 2), (f64::INFINITY, 0)]))],
            ),
        ];
        let text = encode(families, &mut SeriesLimit { max: 10_000, dropped: 0 }).unwrap();
        let expected = [
            "# HELP ntr_drops @ntr_drops",
            "# TYPE ntr_drops counter",
            "ntr_drops_total{site=\"tcp_v4_rcv+0x8a\",reason=\"NO_SOCKET\"} 7",
            "# HELP ntr_lat @ntr_lat",
            "# TYPE ntr_lat gauge",
            "ntr_lat 2.5",
            "# HELP ntr_size @ntr_size",
            "# TYPE ntr_size histogram",
            "ntr_size_sum{comm=\"nc\"} NaN",
            "ntr_size_count{comm=\"nc\"} 3",
            "ntr_size_bucket{le=\"0.0\",comm=\"nc\"} 1",
            "ntr_size_bucket{le=\"1.0\",comm=\"nc\"} 1",
            "ntr_size_bucket{le=\"3.0\",comm=\"nc\"} 3",
            "ntr_size_bucket{le=\"+Inf\",comm=\"nc\"} 3",
            "# HELP ntr_series_dropped Series left out of scrapes past --metrics-max-series, added up over scrapes",
            "# TYPE ntr_series_dropped counter",
            "ntr_series_dropped_total 0",
            "# EOF",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let families = vec![family("ntr_c", Kind::Counter, &["why"], vec![(vec!["a \"quoted\" \\ word\nand a line"], Sample::Value(1.0))])];
        let text = encode(families, &mut SeriesLimit { max: 10, dropped: 0 }).unwrap();
        assert!(text.contains(r#"ntr_c_total{why="a \"quoted\" \\ word\nand a line"} 1"#), "{text}");
    }

    #[test]
    fn series_past_the_limit_are_left_out_and_counted() {
        let rows = |n: usize| (0..n).map(|i| (vec![i.to_string()], Sample::Value(i as f64))).collect::<Vec<_>>();
        let mut limit = SeriesLimit { max: 5, dropped: 0 };
        let owned =
            |rows: Vec<(Vec<String>, Sample)>| Family { name: "ntr_m".into(), help: "@m".into(), kind: Kind::Gauge, labels: vec!["k".into()], rows };
        let hist = Family {
            name: "ntr_h".into(),
            help: "@h".into(),
            kind: Kind::Histogram,
            labels: vec!["k".into()],
            rows: vec![(vec!["x".into()], Sample::Buckets(vec![(0.0, 1), (f64::INFINITY, 0)]))],
        };
        let text = encode(vec![owned(rows(4)), hist.clone()], &mut limit).unwrap();
        // 4 gauges fit; the histogram's 4 series do not.
        assert_eq!(text.lines().filter(|l| l.starts_with("ntr_m{")).count(), 4, "{text}");
        assert!(!text.contains("ntr_h_bucket"), "{text}");
        assert!(text.contains("ntr_series_dropped_total 4\n"), "{text}");
        // Added up over scrapes.
        let text = encode(vec![owned(rows(7)), hist], &mut limit).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("ntr_m{")).count(), 5, "{text}");
        assert!(text.contains("ntr_series_dropped_total 10\n"), "{text}");
    }
}
