//! tcpdump filter expressions (`filter(skb, "…")`, `-f EXPR`): the same
//! drops as the equivalent `tuple(…)` filters, the same packets as tcpdump's
//! own filter on a capture of the same traffic, and libpcap's refusals as
//! diagnostics inside the string.

mod common;

use common::topology::Netns;
use common::*;

/// Ports of this file's traffic (closed: nothing listens).
const UDP_A: u16 = 47_151;
const UDP_B: u16 = 47_152;
const TCP_C: u16 = 47_153;

/// Known traffic inside `ns`, each packet to a closed port so its receiver
/// drops it: 4 UDP 127.0.0.1→127.0.0.1:A, 3 UDP 127.0.0.3→127.0.0.2:A,
/// 2 UDP 127.0.0.1→127.0.0.1:B, 2 UDP [::1]→[::1]:A, 3 TCP SYNs to
/// 127.0.0.1:C (answered by resets). Payloads are 16 bytes of 0x5a.
fn traffic(ns: &Netns) {
    let script = format!(
        r#"
import socket, time
def udp(fam, src, dst, port, n):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, 0))
    for _ in range(n):
        s.sendto(b'\x5a' * 16, (dst, port)); time.sleep(0.002)
udp(socket.AF_INET, '127.0.0.1', '127.0.0.1', {UDP_A}, 4)
udp(socket.AF_INET, '127.0.0.3', '127.0.0.2', {UDP_A}, 3)
udp(socket.AF_INET, '127.0.0.1', '127.0.0.1', {UDP_B}, 2)
udp(socket.AF_INET6, '::1', '::1', {UDP_A}, 2)
for _ in range(3):
    t = socket.socket()
    try:
        t.connect(('127.0.0.1', {TCP_C}))
    except ConnectionRefusedError:
        pass
    t.close(); time.sleep(0.002)
"#
    );
    ns.exec(&["python3", "-c", &script]);
}

/// The flows of dropwatch's drop lines in `ns` (source ports vary), sorted.
fn drop_flows(out: &str, ns: &Netns) -> Vec<String> {
    let at = format!(" drop {}/lo ", ns.name);
    let mut flows: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_once(&at))
        .map(|(_, rest)| {
            let flow = rest.split(" at ").next().unwrap_or(rest);
            // `udp 127.0.0.1:40000 -> …`: the source port is the kernel's pick.
            let (proto_src, dst) = flow.split_once(" -> ").unwrap_or((flow, ""));
            let src = proto_src.rsplit_once(':').map_or(proto_src, |(a, _)| a);
            format!("{src} -> {dst}")
        })
        .collect();
    flows.sort();
    flows
}

fn dropwatch(ns: &Netns, args: &[&str]) -> Vec<String> {
    let netns = format!("netns={}", ns.name);
    let mut all = vec!["run", "dropwatch", "-p", &netns, "--duration", "60s"];
    all.extend_from_slice(args);
    let run = run_with(&all, || traffic(ns));
    run.ok();
    drop_flows(&run.stdout, ns)
}

#[test]
fn a_filter_expression_drops_what_the_equivalent_tuple_drops() {
    let _k = kernel_lock();
    let ns = Netns::new("ntrflt-a");
    let cases: [(&str, &[&str], Vec<String>); 4] = [
        (
            "udp dst port 47151 and host 127.0.0.1",
            &["-p", "proto=udp", "-p", "dport=47151", "-p", "host=127.0.0.1"],
            vec!["udp 127.0.0.1 -> 127.0.0.1:47151".to_string(); 4],
        ),
        ("ip6 and udp port 47151", &["-p", "proto=udp", "-p", "port=47151", "-p", "host=::/0"], vec!["udp [::1] -> [::1]:47151".to_string(); 2]),
        ("tcp dst port 47153", &["-p", "proto=tcp", "-p", "dport=47153"], vec!["tcp 127.0.0.1 -> 127.0.0.1:47153".to_string(); 3]),
        ("src host 127.0.0.3 and udp", &["-p", "src=127.0.0.3", "-p", "proto=udp"], vec!["udp 127.0.0.3 -> 127.0.0.2:47151".to_string(); 3]),
    ];
    for (expr, tuple, expected) in cases {
        let by_filter = dropwatch(&ns, &["-f", expr]);
        let by_tuple = dropwatch(&ns, tuple);
        assert_eq!(by_filter, expected, "-f {expr:?}");
        assert_eq!(by_tuple, expected, "{tuple:?}");
    }
    // Traffic ran, and nothing matched.
    assert_eq!(dropwatch(&ns, &["-f", "udp dst port 47199"]), Vec::<String>::new());
    drop(ns);
    assert_nothing_left();
}

