//! `--metrics` against the real Prometheus server (Debian's `prometheus`):
//! it scrapes dropwatch while drops happen in a namespace, and its query
//! API must give the number of drops sent, by reason and namespace.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::topology::Netns;
use common::*;

/// A loopback port of this test's range (47600-47699) free now.
fn free_port(from: u16) -> u16 {
    (from..47_700).find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a free port in 47600-47699")
}

/// A Prometheus server scraping `target` every second, with its own data
/// directory; killed and its directory removed on drop, a failed test too.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = std::env::temp_dir().join(format!("ntr-test-prometheus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: ntr\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port(47_650);
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus is installed (.ci/run installs Debian's `prometheus`)");
        let prom = Prometheus { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while prom.get("/-/ready").is_none_or(|r| !r.starts_with("HTTP/1.0 200") && !r.starts_with("HTTP/1.1 200")) {
            assert!(Instant::now() < deadline, "prometheus not ready in 60s:\n{}", prom.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        prom
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The whole HTTP response to GET `path`, none when it cannot connect.
    fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text)
    }

    /// An instant query through `/api/v1/query`: the value of each series.
    fn query(&self, promql: &str) -> Vec<f64> {
        let encoded: String = promql
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let response = self.get(&format!("/api/v1/query?query={encoded}")).unwrap_or_else(|| panic!("no answer from prometheus:\n{}", self.log()));
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"));
        assert_eq!(json["status"], "success", "{json}");
        let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
        result.iter().map(|r| r["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)).collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` datagrams from 127.0.0.1:`sport` to the closed 127.0.0.1:`dport`
/// inside `ns`: each a NO_SOCKET drop there.
fn udp_to_closed_port_in(ns: &Netns, sport: u16, dport: u16, n: usize) {
    let send = format!(
        "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('127.0.0.1', {sport}))\nfor _ in range({n}):\n    s.sendto(b'x', ('127.0.0.1', {dport})); time.sleep(0.0002)"
    );
    ns.exec(&["python3", "-c", &send]);
}

#[test]
fn prometheus_counts_dropwatch_drops_by_reason_and_namespace() {
    let _k = kernel_lock();
    const N: usize = 23;
    let ns = Netns::new("ntr-metrics");
    let ntr_port = free_port(47_600);
    let target = format!("127.0.0.1:{ntr_port}");
    let prom = Prometheus::start(&target);
    let drops = format!("sum(ntr_drops_total{{reason=\"NO_SOCKET\",netns=\"{}\"}})", ns.name);
    let mut seen = Vec::new();
    let mut dropped_series = Vec::new();
    let run = run_with(&["run", "dropwatch", "--metrics", &target, "-p", "port=47610", "--duration", "120s"], || {
        udp_to_closed_port_in(&ns, 47_611, 47_610, N);
        // Scraped every second: wait for a scrape after the last drop.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            seen = prom.query(&drops);
            if seen == [N as f64] {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        dropped_series = prom.query("ntr_series_dropped_total");
    });
    run.ok();
    assert_eq!(seen, [N as f64], "{drops} through Prometheus\nntr stderr:\n{}\nprometheus log:\n{}", run.stderr, prom.log());
    assert_eq!(dropped_series, [0.0], "no series dropped");
    assert!(run.stderr.contains(&format!("Serving metrics on http://{target}/metrics")), "{}", run.stderr);
    // The stack-keyed summary map is said not to be exported.
    assert!(run.stderr.contains("@backtraces is not exported to /metrics: it is keyed by a stack"), "{}", run.stderr);
    // The text summary counts the same drops.
    let row = run.stdout.lines().find(|l| l.starts_with(&format!("@drops[{}, lo, ", ns.name)) && l.contains("NO_SOCKET"));
    assert_eq!(row.and_then(|l| l.rsplit(' ').next()), Some(N.to_string().as_str()), "{}", run.stdout);
    drop(prom);
    assert_nothing_left();
}

/// The exposition ntr serves, read without Prometheus: a map's labels as
/// the script named them, the bound on series, and a scrape's answer while
/// the probes run.
#[test]
fn metrics_endpoint_bounds_the_series_a_scrape_holds() {
    let _k = kernel_lock();
    let port = free_port(47_620);
    let addr = format!("127.0.0.1:{port}");
    // 30 keys or more (800 calls spread by time), at most 10 series: 20 or
    // more left out of each scrape.
    let script = "on sys_enter_getppid { @calls[who = comm, n = nsecs % 30] = count(); }";
    let mut scrape = String::new();
    let run = run_with(&["-e", script, "--metrics", &addr, "--metrics-max-series", "10", "--duration", "60s"], || {
        let mut children = Vec::new();
        for _ in 0..4 {
            children.push(Command::new("python3").args(["-c", "import os\nfor _ in range(200): os.getppid()"]).spawn().unwrap());
        }
        for mut c in children {
            c.wait().unwrap();
        }
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        s.read_to_string(&mut scrape).unwrap();
    });
    run.ok();
    assert!(scrape.starts_with("HTTP/1.0 200"), "{scrape}");
    assert!(scrape.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"), "{scrape}");
    let rows: Vec<&str> = scrape.lines().filter(|l| l.starts_with("ntr_calls_total{who=\"")).collect();
    assert_eq!(rows.len(), 10, "{scrape}");
    assert!(rows.iter().all(|r| r.contains(",n=\"")), "{scrape}");
    let dropped = scrape.lines().find_map(|l| l.strip_prefix("ntr_series_dropped_total ")).and_then(|v| v.parse::<u64>().ok());
    assert!(dropped.is_some_and(|d| d >= 20), "{scrape}");
    assert!(scrape.trim_end().ends_with("# EOF"), "{scrape}");
    assert_nothing_left();
}
