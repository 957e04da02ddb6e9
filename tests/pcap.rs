//! `--pcap FILE`: the packets of `pcap(skb)` statements, read back by
//! tshark and tcpdump (Debian's), against what the test sent: the flow, the
//! count, the lengths, the time, the device and namespace, and for drops
//! the reason and site (a symbol of this kernel's /proc/kallsyms, the one
//! dropwatch printed for the same drop).
//!
//! The path: a (a0, 10.77.0.1/24) — veth — b (b0, 10.77.0.2/24); datagrams
//! from a to ports of b that nothing listens on (NO_SOCKET) or that an nft
//! rule drops (NETFILTER_DROP).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::topology::Netns;
use common::walltime::within;
use common::*;

const SPORT: u16 = 47010;

const SEND: &str = r#"
import socket, sys, time
dst, sport, dport, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.1", sport))
for _ in range(n):
    s.sendto(b"x" * size, (dst, dport))
    time.sleep(0.002)
"#;

struct Pair {
    a: Netns,
    b: Netns,
}

fn ip(ns: &Netns, args: &str) {
    let out = Command::new("ip").args(["-n", &ns.name]).args(args.split_whitespace()).output().expect("ip");
    assert!(out.status.success(), "ip -n {} {args}: {}", ns.name, String::from_utf8_lossy(&out.stderr));
}