/// Expressions exercising the translation: absolute and indexed loads of
/// each size, the IP header length (`ldxb 4*([k]&0xf)`), every ALU
/// operation (32-bit wraparound included), `tax`/`txa`, scratch memory,
/// `jset`, IPv6, payload bytes past the headers, and the packet's length.
/// Each with what tcpdump is given for the same packets on `lo`, whose
/// capture has a 14-byte Ethernet header before the IP header (`len`).
const EXPRESSIONS: &[(&str, &str)] = &[
    ("udp dst port 47151", ""),
    ("tcp port 47153", ""),
    ("tcp[tcpflags] & tcp-rst != 0", ""),
    ("ip6 and udp port 47151", ""),
    ("icmp", ""),
    ("host 127.0.0.2", ""),
    ("udp and udp[8:4] = 0x5a5a5a5a", ""),
    ("ip and ip[2:2] - 20 > 30", ""),
    ("ip6 and ip6[40+2:2] = 47151", ""),
    ("not udp", ""),
    ("udp[(ip[0] & 0xf) * 2:2] = 0x5a5a", ""),
    ("udp[8:2] - udp[10:2] = 0", ""),
    ("ip[2:2] / ip[9] = 2", ""),
    ("ip[2:2] * 2 / 3 = 29", ""),
    ("ip[2:2] % 7 = 2", ""),
    ("ip[2:2] ^ 0xffff = 0xffd3", ""),
    ("ip[0] << 1 = 0x8a", ""),
    // Wraps below 0 for packets shorter than 100 bytes; a constant above
    // i32::MAX. (Not `-ip[2:2]`: libpcap's optimizer turns `-ip[2:2] + 70000
    // > 69950` into "accept all" for tcpdump's Ethernet capture.)
    ("ip[2:2] - 100 > 0x80000000", ""),
    ("len >= 60", "len >= 74"),
];

/// tcpdump writing a capture, stopped (SIGINT, so it finishes the file)
/// when dropped, also when a test fails while it runs.
struct Tcpdump(std::process::Child);

impl Drop for Tcpdump {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: signalling our own child, which has not been reaped.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
            let _ = self.0.wait();
        }
    }
}

