//! Everyday drops, each built for real in network namespaces, and the cause
//! line dropwatch gives for it: the facts it names (route type, sysctl,
//! neighbour state, qdisc, MTU, socket owner, rule) are checked against
//! what `ip`, `ss`, `tc`, `sysctl` and `iptables-save` say, or what the
//! test itself set up.
//!
//! The path: a (10.0.1.2/24, a0) — r0 (10.0.1.1) router r1 (10.0.3.1) —
//! b (10.0.3.2/24, b0), with a and b routing through the router.

mod common;

use std::process::{Command, Stdio};

use common::topology::Netns;
use common::*;

const SEND: &str = r#"
import socket, sys
src, dst, port, n, size, df = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "df"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if src != "-":
    s.bind((src, 0))
if df:
    s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER: IP_PMTUDISC_DO
for _ in range(n):
    try:
        s.sendto(b"x" * size, (dst, port))
    except OSError:
        pass  # a local refusal (EMSGSIZE, EHOSTUNREACH) is not what is tested
"#;

/// Receives on `addr`:`port` with a small buffer and never reads.
const DEAF: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
time.sleep(120)
"#;

struct Path {
    a: Netns,
    r: Netns,
    b: Netns,
}

fn ip(ns: &Netns, args: &str) {
    let out = Command::new("ip").args(["-n", &ns.name]).args(args.split_whitespace()).output().expect("ip");
    assert!(out.status.success(), "ip -n {} {args}: {}", ns.name, String::from_utf8_lossy(&out.stderr));
}

/// Set sysctl `key` (dotted) in `ns` through /proc/sys (no procps needed).
fn sysctl_set(ns: &Netns, key: &str, value: &str) {
    ns.exec(&["sh", "-c", &format!("echo {value} > /proc/sys/{}", key.replace('.', "/"))]);
}

fn sysctl_get(ns: &Netns, key: &str) -> String {
    ns.exec(&["cat", &format!("/proc/sys/{}", key.replace('.', "/"))]).trim().to_string()
}

impl Path {
    fn new() -> Path {
        let p = Path { a: Netns::new("ntr-da"), r: Netns::new("ntr-dr"), b: Netns::new("ntr-db") };
        let out = Command::new("ip")
            .args(["link", "add", "a0", "netns", &p.a.name, "type", "veth", "peer", "name", "r0", "netns", &p.r.name])
            .status()
            .unwrap();
        assert!(out.success());
        let out = Command::new("ip")
            .args(["link", "add", "r1", "netns", &p.r.name, "type", "veth", "peer", "name", "b0", "netns", &p.b.name])
            .status()
            .unwrap();
        assert!(out.success());
        for (ns, dev, addr) in [(&p.a, "a0", "10.0.1.2/24"), (&p.r, "r0", "10.0.1.1/24"), (&p.r, "r1", "10.0.3.1/24"), (&p.b, "b0", "10.0.3.2/24")] {
            ip(ns, &format!("addr add {addr} dev {dev}"));
            ip(ns, &format!("link set {dev} up"));
        }
        for ns in [&p.a, &p.r, &p.b] {
            ip(ns, "link set lo up");
        }
        ip(&p.a, "route add default via 10.0.1.1");
        ip(&p.b, "route add default via 10.0.3.1");
        sysctl_set(&p.r, "net.ipv4.ip_forward", "1");
        p
    }

    /// From `from`, `n` datagrams of `size` bytes to `dst`:`port` (from
    /// address `src` if given; with DF set if `df`).
    #[allow(clippy::too_many_arguments)]
    fn send(&self, from: &Netns, src: Option<&str>, dst: &str, port: u16, n: u32, size: u32, df: bool) {
        let args = [src.unwrap_or("-"), dst, &port.to_string(), &n.to_string(), &size.to_string(), if df { "df" } else { "-" }];
        from.exec(&[&["python3", "-c", SEND][..], &args[..]].concat());
    }
}

/// dropwatch on `port` while `traffic` runs: the drop lines (with their
/// cause lines) and the whole output.
fn dropwatch<F: FnOnce()>(port: u16, traffic: F) -> (Vec<(String, String)>, String) {
    let run = run_with(&["run", "dropwatch", "-p", &format!("port={port}"), "--duration", "60s"], traffic);
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let drops = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(" drop "))
        .map(|(i, l)| {
            let cause =
                lines[i + 1..].iter().find_map(|c| c.strip_prefix("  cause: ")).unwrap_or_else(|| panic!("no cause for {l}:\n{}", run.stdout));
            (l.to_string(), cause.to_string())
        })
        .collect();
    (drops, run.stdout)
}

/// The cause of the first drop whose line holds every needle.
fn cause_of<'a>(drops: &'a [(String, String)], out: &str, needles: &[&str]) -> &'a str {
    drops
        .iter()
        .find(|(l, _)| needles.iter().all(|n| l.contains(n)))
        .map(|(_, c)| c.as_str())
        .unwrap_or_else(|| panic!("no drop with {needles:?}:\n{out}"))
}