impl Pair {
    fn new() -> Pair {
        let p = Pair { a: Netns::new("ntrpcap-a"), b: Netns::new("ntrpcap-b") };
        let ok = Command::new("ip")
            .args(["link", "add", "a0", "netns", &p.a.name, "type", "veth", "peer", "name", "b0", "netns", &p.b.name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "veth a0/b0");
        for (ns, dev, addr) in [(&p.a, "a0", "10.77.0.1/24"), (&p.b, "b0", "10.77.0.2/24")] {
            ip(ns, &format!("addr add {addr} dev {dev}"));
            ip(ns, &format!("link set {dev} up"));
        }
        p
    }

    /// `n` datagrams of `size` bytes from a (port `SPORT`) to b's `port`.
    fn send(&self, port: u16, n: u32, size: u32) {
        self.a.exec(&["python3", "-c", SEND, "10.77.0.2", &SPORT.to_string(), &port.to_string(), &n.to_string(), &size.to_string()]);
    }
}

/// A capture file in the temp directory, removed on drop.
struct File(PathBuf);

impl File {
    fn new(name: &str) -> File {
        File(std::env::temp_dir().join(format!("ntr-pcap-{}-{name}.pcapng", std::process::id())))
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One packet as tshark reads it.
#[derive(Debug)]
struct Frame {
    interface: String,
    src: String,
    dst: String,
    sport: String,
    dport: String,
    len: u32,
    caplen: u32,
    /// The IP header's total length (IPv6: payload length plus 40).
    ip_len: u32,
    time_us: i64,
    comment: String,
}

fn tshark(file: &Path) -> Vec<Frame> {
    let fields = [
        "frame.interface_name",
        "ip.src",
        "ip.dst",
        "udp.srcport",
        "udp.dstport",
        "frame.len",
        "frame.cap_len",
        "frame.time_epoch",
        "frame.comment",
        "ip.len",
        "ipv6.plen",
        "ipv6.src",
        "ipv6.dst",
    ];
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(["-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark is installed (.ci/run installs it)");
    assert!(out.status.success(), "tshark -r {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            // tshark leaves out the separators of empty fields at the end.
            let mut c: Vec<&str> = l.split('\t').collect();
            assert!(c.len() <= fields.len() && c.len() >= 10, "tshark line {l:?}");
            c.resize(fields.len(), "");
            let (secs, frac) = c[7].split_once('.').expect("a time with a fraction");
            let v6 = !c[10].is_empty();
            Frame {
                interface: c[0].into(),
                src: if v6 { c[11] } else { c[1] }.into(),
                dst: if v6 { c[12] } else { c[2] }.into(),
                ip_len: if v6 { c[10].parse::<u32>().unwrap() + 40 } else { c[9].parse().unwrap() },
                sport: c[3].into(),
                dport: c[4].into(),
                len: c[5].parse().unwrap(),
                caplen: c[6].parse().unwrap(),
                time_us: secs.parse::<i64>().unwrap() * 1_000_000 + frac[..6].parse::<i64>().unwrap(),
                comment: c[8].into(),
            }
        })
        .collect()
}

/// tcpdump's line per packet (`-nn`), and what it says of the file.
fn tcpdump(file: &Path) -> (Vec<String>, String) {
    let out = Command::new("tcpdump").arg("-r").arg(file).arg("-nn").output().expect("tcpdump is installed (.ci/run installs it)");
    assert!(out.status.success(), "tcpdump -r {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Whether `site` (`function+0xoff`) names a function of this kernel.
fn in_kallsyms(site: &str) -> bool {
    let name = site.split('+').next().unwrap_or_default();
    let syms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    syms.lines().any(|l| l.split_whitespace().nth(2) == Some(name))
}

#[test]
fn dropwatch_writes_every_drop_with_its_reason_and_site() {
    let _k = kernel_lock();
    let p = Pair::new();
    p.b.exec(&[
        "nft",
        "add table inet ntrpcap; add chain inet ntrpcap in { type filter hook input priority 0; }; add rule inet ntrpcap in udp dport 47021 drop",
    ]);
    let file = File::new("dropwatch");
    let (mut from, mut to) = (0, 0);
    let run = run_with(&["run", "dropwatch", "-p", "dst=10.77.0.2", "-p", "proto=udp", "--pcap", file.path(), "--duration", "60s"], || {
        from = now_us();
        p.send(47020, 5, 100);
        p.send(47021, 4, 300);
        to = now_us();
    });
    run.ok();
    assert!(run.stderr.contains(&format!("ntr: 9 packets written to {}", file.path())), "{}", run.stderr);

    let frames = tshark(&file.0);
    assert_eq!(frames.len(), 9, "{frames:#?}\n{}", run.stdout);
    let iface = format!("b0@{}", p.b.name);
    for (port, n, size, reason) in [("47020", 5, 100, "NO_SOCKET"), ("47021", 4, 300, "NETFILTER_DROP")] {
        let mine: Vec<&Frame> = frames.iter().filter(|f| f.dport == port).collect();
        assert_eq!(mine.len(), n, "{frames:#?}");
        for f in mine {
            assert_eq!((f.src.as_str(), f.dst.as_str(), f.sport.as_str()), ("10.77.0.1", "10.77.0.2", "47010"), "{f:?}");
            // The original length is the IP header's own.
            assert_eq!(f.ip_len, f.len, "{f:?}");
            assert_eq!(f.interface, iface, "{f:?}");
            // IPv4 and UDP headers, then the payload; 256 bytes captured.
            assert_eq!(f.len, 28 + size, "{f:?}");
            assert_eq!(f.caplen, f.len.min(256), "{f:?}");
            assert!(within(f.time_us, from - 1000, to + 1000), "{f:?} not between {from} and {to}");
            let site = f
                .comment
                .strip_prefix("drop at ")
                .and_then(|c| c.strip_suffix(&format!(" reason {reason}")))
                .unwrap_or_else(|| panic!("comment {:?} is not `drop at SITE reason {reason}`", f.comment));
            assert!(in_kallsyms(site), "{site} is no kernel function");
            // The site and reason dropwatch printed for this flow.
            let line = format!("10.77.0.1:47010 -> 10.77.0.2:{port} at {site} reason {reason}");
            assert!(run.stdout.contains(&line), "dropwatch printed no {line:?}:\n{}", run.stdout);
        }
    }

    let (lines, about) = tcpdump(&file.0);
    assert!(about.contains("link-type RAW"), "{about}");
    assert_eq!(lines.len(), 9, "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("IP 10.77.0.1.47010 > 10.77.0.2.47020: UDP, length 100")).count(), 5, "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("IP 10.77.0.1.47010 > 10.77.0.2.47021: UDP, length 300")).count(), 4, "{lines:#?}");
    drop(p);
    assert_nothing_left();
}

#[test]
fn snaplen_cuts_the_bytes_not_the_length_and_json_stays_json() {
    let _k = kernel_lock();
    let p = Pair::new();
    let file = File::new("snaplen");
    let script = "on kfree_skb if tuple(dport=47030) { pcap(skb); }";
    let run = run_with(&["-e", script, "--pcap", file.path(), "--snaplen", "64", "--json", "--duration", "60s"], || p.send(47030, 3, 1000));
    run.ok();
    let frames = tshark(&file.0);
    assert_eq!(frames.len(), 3, "{frames:#?}");
    for f in &frames {
        assert_eq!((f.len, f.caplen), (1028, 64), "{f:?}");
        assert_eq!((f.src.as_str(), f.dst.as_str(), f.dport.as_str()), ("10.77.0.1", "10.77.0.2", "47030"), "{f:?}");
        assert!(f.comment.ends_with(" reason NO_SOCKET"), "{f:?}");
    }
    let (lines, about) = tcpdump(&file.0);
    assert!(about.contains("snapshot length 64"), "{about}");
    assert_eq!(lines.iter().filter(|l| l.contains("IP 10.77.0.1.47010 > 10.77.0.2.47030: UDP, length 1000")).count(), 3, "{lines:#?}");
    // The packets went to the file: stdout is JSON only, its summary counts them.
    let values: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    let summary = values.last().expect("a summary");
    assert_eq!((summary["pcap_written"].as_u64(), summary["pcap_not_written"].as_u64()), (Some(3), Some(0)), "{}", run.stdout);
    drop(p);
    assert_nothing_left();
}

#[test]
fn a_full_file_counts_the_packets_it_could_not_take() {
    let _k = kernel_lock();
    let p = Pair::new();
    let file = File::new("limit");
    let script = "on kfree_skb if tuple(dport=47040) { pcap(skb); }";
    let run = run_with(&["-e", script, "--pcap", file.path(), "--pcap-limit", "4K", "--duration", "60s"], || p.send(47040, 30, 200));
    run.ok();
    let size = std::fs::metadata(&file.0).unwrap().len();
    assert!(size <= 4096, "the file has {size} bytes");
    let written = tshark(&file.0).len() as u64;
    assert!(written > 0 && written < 30, "{written} packets written");
    assert!(run.stderr.contains(&format!("ntr: {written} packets written to {}", file.path())), "{}", run.stderr);
    let missing = format!("ntr: {} packets not written to {}: it reached its limit of 4096 bytes", 30 - written, file.path());
    assert!(run.stderr.contains(&missing), "no {missing:?} in\n{}", run.stderr);
    drop(p);
    assert_nothing_left();
}

#[test]
fn without_a_file_a_script_is_told_its_pcap_writes_nothing() {
    let _k = kernel_lock();
    let run = run_with(&["-e", "on kfree_skb if tuple(dport=47050) { pcap(skb); }", "--duration", "60s"], || {});
    run.ok();
    assert!(run.stderr.contains("ntr: pcap() writes nothing: no --pcap FILE given"), "{}", run.stderr);
    assert_nothing_left();
}

#[test]
fn skbtrace_writes_each_step_on_its_device() {
    let _k = kernel_lock();
    let p = Pair::new();
    let file = File::new("skbtrace");
    let run = run_with(&["run", "skbtrace", "-p", "port=47060", "--pcap", file.path(), "--duration", "60s"], || p.send(47060, 3, 100));
    run.ok();
    let frames = tshark(&file.0);
    for f in &frames {
        assert_eq!((f.src.as_str(), f.dst.as_str(), f.dport.as_str(), f.len), ("10.77.0.1", "10.77.0.2", "47060", 128), "{f:?}");
    }
    let (a0, b0) = (format!("a0@{}", p.a.name), format!("b0@{}", p.b.name));
    let on = |iface: &str, comment: &str| frames.iter().filter(|f| f.interface == iface && f.comment.starts_with(comment)).count();
    // Queued and sent on a0, received on b0, dropped there: each once per
    // datagram.
    assert_eq!(on(&a0, "tracepoint:net:net_dev_queue"), 3, "{frames:#?}");
    assert_eq!(on(&a0, "tracepoint:net:net_dev_xmit"), 3, "{frames:#?}");
    assert_eq!(on(&b0, "tracepoint:net:netif_receive_skb"), 3, "{frames:#?}");
    assert_eq!(on(&b0, "drop at "), 3, "{frames:#?}");
    assert!(frames.iter().filter(|f| f.comment.starts_with("drop")).all(|f| f.comment.ends_with(" reason NO_SOCKET")), "{frames:#?}");
    // As many packets as skbtrace printed steps.
    let steps = run.stdout.lines().filter(|l| l.contains("10.77.0.1:47010 -> 10.77.0.2:47060") && !l.contains(" netfilt ")).count();
    assert_eq!(frames.len(), steps, "{frames:#?}\n{}", run.stdout);
    drop(p);
    assert_nothing_left();
}

#[test]
fn ipv6_packets_are_raw_ip_too() {
    let _k = kernel_lock();
    let ns = Netns::new("ntrpcap-6");
    let file = File::new("ipv6");
    let send = "import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\nfor _ in range(4): s.sendto(b'y' * 50, ('::1', 47080))\n";
    let run = run_with(&["-e", "on kfree_skb if tuple(dport=47080) { pcap(skb); }", "--pcap", file.path(), "--duration", "60s"], || {
        ns.exec(&["python3", "-c", send]);
    });
    run.ok();
    let frames = tshark(&file.0);
    assert_eq!(frames.len(), 4, "{frames:#?}");
    for f in &frames {
        assert_eq!((f.src.as_str(), f.dst.as_str(), f.dport.as_str()), ("::1", "::1", "47080"), "{f:?}");
        // 40 bytes of IPv6 header, 8 of UDP, 50 of payload.
        assert_eq!((f.len, f.caplen, f.ip_len), (98, 98, 98), "{f:?}");
        assert_eq!(f.interface, format!("lo@{}", ns.name), "{f:?}");
        assert!(f.comment.ends_with(" reason NO_SOCKET"), "{f:?}");
    }
    let (lines, _) = tcpdump(&file.0);
    assert_eq!(lines.iter().filter(|l| l.contains(" > ::1.47080: UDP, length 50")).count(), 4, "{lines:#?}");
    drop(ns);
    assert_nothing_left();
}

#[test]
fn dropwatch_captures_the_drops_its_rate_keeps_off_the_terminal() {
    let _k = kernel_lock();
    let p = Pair::new();
    let file = File::new("rate");
    let run =
        run_with(&["run", "dropwatch", "-p", "port=47090", "-p", "rate=1", "--pcap", file.path(), "--duration", "60s"], || p.send(47090, 6, 100));
    run.ok();
    let shown = run.stdout.lines().filter(|l| l.contains(" drop ") && l.contains("-> 10.77.0.2:47090")).count();
    assert!((1..6).contains(&shown), "{shown} drop lines:\n{}", run.stdout);
    let held = format!("dropwatch: {} more drops were not printed", 6 - shown);
    assert!(run.stdout.contains(&held), "no {held:?}:\n{}", run.stdout);
    let frames = tshark(&file.0);
    assert_eq!(frames.iter().filter(|f| f.dport == "47090" && f.comment.ends_with(" reason NO_SOCKET")).count(), 6, "{frames:#?}");
    assert_eq!(frames.len(), 6, "{frames:#?}");
    drop(p);
    assert_nothing_left();
}