/// What tcpdump counts for `expr` in the capture `file`.
fn tcpdump_count(file: &std::path::Path, expr: &str) -> u64 {
    let mut tcpdump = std::process::Command::new("tcpdump");
    tcpdump.arg("-nr").arg(file);
    if !expr.is_empty() {
        tcpdump.arg(expr);
    }
    let out = tcpdump.output().expect("tcpdump is installed");
    assert!(out.status.success(), "tcpdump {expr}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().count() as u64
}

#[test]
fn a_filter_passes_the_packets_tcpdump_passes() {
    use std::io::{BufRead, BufReader};
    let _k = kernel_lock();
    let ns = Netns::new("ntrflt-b");
    // Every packet on `lo` passes net_dev_queue once, as tcpdump sees it once.
    let mut script = String::from("param netns: netns = \"\"\non net_dev_queue if netns(skb) == params.netns {\n");
    for (i, (e, _)) in EXPRESSIONS.iter().enumerate() {
        script.push_str(&format!("    if filter(skb, \"{e}\") {{ @m[{i}] = count(); }}\n"));
    }
    script.push_str("    @all = count();\n}\n");
    let dir = std::env::temp_dir().join(format!("ntr-pcap-filters-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, capture) = (dir.join("filters.ntr"), dir.join("lo.pcap"));
    std::fs::write(&file, &script).unwrap();

    // Immediate mode: each packet is written as it comes, not when the
    // kernel's buffer block times out (it would not before the SIGINT).
    let mut tcpdump = Tcpdump(
        std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "tcpdump", "-Z", "root", "-i", "lo", "--immediate-mode", "-U", "-w"])
            .arg(&capture)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tcpdump is installed"),
    );
    let mut err = BufReader::new(tcpdump.0.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 && !line.contains("listening on") {
        line.clear();
    }
    let netns = format!("netns={}", ns.name);
    let run = run_with(&["run", file.to_str().unwrap(), "-p", &netns, "--duration", "60s"], || traffic(&ns));
    drop(tcpdump);
    run.ok();

    let total = tcpdump_count(&capture, "");
    assert!(total >= 25, "the traffic is at least 25 packets: {total}");
    assert_eq!(row_value(&run.stdout, &["@all"]), Some(total), "{}", run.stdout);
    let tcpdump_expr = |(e, t): &(&'static str, &'static str)| if t.is_empty() { *e } else { *t };
    for (i, pair) in EXPRESSIONS.iter().enumerate() {
        let e = pair.0;
        let want = tcpdump_count(&capture, tcpdump_expr(pair));
        let got = row_value(&run.stdout, &[&format!("@m[{i}]")]).unwrap_or(0);
        assert_eq!(got, want, "{e:?}: ntr {got}, tcpdump {want}\n{}", run.stdout);
    }
    // The traffic exercises every expression, and not all at once.
    for pair in EXPRESSIONS {
        let n = tcpdump_count(&capture, tcpdump_expr(pair));
        assert!(n > 0 && n < total, "{}: {n} of {total}", pair.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
    drop(ns);
    assert_nothing_left();
}

fn ntr_with(args: &[&str]) -> Run {
    Run::from(ntr().args(args).output().unwrap())
}

#[test]
fn libpcap_refusals_are_diagnostics_inside_the_string() {
    let program = |expr: &str| format!("on kfree_skb if filter(skb, \"{expr}\") {{ printf(\"x\\n\"); }}");
    // The line, then the caret line under the word libpcap names.
    let caret = |stderr: &str| stderr.lines().find(|l| l.contains('^')).map(|l| (l.find('^').unwrap(), l.matches('^').count())).unwrap();
    let column = |stderr: &str, word: &str| {
        let line = stderr.lines().find(|l| l.contains("on kfree_skb")).unwrap();
        line.find(word).unwrap()
    };

    let run = ntr_with(&["-e", &program("ether host 1:2:3:4:5:6 and udp")]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("error: invalid filter expression: ethernet addresses supported only on"), "{}", run.stderr);
    assert!(run.stderr.contains("link-layer fields (ether, vlan, arp…) cannot be tested"), "{}", run.stderr);
    assert_eq!(caret(&run.stderr), (column(&run.stderr, "ether host"), "ether".len()), "{}", run.stderr);

    let run = ntr_with(&["-e", &program("udp port 99999")]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("illegal port number 99999 > 65535"), "{}", run.stderr);
    assert_eq!(caret(&run.stderr), (column(&run.stderr, "99999"), 5), "{}", run.stderr);

    // A syntax error: libpcap says no more than that; the whole string.
    let run = ntr_with(&["-e", &program("udp dst port")]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("error: invalid filter expression: syntax error"), "{}", run.stderr);
    assert_eq!(caret(&run.stderr), (column(&run.stderr, "\"udp dst port\""), "\"udp dst port\"".len()), "{}", run.stderr);
    assert!(run.stderr.contains("man pcap-filter"), "{}", run.stderr);

    let run = ntr_with(&["-e", "on kfree_skb if filter(location, \"udp\") { printf(\"x\\n\"); }"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`filter` needs a `struct sk_buff *`"), "{}", run.stderr);

    let run = ntr_with(&["-e", "on kfree_skb { let e = \"udp\"; if filter(skb, e) { printf(\"x\\n\"); } }"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("a filter expression must be a string literal or a parameter"), "{}", run.stderr);

    // `-f` is checked once, against the parameter it sets.
    let run = ntr_with(&["check", "dropwatch", "-f", "vlan and udp"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("invalid value `vlan and udp` for parameter `filter` of type pcap"), "{}", run.stderr);
    assert!(run.stderr.contains("libpcap: no VLAN support for Raw IP"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("error:").count(), 1, "{}", run.stderr);

    // Scripts without the parameter refuse `-f`.
    let run = ntr_with(&["check", "tcplife", "-f", "tcp"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`-f/--filter` sets the parameter `filter`, which this script does not declare"), "{}", run.stderr);

    // The network scripts take it; left out, it costs nothing.
    for script in ["dropwatch", "skbtrace", "conntrack", "icmperrors"] {
        let with = ntr_with(&["check", script, "-f", "tcp port 9418 and host 10.0.2.2"]);
        with.ok();
        let without = ntr_with(&["check", script]);
        without.ok();
        let insns = |r: &Run| r.stdout.rsplit(", ").next().and_then(|s| s.split(' ').next()).and_then(|n| n.parse::<u64>().ok()).unwrap();
        assert!(insns(&with) > insns(&without), "{script}: {} vs {}", with.stdout, without.stdout);
    }
}