#[test]
fn a_route_that_refuses_is_named_with_its_type_prefix_and_table() {
    let _k = kernel_lock();
    let p = Path::new();
    ip(&p.r, "route add unreachable 10.9.0.0/16");
    ip(&p.r, "route add prohibit 10.7.0.0/16");
    let (drops, out) = dropwatch(47301, || {
        p.send(&p.a, None, "10.9.1.1", 47301, 1, 10, false);
        p.send(&p.a, None, "10.7.1.1", 47301, 1, 10, false);
        p.send(&p.a, None, "10.6.1.1", 47301, 1, 10, false);
    });
    // Ground truth: the router's own tables, and its lookup of the third.
    let table = p.r.exec(&["ip", "route", "show", "table", "main"]);
    assert!(table.contains("unreachable 10.9.0.0/16") && table.contains("prohibit 10.7.0.0/16"), "{table}");
    let none = Command::new("ip").args(["-n", &p.r.name, "route", "get", "10.6.1.1"]).stderr(Stdio::piped()).output().unwrap();
    assert!(String::from_utf8_lossy(&none.stderr).contains("Network is unreachable"));
    let router = format!("drop {}/r0 ", p.r.name);
    let c = cause_of(&drops, &out, &[&router, "-> 10.9.1.1:47301"]);
    assert!(c.ends_with("route to 10.9.1.1: type unreachable (10.9.0.0/16 in table main)"), "{c}");
    let c = cause_of(&drops, &out, &[&router, "-> 10.7.1.1:47301"]);
    assert!(c.ends_with("route to 10.7.1.1: type prohibit (10.7.0.0/16 in table main)"), "{c}");
    let c = cause_of(&drops, &out, &[&router, "-> 10.6.1.1:47301", "reason IP_INNOROUTES"]);
    assert!(c.ends_with("no route to 10.6.1.1 (network unreachable)"), "{c}");
    drop(p);
    assert_nothing_left();
}

#[test]
fn strict_rp_filter_is_named_with_the_sysctls_and_the_route_back() {
    let _k = kernel_lock();
    let p = Path::new();
    // a sends from an address the router routes towards b.
    ip(&p.a, "addr add 10.0.5.5/32 dev a0");
    ip(&p.r, "route add 10.0.5.0/24 via 10.0.3.2");
    sysctl_set(&p.r, "net.ipv4.conf.r0.rp_filter", "1");
    sysctl_set(&p.r, "net.ipv4.conf.all.rp_filter", "0");
    // Resolve the router's address from a's own address first: an ARP
    // request sent from 10.0.5.5 would itself fail the router's rp_filter.
    p.send(&p.a, None, "10.0.1.1", 9, 1, 1, false);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (drops, out) = dropwatch(47302, || p.send(&p.a, Some("10.0.5.5"), "10.0.3.2", 47302, 1, 10, false));
    let (own, all) = (sysctl_get(&p.r, "net.ipv4.conf.r0.rp_filter"), sysctl_get(&p.r, "net.ipv4.conf.all.rp_filter"));
    let back = p.r.exec(&["ip", "route", "get", "10.0.5.5"]);
    assert!(back.contains("via 10.0.3.2 dev r1"), "{back}");
    let c = cause_of(&drops, &out, &[&format!("drop {}/r0 ", p.r.name), "10.0.5.5:", "reason IP_RPFILTER"]);
    assert!(c.contains(&format!("net.ipv4.conf.r0.rp_filter={}, net.ipv4.conf.all.rp_filter={}", own, all)), "{c}");
    assert!(c.contains("the route back to 10.0.5.5: route to 10.0.5.5: unicast via 10.0.3.2 dev r1 in table main"), "{c}");
    drop(p);
    assert_nothing_left();
}

#[test]
fn an_unanswered_arp_is_named_with_the_neighbour_state() {
    let _k = kernel_lock();
    let p = Path::new();
    // Nobody has 10.0.1.77: give up after one probe of 100ms.
    sysctl_set(&p.a, "net.ipv4.neigh.a0.mcast_solicit", "1");
    sysctl_set(&p.a, "net.ipv4.neigh.a0.retrans_time_ms", "100");
    let (drops, out) = dropwatch(47303, || {
        p.send(&p.a, None, "10.0.1.77", 47303, 2, 10, false);
        std::thread::sleep(std::time::Duration::from_millis(800));
    });
    let neigh = p.a.exec(&["ip", "neigh", "show", "10.0.1.77"]);
    assert!(neigh.contains("dev a0") && neigh.contains("FAILED"), "{neigh}");
    let c = cause_of(&drops, &out, &[&format!("drop {}/a0 ", p.a.name), "-> 10.0.1.77:47303", "reason NEIGH_FAILED"]);
    assert!(c.contains("neighbour 10.0.1.77 on a0 is FAILED"), "{c}");
    drop(p);
    assert_nothing_left();
}

#[test]
fn a_full_qdisc_is_named_with_its_kind_and_counters() {
    let _k = kernel_lock();
    let p = Path::new();
    p.a.exec(&["tc", "qdisc", "replace", "dev", "a0", "root", "tbf", "rate", "100kbit", "burst", "1600", "limit", "3000"]);
    let (drops, out) = dropwatch(47304, || p.send(&p.a, None, "10.0.1.1", 47304, 30, 1000, false));
    let stats = p.a.exec(&["tc", "-s", "qdisc", "show", "dev", "a0"]);
    let dropped: u64 =
        stats.split("dropped ").nth(1).and_then(|s| s.split(',').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{stats}"));
    assert!(stats.contains("qdisc tbf") && dropped > 0, "{stats}");
    let c = cause_of(&drops, &out, &[&format!("drop {}/a0 ", p.a.name), "reason QDISC_DROP"]);
    let (_, rest) = c.split_once("qdisc tbf on a0 (").unwrap_or_else(|| panic!("{c}"));
    let seen: u64 = rest.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{c}"));
    assert!(seen >= 1 && seen <= dropped, "{seen} dropped at the lookup, {dropped} at the end: {c}");
    drop(p);
    assert_nothing_left();
}

#[test]
fn a_packet_over_the_mtu_is_named_with_its_size_and_the_mtu() {
    let _k = kernel_lock();
    let p = Path::new();
    ip(&p.r, "link set r1 mtu 1280");
    // 1400 bytes of payload, DF set: 1428 bytes of IP packet.
    let (drops, out) = dropwatch(47305, || p.send(&p.a, None, "10.0.3.2", 47305, 1, 1400, true));
    let link = p.r.exec(&["ip", "link", "show", "r1"]);
    assert!(link.contains("mtu 1280"), "{link}");
    let c = cause_of(&drops, &out, &[&format!("drop {}/r0 ", p.r.name), "-> 10.0.3.2:47305", "reason PKT_TOO_BIG"]);
    assert!(c.ends_with("packet of 1428 bytes, MTU of r1 is 1280"), "{c}");
    drop(p);
    assert_nothing_left();
}

#[test]
fn a_full_receive_buffer_names_the_socket_its_owner_and_its_buffer() {
    let _k = kernel_lock();
    let p = Path::new();
    let mut deaf = Command::new("ip")
        .args(["netns", "exec", &p.b.name, "python3", "-c", DEAF, "10.0.3.2", "47306"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(deaf.stdout.as_mut().unwrap()), &mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    let (drops, out) = dropwatch(47306, || p.send(&p.a, None, "10.0.3.2", 47306, 40, 1000, false));
    // ss: the socket's buffer (rb) as the kernel keeps it.
    let ss = p.b.exec(&["ss", "-uamn", "sport", "= :47306"]);
    let rb = ss.split(",rb").nth(1).and_then(|s| s.split(',').next()).unwrap_or_else(|| panic!("{ss}"));
    let c = cause_of(&drops, &out, &[&format!("drop {}/b0 ", p.b.name), "-> 10.0.3.2:47306", "reason SOCKET_RCVBUFF"]);
    // `ip netns exec` runs python3 in its own process: the pid we spawned.
    assert!(c.contains(&format!("socket udp 10.0.3.2:47306 (uid 0) held by pid {} (python3)", deaf.id())), "{c}");
    assert!(c.contains(&format!("receive buffer {rb} bytes with ")), "{c}");
    let _ = deaf.kill();
    let _ = deaf.wait();
    drop(p);
    assert_nothing_left();
}

#[test]
fn an_input_rule_is_named_from_the_ruleset() {
    let _k = kernel_lock();
    let p = Path::new();
    p.b.exec(&["iptables", "-A", "INPUT", "-p", "udp", "--dport", "47308", "-j", "DROP"]);
    let (drops, out) = dropwatch(47308, || p.send(&p.a, None, "10.0.3.2", 47308, 1, 10, false));
    let saved = p.b.exec(&["iptables-save"]);
    assert!(saved.contains("-A INPUT -p udp -m udp --dport 47308 -j DROP"), "{saved}");
    let c = cause_of(&drops, &out, &[&format!("drop {}/b0 ", p.b.name), "-> 10.0.3.2:47308", "reason NETFILTER_DROP", "hook INPUT"]);
    assert!(c.contains(": filter INPUT rule 1: -p udp -m udp --dport 47308 -j DROP (+1 packet)"), "{c}");
    drop(p);
    assert_nothing_left();
}

/// A flood of drops of one kind: facts are looked up once per namespace and
/// question, not once per drop.
#[test]
fn a_flood_costs_one_lookup_per_question() {
    let _k = kernel_lock();
    let p = Path::new();
    ip(&p.r, "route add unreachable 10.9.0.0/16");
    let run =
        run_with(&["run", "dropwatch", "-p", "port=47309", "--json", "--duration", "60s"], || p.send(&p.a, None, "10.9.1.1", 47309, 300, 10, false));
    run.ok();
    let records: Vec<serde_json::Value> = run.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let causes = records.iter().filter(|r| r.get("cause").is_some()).count();
    assert!(causes >= 50, "{}", run.stdout);
    let summary = records.iter().find(|r| r["type"] == "summary").unwrap_or_else(|| panic!("{}", run.stdout));
    // One route lookup, one dump naming the refusing entry is part of it.
    assert_eq!(summary["fact_lookups"], 1, "{summary}");
    drop(p);
    assert_nothing_left();
}
