//! Network diagnosis on real traffic: the founding incident in namespaces,
//! IPv6 drops, and the stdlib scripts that name them.

mod common;

use common::topology::{self, Incident};
use common::walltime::{self, split_clock};
use common::*;
use std::process::Command;

const CLOSED_ICMP: u16 = 39_413;
const CLOSED_IFDROPS: u16 = 39_414;

#[test]
fn dropwatch_names_the_forward_reject_of_an_invalid_flow() {
    let _k = kernel_lock();
    let mut inc = Incident::new();
    let run = inc.hunt(9418, &["run", "dropwatch", "-p", "port=9418", "--duration", "60s"]);
    run.ok();
    let out = &run.stdout;
    let line = out
        .lines()
        .find(|l| l.contains(" drop ") && l.contains("tcp 10.0.2.2:9418 -> 10.0.1.2:"))
        .unwrap_or_else(|| panic!("no drop of the server's packets:\n{out}"));
    let (_, line) = split_clock(line).unwrap_or_else(|| panic!("starts with the time: {line}"));
    assert!(line.starts_with(&format!("drop {}/srv0 ", inc.node)), "namespace and device: {line}");
    assert!(line.contains("at nft_do_chain+0x") || line.contains("at nf_hook_slow+0x"), "drop site: {line}");
    assert!(line.contains("reason NETFILTER_DROP"), "{line}");
    assert!(line.contains("ct INVALID"), "{line}");
    assert!(line.contains("hook FORWARD"), "{line}");
    assert!(out.contains("rule: filter FORWARD rule 3: -j REJECT --reject-with icmp-port-unreachable (+"), "{out}");
    // The hooks the server's packets entered on the node, where function
    // probes load: PRE_ROUTING as they came in, then FORWARD, which dropped
    // them (never LOCAL_IN or POST_ROUTING). Elsewhere none are claimed.
    let block: Vec<&str> = out.lines().skip_while(|l| !l.ends_with(line)).skip(1).take_while(|l| l.starts_with("  ")).collect();
    if kernel::fentry_loads() {
        assert_eq!(block.first().copied(), Some("  hooks entered: PRE_ROUTING|FORWARD"), "{out}");
    } else {
        assert!(!out.contains("hooks entered"), "{out}");
        assert!(run.stderr.contains("nf_hook_slow") && run.stderr.contains("skipped where the kernel cannot attach it"), "{}", run.stderr);
    }
    // The cause of the server's packets' drops in FORWARD (the cause lines
    // that follow their drop lines, not those of other drops printed
    // before): the rule that dropped them and why this flow met it.
    let lines: Vec<&str> = out.lines().collect();
    let causes: Vec<&str> = (0..lines.len())
        .filter(|&i| lines[i].contains(" drop ") && lines[i].contains("tcp 10.0.2.2:9418 -> 10.0.1.2:") && lines[i].contains(" hook FORWARD"))
        .filter_map(|i| lines[i + 1..].iter().take_while(|l| l.starts_with("  ")).find(|l| l.starts_with("  cause: ")).copied())
        .collect();
    assert!(!causes.is_empty(), "no cause line:\n{out}");
    assert!(
        causes.iter().any(|c| c.starts_with("  cause: filter FORWARD rule 3: -j REJECT --reject-with icmp-port-unreachable (+")
            && c.contains("the flow's conntrack state is INVALID (no entry): a chain that accepts only ESTABLISHED,RELATED drops it")),
        "{causes:#?}\n{out}"
    );
    let trace = out.split("backtrace:").nth(1).unwrap_or_else(|| panic!("no backtrace:\n{out}"));
    let frames: Vec<&str> = trace.lines().skip(1).take_while(|l| l.starts_with("    ")).map(str::trim).collect();
    assert!(frames.iter().any(|f| f.starts_with("nf_hook_slow+0x")), "{frames:?}");
    assert!(frames.iter().any(|f| f.starts_with("ip_forward+0x")), "{frames:?}");
    assert!(!frames[0].starts_with("bpf_"), "tracing frames are trimmed: {frames:?}");
    let summary =
        out.lines().find(|l| l.starts_with("@drops[") && l.contains("NETFILTER_DROP, FORWARD]")).unwrap_or_else(|| panic!("no summary:\n{out}"));
    assert!(summary.rsplit(':').next().unwrap().trim().parse::<u64>().unwrap() >= 1, "{summary}");
    assert!(!out.contains("@_"), "bookkeeping maps stay hidden:\n{out}");
    drop(inc);
    assert_nothing_left();
}

/// The founding incident with --json: the drop records carry the rule and
/// the cause, and nothing comes as text.
#[test]
fn dropwatch_json_names_the_rule_and_the_cause() {
    let _k = kernel_lock();
    let mut inc = Incident::new();
    let run = inc.hunt(9418, &["run", "dropwatch", "-p", "port=9418", "--json", "--duration", "60s"]);
    run.ok();
    let out = &run.stdout;
    let records: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(records.iter().all(|r| ["record", "map", "summary"].contains(&r["type"].as_str().unwrap())), "records, not text:\n{out}");
    let d = records
        .iter()
        .find(|r| r["flow"]["src"] == "10.0.2.2" && r["flow"]["sport"] == 9418 && r["reason"] == "NETFILTER_DROP")
        .unwrap_or_else(|| panic!("no drop of the server's packets:\n{out}"));
    assert_eq!(d["flow"]["dst"], "10.0.1.2", "{d}");
    assert_eq!(d["flow"]["proto"], "tcp", "{d}");
    assert_eq!(d["netns"], inc.node.as_str(), "{d}");
    assert_eq!(d["dev"], "srv0", "{d}");
    assert_eq!(d["ct"], "INVALID", "{d}");
    assert_eq!(d["hook"], "FORWARD", "{d}");
    if kernel::fentry_loads() {
        assert_eq!(d["hooks"], serde_json::json!(["PRE_ROUTING", "FORWARD"]), "{d}");
    } else {
        assert!(d.get("hooks").is_none(), "{d}");
    }
    let rule = d["rule"].as_str().unwrap_or_else(|| panic!("{d}"));
    assert!(rule.starts_with("filter FORWARD rule 3: -j REJECT --reject-with icmp-port-unreachable (+"), "{d}");
    let cause = d["cause"].as_str().unwrap_or_else(|| panic!("{d}"));
    assert!(cause.starts_with(rule.split(" (+").next().unwrap()), "the cause names the rule: {d}");
    assert!(cause.contains("conntrack state is INVALID"), "{d}");
    drop(inc);
    assert_nothing_left();
}

#[test]
fn dropwatch_shows_ipv6_flows_and_filters_by_protocol_and_port() {
    let _k = kernel_lock();
    let run = run_with(&["run", "dropwatch", "-p", "port=9", "-p", "proto=udp", "-p", "dst=::1/128", "--duration", "60s"], || {
        let sock = std::net::UdpSocket::bind("[::1]:0").expect("bind ::1");
        for _ in 0..3 {
            sock.send_to(b"ping", "[::1]:9").expect("send");
        }
        // Not matching: another port, and TCP.
        sock.send_to(b"ping", "[::1]:10").expect("send");
        let _ = std::net::TcpStream::connect("[::1]:9");
    });
    run.ok();
    let drops: Vec<&str> = run.stdout.lines().filter(|l| l.contains(" drop ")).collect();
    assert_eq!(drops.len(), 3, "{}", run.stdout);
    for d in drops {
        assert!(d.contains("udp [::1]:") && d.contains(" -> [::1]:9 "), "{d}");
        assert!(d.contains("reason NO_SOCKET") && d.contains("host/lo"), "{d}");
    }
    assert_nothing_left();
}

#[test]
fn conntrack_follows_the_flow_until_its_packets_lose_their_entry() {
    let _k = kernel_lock();
    let mut inc = Incident::new();
    let run = inc.hunt(9418, &["run", "conntrack", "-p", "port=9418", "--duration", "60s"]);
    run.ok();
    let out = &run.stdout;
    let flow = format!("{} tcp 10.0.1.2:", inc.node);
    let lines: Vec<&str> = out.lines().filter_map(|l| split_clock(l).map(|(_, rest)| rest)).collect();
    let lines: Vec<&str> = lines.into_iter().filter(|l| l.starts_with(&flow) && l.contains(" <-> 10.0.2.2:9418: ")).collect();
    assert!(lines.len() >= 3, "{out}");
    // Where function probes load, conntrack's own changes show as the
    // packet leaves the node's PRE_ROUTING hook: the SYN coming in from the
    // pod. Elsewhere, as the packet is sent on towards the server.
    let fexit = kernel::fentry_loads();
    let first_seen = if fexit { "(fexit:nf_hook_slow on pod0)" } else { "(tracepoint:net:net_dev_queue on srv0)" };
    assert!(lines[0].contains(": NEW/SYN_SENT [") && lines[0].ends_with(first_seen), "first seen {first_seen}: {}", lines[0]);
    let established =
        lines.iter().position(|l| l.contains("-> ESTABLISHED/ESTABLISHED [") && l.contains("ASSURED")).unwrap_or_else(|| panic!("{out}"));
    // Whichever side sends first after the entry is deleted loses it: the
    // server's data (in on srv0) or the pod's ACK (in on pod0). With function
    // probes conntrack's verdict shows first, as the packet leaves
    // PRE_ROUTING without an entry, then the FORWARD rule drops it.
    let on_either = |l: &str, then: &str| ["srv0", "pod0"].iter().any(|dev| l.ends_with(&format!("{then} on {dev})")));
    let invalid = if fexit {
        let lost = lines
            .iter()
            .position(|l| l.contains("ESTABLISHED/ESTABLISHED [") && on_either(l, "-> no conntrack entry (fexit:nf_hook_slow"))
            .unwrap_or_else(|| panic!("{out}"));
        let dropped = lines
            .iter()
            .position(|l| on_either(l, ": no conntrack entry -> INVALID, dropped by a netfilter rule (tracepoint:skb:kfree_skb"))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(lost < dropped, "{out}");
        lost
    } else {
        lines
            .iter()
            .position(|l| l.contains("ESTABLISHED/ESTABLISHED [") && on_either(l, "-> INVALID, no conntrack entry (tracepoint:skb:kfree_skb"))
            .unwrap_or_else(|| panic!("{out}"))
    };
    assert!(established < invalid, "{out}");
    assert!(!out.contains(&inc.pod) && !out.contains(&inc.server), "namespaces without conntrack stay quiet:\n{out}");
    assert!(!out.contains("@_"), "bookkeeping maps stay hidden:\n{out}");
    drop(inc);
    assert_nothing_left();
}

#[test]
fn skbtrace_follows_packets_across_namespaces_until_forward_drops_them() {
    let _k = kernel_lock();
    let mut inc = Incident::new();
    let run = inc.hunt(9418, &["run", "skbtrace", "-p", "port=9418", "--duration", "60s"]);
    run.ok();
    let out = &run.stdout;
    let step = |ns: &str, dev: &str, what: &str| -> Option<usize> {
        out.lines().position(|l| l.contains(&format!(" {ns}/{dev} {what:<8} tcp 10.0.2.2:9418 -> 10.0.1.2:")))
    };
    let into_pod = step(&inc.pod, "eth0", "receive").unwrap_or_else(|| panic!("server packets reach the pod:\n{out}"));
    let into_node = step(&inc.node, "srv0", "receive").unwrap_or_else(|| panic!("server packets reach the node:\n{out}"));
    let dropped = out
        .lines()
        .position(|l| {
            l.contains(&format!(" {}/srv0 dropped  tcp 10.0.2.2:9418 -> 10.0.1.2:", inc.node))
                && l.contains("reason NETFILTER_DROP ct INVALID hook FORWARD")
        })
        .unwrap_or_else(|| panic!("server packets die in FORWARD:\n{out}"));
    assert!(into_node < into_pod && into_pod < dropped, "earlier packets crossed into the pod before the drops:\n{out}");
    let server_queue = step(&inc.server, "eth0", "queue").unwrap_or_else(|| panic!("{out}"));
    assert!(server_queue < into_node, "{out}");
    // Sent on the devices of the path the topology builds: the server's
    // eth0, then the node's pod0; the pod's packets on its eth0, then srv0.
    // The packet's own flow, not the one an ICMP error quotes (`about …`).
    let xmit = |flow: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once(" xmit ")?;
                rest.split(" about ").next()?.contains(flow).then(|| l.split_whitespace().nth(1).unwrap().to_string())
            })
            .collect()
    };
    let to_pod = xmit("tcp 10.0.2.2:9418 -> 10.0.1.2:");
    let to_server = xmit(" -> 10.0.2.2:9418");
    for (sent_on, path) in [
        (&to_pod, [format!("{}/eth0", inc.server), format!("{}/pod0", inc.node)]),
        (&to_server, [format!("{}/eth0", inc.pod), format!("{}/srv0", inc.node)]),
    ] {
        for dev in &path {
            assert!(sent_on.contains(dev), "sent on {dev}:\n{out}");
        }
        assert!(sent_on.iter().all(|d| path.contains(d)), "only on the path's sending devices {path:?}: {sent_on:?}\n{out}");
    }
    // Netfilter hooks, where the kernel lets ntr probe nf_hook_slow: the
    // node's hooks let the server's packets through, then FORWARD rejects
    // them (nf_hook_slow returns -EPERM).
    let hook = |name: &str, verdict: &str| {
        out.lines().any(|l| {
            l.contains(&format!(" {}/srv0 netfilt  tcp 10.0.2.2:9418 -> 10.0.1.2:", inc.node)) && l.ends_with(&format!(" hook {name}: {verdict}"))
        })
    };
    if kernel::fentry_loads() {
        for (name, verdict) in [("PRE_ROUTING", "accept"), ("FORWARD", "accept"), ("FORWARD", "drop (-1)")] {
            assert!(hook(name, verdict), "hook {name} verdict {verdict}:\n{out}");
        }
    } else {
        assert!(!out.contains(" netfilt "), "{out}");
        assert!(run.stderr.contains("note: this kernel does not allow fentry/fexit") && run.stderr.contains("nf_hook_slow"), "{}", run.stderr);
    }
    drop(inc);
    assert_nothing_left();
}

#[test]
fn tcpstates_shows_a_refused_connection_and_its_resets() {
    let _k = kernel_lock();
    let run = run_with(&["run", "tcpstates", "-p", "port=9", "--duration", "60s"], || {
        assert!(std::net::TcpStream::connect("127.0.0.1:9").is_err());
    });
    run.ok();
    let out = &run.stdout;
    let lines: Vec<&str> = out.lines().filter_map(|l| split_clock(l).map(|(_, rest)| rest)).collect();
    assert!(lines.iter().any(|l| l.starts_with("host tcp 127.0.0.1:") && l.ends_with(" -> 127.0.0.1:9: CLOSE -> SYN_SENT")), "{out}");
    assert!(lines.iter().any(|l| l.ends_with(" -> 127.0.0.1:9: SYN_SENT -> CLOSE")), "{out}");
    // Kernels whose tcp_send_reset has no `reason` (6.1) trace only resets
    // sent from a socket: this one answers a closed port.
    if kernel::tracepoint_has_field("tcp", "tcp_send_reset", "reason") {
        assert!(lines.iter().any(|l| l.contains(" -> 127.0.0.1:9: reset sent, reason NO_SOCKET")), "{out}");
    }
    assert!(lines.iter().any(|l| l.contains(" -> 127.0.0.1:9: reset received (state SYN_SENT)")), "{out}");
    assert_eq!(row_value(out, &["@resets_received[tcp 127.0.0.1:", "-> 127.0.0.1:9]"]), Some(1), "{out}");
    assert_nothing_left();
}

#[test]
fn icmperrors_explains_port_unreachable_and_names_reject_rules() {
    let _k = kernel_lock();
    let port = format!("port={CLOSED_ICMP}");
    let run = run_with(&["run", "icmperrors", "-p", "proto=udp", "-p", &port, "--duration", "60s"], || udp_to_closed_port(CLOSED_ICMP, 2, 8));
    run.ok();
    let out = &run.stdout;
    let lines: Vec<&str> = out.lines().filter_map(|l| split_clock(l).map(|(_, rest)| rest)).collect();
    let lines: Vec<&str> =
        lines.into_iter().filter(|l| l.contains(&format!(" -> 127.0.0.1:{CLOSED_ICMP}: type 3 code 3, port unreachable"))).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("host answering udp 127.0.0.1:") && lines[0].ends_with("(hook -)"), "{}", lines[0]);
    assert!(out.contains("@errors[3, 3, -]: 2"), "{out}");

    // The incident's REJECT answers the server's packets from FORWARD.
    let mut inc = Incident::new();
    let run = inc.hunt(9418, &["run", "icmperrors", "-p", "port=9418", "--duration", "60s"]);
    run.ok();
    let reject = format!("{} answering tcp 10.0.2.2:9418 -> 10.0.1.2:", inc.node);
    let answered = |l: &str| l.starts_with(&reject) && l.contains("port unreachable") && l.ends_with("(hook FORWARD)");
    assert!(run.stdout.lines().any(|l| split_clock(l).is_some_and(|(_, rest)| answered(rest))), "{}", run.stdout);
    drop(inc);
    assert_nothing_left();
}

#[test]
fn ifdrops_counts_per_interface_every_second() {
    let _k = kernel_lock();
    // The drops happen on a veth device of this test's own, in a namespace
    // of its own: drops on `lo` or anywhere else on the machine are not
    // counted.
    let (a, b) = (topology::Netns::new("ntr-ifa"), topology::Netns::new("ntr-ifb"));
    let (dev_a, dev_b) = (format!("ifda{}", std::process::id()), format!("ifdb{}", std::process::id()));
    let ok = std::process::Command::new("ip")
        .args(["link", "add", &dev_a, "netns", &a.name, "type", "veth", "peer", "name", &dev_b, "netns", &b.name])
        .status()
        .unwrap();
    assert!(ok.success());
    a.exec(&["ip", "addr", "add", "10.77.0.1/24", "dev", &dev_a]);
    b.exec(&["ip", "addr", "add", "10.77.0.2/24", "dev", &dev_b]);
    a.exec(&["ip", "link", "set", &dev_a, "up"]);
    b.exec(&["ip", "link", "set", &dev_b, "up"]);
    let send = format!(
        "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(12):\n    s.sendto(b'x', ('10.77.0.2', {CLOSED_IFDROPS})); time.sleep(0.0002)"
    );
    let ifname = format!("ifname={dev_b}");
    let row = format!("@drops[{}, {dev_b}, NO_SOCKET]: ", b.name);
    let mut window = (0, 0);
    let run = run_with(&["run", "ifdrops", "-p", &ifname, "-p", "reason=NO_SOCKET", "--duration", "60s"], || {
        window.0 = walltime::now_us();
        a.exec(&["python3", "-c", &send]);
        // At least one tick of `every 1s` sees the drops.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        window.1 = walltime::now_us();
    });
    drop((a, b));
    run.ok();
    let counts: Vec<u64> = run.stdout.lines().filter(|l| l.starts_with(&row)).map(|l| l.rsplit(' ').next().unwrap().parse().unwrap()).collect();
    assert!(!counts.is_empty(), "{}", run.stdout);
    assert_eq!(counts.iter().sum::<u64>(), 12, "each second's counts, then cleared: {}", run.stdout);
    assert!(run.stdout.lines().filter(|l| l.starts_with("@drops[")).all(|l| l.starts_with(&row)), "only {dev_b}'s drops: {}", run.stdout);
    // A second with drops is headed by its time, then its rows; a second
    // without prints nothing. (What is left at exit prints without one.)
    let lines: Vec<&str> = run.stdout.lines().collect();
    let headers: Vec<usize> =
        (0..lines.len()).filter(|&i| split_clock(lines[i]).is_some_and(|(_, rest)| rest == "drops in the last second:")).collect();
    assert!(!headers.is_empty(), "{}", run.stdout);
    for &i in &headers {
        assert!(lines.get(i + 1).is_some_and(|l| l.starts_with(&row)), "{}", run.stdout);
        let (tod, _) = split_clock(lines[i]).unwrap();
        assert!(walltime::time_of_day_within(tod, window.0, window.1, local_offset()), "{} not in {window:?}", lines[i]);
    }
    assert!(!run.stdout.contains("@_"), "{}", run.stdout);
    assert_nothing_left();
}

/// This machine's offset from UTC now, in seconds, as `date` tells it.
fn local_offset() -> i64 {
    let out = std::process::Command::new("date").arg("+%z").output().expect("date");
    let z = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let sign = if z.starts_with('-') { -1 } else { 1 };
    sign * (z[1..3].parse::<i64>().unwrap() * 3600 + z[3..5].parse::<i64>().unwrap() * 60)
}

/// A flood far above `rate`: the lines printed and the drops held back, as
/// the exit message counts them, add up to the datagrams sent.
#[test]
fn dropwatch_rate_limits_lines_and_says_how_many_it_held_back() {
    let _k = kernel_lock();
    const SENT: u64 = 2000;
    let run = run_with(&["run", "dropwatch", "-p", "port=47210", "-p", "rate=20", "--duration", "60s"], || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        for i in 0..SENT {
            sock.send_to(b"flood", "127.0.0.1:47210").expect("send");
            if i % 100 == 99 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    });
    run.ok();
    let out = &run.stdout;
    let lines = out.lines().filter(|l| split_clock(l).is_some_and(|(_, rest)| rest.starts_with("drop host/lo udp "))).count() as u64;
    // The flood takes well under a second: one per-second window, two at
    // most (and a line or two more where CPUs pass the check at once).
    assert!((20..=44).contains(&lines), "{lines} lines:\n{out}");
    let said = out.lines().find(|l| l.starts_with("dropwatch: ")).unwrap_or_else(|| panic!("no word of the held-back drops:\n{out}"));
    let held: u64 = said["dropwatch: ".len()..].split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{said}"));
    assert!(
        said.ends_with(
            " more drops were not printed, past the limit of 20 lines per second; @drops below counts them (raise the limit with -p rate=N)"
        ),
        "{said}"
    );
    assert_eq!(lines + held, SENT, "{out}");
    let counted: u64 = out.lines().filter(|l| l.starts_with("@drops[")).map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(counted, SENT, "{out}");
    assert!(!out.contains("@_") && !out.contains("@suppressed"), "bookkeeping maps stay hidden:\n{out}");
    assert_nothing_left();
}

/// Below the rate nothing is held back, and nothing says so.
#[test]
fn dropwatch_says_nothing_of_held_back_drops_when_there_are_none() {
    let _k = kernel_lock();
    let run = run_with(&["run", "dropwatch", "-p", "port=47211", "--duration", "60s"], || udp_to_closed_port(47_211, 3, 8));
    run.ok();
    let lines = run.stdout.lines().filter(|l| split_clock(l).is_some_and(|(_, rest)| rest.starts_with("drop host/lo udp "))).count();
    assert_eq!(lines, 3, "{}", run.stdout);
    assert!(!run.stdout.contains("not printed"), "{}", run.stdout);
    assert_nothing_left();
}

/// Sends one datagram from 127.0.0.1:`sport` to the closed 127.0.0.1:`dport`
/// inside namespace `ns`; returns the epoch microseconds around it.
fn udp_in_namespace(ns: &topology::Netns, sport: u16, dport: u16) -> (i64, i64) {
    let send = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('127.0.0.1', {sport}))\ns.sendto(b'x', ('127.0.0.1', {dport}))"
    );
    // The window is taken inside the namespace's process: python's own
    // clock before and after the send.
    let timed = format!("import time\nt0 = time.time_ns() // 1000\n{send}\nprint(t0, time.time_ns() // 1000)");
    let out = ns.exec(&["python3", "-c", &timed]);
    let mut t = out.split_whitespace().map(|w| w.parse::<i64>().unwrap_or_else(|_| panic!("{out}")));
    (t.next().unwrap(), t.next().unwrap())
}

/// `--json`: each drop is one record whose fields are what was sent, where:
/// the namespace, the device, the flow's addresses and ports, the reason,
/// the time (in the zone TZ names) within the send's window.
#[test]
fn dropwatch_json_records_are_the_drops_field_by_field() {
    let _k = kernel_lock();
    let ns = topology::Netns::new("ntr-json");
    let mut window = (0, 0);
    let run = run_with_env(&["run", "dropwatch", "-p", "port=47220", "--json", "--duration", "60s"], &[("TZ", "NST3:30")], || {
        window = udp_in_namespace(&ns, 47_221, 47_220);
    });
    run.ok();
    let records: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(records.iter().all(|r| r["type"] != "printf"), "records, not text:\n{}", run.stdout);
    let drops: Vec<&serde_json::Value> = records.iter().filter(|r| r["type"] == "record" && r.get("reason").is_some()).collect();
    assert_eq!(drops.len(), 1, "{}", run.stdout);
    let d = drops[0];
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    // Where function probes load, the netfilter hooks the packet entered
    // in the namespace (whatever registered hooks there), on the way of a
    // packet sent and received on lo; none are claimed elsewhere.
    if kernel::fentry_loads() && d.get("hooks").is_some() {
        assert_eq!(keys, ["type", "time", "netns", "dev", "flow", "site", "reason", "ct", "hook", "hooks", "cause"], "{d}");
        let path = ["LOCAL_OUT", "POST_ROUTING", "PRE_ROUTING", "LOCAL_IN"];
        assert!(d["hooks"].as_array().unwrap().iter().all(|h| path.contains(&h.as_str().unwrap())), "{d}");
    } else {
        assert_eq!(keys, ["type", "time", "netns", "dev", "flow", "site", "reason", "ct", "hook", "cause"], "{d}");
    }
    let (t, offset) = walltime::parse_rfc3339(d["time"].as_str().unwrap()).unwrap_or_else(|| panic!("{d}"));
    assert_eq!(offset, -(3 * 3600 + 30 * 60), "TZ=NST3:30 is 3h30 west of UTC: {d}");
    assert!(walltime::within(t, window.0, window.1), "{t} not in {window:?}: {d}");
    assert_eq!(d["netns"], ns.name.as_str(), "{d}");
    assert_eq!(d["dev"], "lo", "{d}");
    let flow = serde_json::json!({"family": "ipv4", "proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1", "sport": 47221, "dport": 47220});
    assert_eq!(d["flow"], flow, "{d}");
    assert!(d["site"].as_str().unwrap().starts_with("__udp4_lib_rcv+0x"), "{d}");
    assert_eq!(d["reason"], "NO_SOCKET", "{d}");
    assert_eq!(d["ct"], "NO_CONNTRACK", "nothing uses conntrack in a new namespace: {d}");
    assert_eq!(d["hook"], "-", "{d}");
    // Nothing listens on the port in the namespace (ss agrees).
    assert!(!ns.exec(&["ss", "-uan"]).contains(":47220 "));
    assert!(d["cause"].as_str().unwrap().starts_with("no udp socket bound to port 47220 in this namespace at the lookup either"), "{d}");
    // The site's backtrace, once: a record of its own.
    let trace: Vec<&serde_json::Value> = records.iter().filter(|r| r.get("backtrace").is_some()).collect();
    assert_eq!(trace.len(), 1, "{}", run.stdout);
    assert_eq!(trace[0]["site"], d["site"]);
    let frames: Vec<&str> = trace[0]["backtrace"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(frames.iter().any(|f| f.starts_with("__udp4_lib_rcv+0x")), "{frames:?}");
    assert!(!run.stdout.contains("\"@_"), "bookkeeping maps stay out of JSON:\n{}", run.stdout);
    drop(ns);
    assert_nothing_left();
}

/// Text lines start with the local time (TZ applied), or UTC with --utc,
/// within the window of the traffic.
#[test]
fn per_event_lines_carry_the_wall_clock_time() {
    let _k = kernel_lock();
    let ns = topology::Netns::new("ntr-time");
    let india = 5 * 3600 + 30 * 60;
    for (utc, offset) in [(false, india), (true, 0)] {
        let mut args = vec!["run", "dropwatch", "-p", "port=47230", "--duration", "60s"];
        if utc {
            args.push("--utc");
        }
        let mut window = (0, 0);
        let run = run_with_env(&args, &[("TZ", "IST-5:30")], || {
            window = udp_in_namespace(&ns, 47_231, 47_230);
        });
        run.ok();
        let line = run.stdout.lines().find(|l| l.contains(" drop ")).unwrap_or_else(|| panic!("{}", run.stdout));
        let (tod, rest) = split_clock(line).unwrap_or_else(|| panic!("{line}"));
        assert!(rest.starts_with(&format!("drop {}/lo udp 127.0.0.1:47231 -> 127.0.0.1:47230 ", ns.name)), "{line}");
        assert!(walltime::time_of_day_within(tod, window.0, window.1, offset), "utc {utc}: {line} not in {window:?}");
        // The other zone's reading would be 5h30 off.
        assert!(!walltime::time_of_day_within(tod, window.0, window.1, india - offset), "utc {utc}: {line}");
    }
    drop(ns);
    assert_nothing_left();
}

#[test]
fn icmp_errors_carry_the_flow_they_answer() {
    let _k = kernel_lock();
    // Only the errors sent in this test's namespace: a flood to a closed
    // port elsewhere would print an error per datagram.
    let ns = topology::Netns::new("ntr-icmp");
    let script = "param ns: netns = \"\"
                  on net_dev_xmit if netns(skb) == params.ns && (tuple(skb).proto == 1 || tuple(skb).proto == 58) { printf(\"%s\\n\", tuple(skb)); }";
    let run = run_with(&["-e", script, "-p", &format!("ns={}", ns.name), "--duration", "60s"], || {
        let send = "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'v4', ('127.0.0.1', 39416))\nsocket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b'v6', ('::1', 39416))";
        ns.exec(&["python3", "-c", send]);
    });
    drop(ns);
    run.ok();
    let out = &run.stdout;
    assert!(
        out.lines().any(|l| l.starts_with("icmp 127.0.0.1 -> 127.0.0.1 type 3 code 3 about udp 127.0.0.1:") && l.ends_with(" -> 127.0.0.1:39416")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("icmpv6 ::1 -> ::1 type 1 code 4 about udp [::1]:") && l.ends_with(" -> [::1]:39416")), "{out}");
    assert_nothing_left();
}

/// A namespace that nothing makes conntrack track: its drops say
/// NO_CONNTRACK, never INVALID. Once a rule there uses conntrack
/// (`conntrack -L` in that namespace lists the flow), the same drops say
/// NO_ENTRY: still not INVALID, as no rule judged them.
#[test]
fn drops_where_conntrack_is_off_never_say_invalid() {
    let _k = kernel_lock();
    let ns = topology::Netns::new("ntr-noct");
    let send = |n: usize| {
        ns.exec(&[
            "python3",
            "-c",
            &format!("import socket\nfor _ in range({n}): socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 39417))"),
        ])
    };
    let args = ["run", "dropwatch", "-p", "port=39417", "--duration", "60s"];
    let run = run_with(&args, || {
        send(3);
    });
    run.ok();
    let drops: Vec<&str> = run.stdout.lines().filter(|l| l.contains(" drop ") && l.contains(" -> 127.0.0.1:39417 ")).collect();
    assert_eq!(drops.len(), 3, "{}", run.stdout);
    for d in &drops {
        assert!(d.contains(&format!("drop {}/lo udp ", ns.name)) && d.contains(" ct NO_CONNTRACK hook -"), "{d}");
    }
    assert!(!run.stdout.contains("INVALID"), "{}", run.stdout);

    ns.exec(&["iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"]);
    let run = run_with(&args, || {
        send(2);
    });
    run.ok();
    let entries = ns.exec(&["conntrack", "-L", "-p", "udp", "--dport", "39417"]);
    assert!(entries.contains("dport=39417"), "conntrack tracks the flow now: {entries}");
    // UDP releases the entry before it drops a datagram nobody receives.
    let drops: Vec<&str> = run.stdout.lines().filter(|l| l.contains(" drop ") && l.contains(" -> 127.0.0.1:39417 ")).collect();
    assert_eq!(drops.len(), 2, "{}", run.stdout);
    assert!(drops.iter().all(|d| d.contains(" ct NO_ENTRY hook -")), "{drops:?}");
    assert!(!run.stdout.contains("INVALID"), "{}", run.stdout);
    drop(ns);
    assert_nothing_left();
}

/// A packet dropped in OUTPUT has no device yet: the line says so, and
/// names the namespace from its socket.
#[test]
fn a_drop_before_routing_says_it_had_no_device() {
    let _k = kernel_lock();
    let ns = topology::Netns::new("ntr-nodev");
    ns.exec(&["iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "39418", "-j", "DROP"]);
    let run = run_with(&["run", "dropwatch", "-p", "port=39418", "--duration", "60s"], || {
        // sendto fails with EPERM when OUTPUT drops the datagram.
        ns.exec(&[
            "python3",
            "-c",
            "import socket\ntry: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 39418))\nexcept PermissionError: pass",
        ]);
    });
    run.ok();
    let line = run.stdout.lines().find(|l| l.contains(" drop ") && l.contains(" -> 127.0.0.1:39418 ")).unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.contains(&format!("drop {}/(no device) udp ", ns.name)), "{line}");
    assert!(line.contains("reason NETFILTER_DROP ct NO_CONNTRACK hook OUTPUT"), "{line}");
    drop(ns);
    assert_nothing_left();
}

/// A packet that is not IP shows its ethertype, and no conntrack state
/// claims anything about it.
#[test]
fn non_ip_drops_show_their_ethertype() {
    let _k = kernel_lock();
    let (a, b) = (topology::Netns::new("ntr-l2a"), topology::Netns::new("ntr-l2b"));
    let ok = std::process::Command::new("ip")
        .args(["link", "add", "l2a", "netns", &a.name, "type", "veth", "peer", "name", "l2b", "netns", &b.name])
        .status()
        .unwrap();
    assert!(ok.success());
    // No IPv6 on the link: its router solicitations and MLD reports would
    // be drops of their own on l2b.
    a.exec(&["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/l2a/disable_ipv6"]);
    b.exec(&["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/l2b/disable_ipv6"]);
    a.exec(&["ip", "link", "set", "l2a", "up"]);
    b.exec(&["ip", "link", "set", "l2b", "up"]);
    // Broadcast LLDP frames (ethertype 0x88cc): nothing in the kernel takes them.
    let send = "import socket\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('l2a', 0))\nfor _ in range(3): s.send(b'\\xff' * 6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x88\\xcc' + bytes(46))";
    let run = run_with(&["run", "dropwatch", "-p", "ifname=l2b", "--duration", "60s"], || {
        a.exec(&["python3", "-c", send]);
    });
    run.ok();
    let drops: Vec<&str> = run.stdout.lines().filter(|l| l.contains(&format!(" drop {}/l2b ", b.name))).collect();
    assert_eq!(drops.len(), 3, "{}", run.stdout);
    for d in drops {
        assert!(d.contains(" ethertype 0x88cc (LLDP) at ") && d.contains(" ct NOT_IP "), "{d}");
    }
    drop((a, b));
    assert_nothing_left();
}

#[test]
fn wall_clock_readings_in_tests_are_right() {
    assert_eq!(walltime::days_from_civil(1970, 1, 1), 0);
    assert_eq!(walltime::days_from_civil(2026, 11, 26), 20_783);
    // 2026-11-26T14:05:23.123456Z, as seen in India and in Newfoundland.
    let t = 1_795_701_923_123_456;
    assert_eq!(walltime::parse_rfc3339("2026-11-26T19:35:23.123456+05:30"), Some((t, 19_800)));
    assert_eq!(walltime::parse_rfc3339("2026-11-26T10:35:23.123456-03:30"), Some((t, -12_600)));
    assert_eq!(walltime::split_clock("19:35:23.123456 drop"), Some((((19 * 60 + 35) * 60 + 23) * 1_000_000 + 123_456, "drop")));
    assert!(walltime::split_clock("   812us drop").is_none());
    assert!(walltime::time_of_day_within(((19 * 60 + 35) * 60 + 23) * 1_000_000 + 123_456, t - 10, t + 10, 19_800));
    assert!(!walltime::time_of_day_within(((14 * 60 + 5) * 60 + 23) * 1_000_000 + 123_456, t - 10, t + 10, 19_800));
}

/// The module that defines kernel function `name`, as /proc/kallsyms says
/// (`ADDR t NAME\t[MODULE]`); `None` when built in.
fn module_of(name: &str) -> Option<String> {
    let all = std::fs::read_to_string("/proc/kallsyms").unwrap();
    all.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        let (_, kind, sym) = (parts.next()?, parts.next()?, parts.next()?);
        (sym == name && ["t", "T"].contains(&kind)).then(|| parts.next().map(|m| m.trim_matches(['[', ']']).to_string()))?
    })
}

/// `ntr check` of a script written to a file named `name`.
fn check_text(name: &str, text: &str) -> Run {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.ntr"));
    std::fs::write(&path, text).unwrap();
    Run::from(ntr().arg("check").arg(&path).output().unwrap())
}

/// A kernel function that may live in a module: `nf_conntrack_in` is in
/// nf_conntrack on Debian's kernel, built in on the development one. Where
/// kprobes exist it is probed by name, its arguments typed from the
/// module's BTF: each datagram the pod sends is counted once, as it enters
/// the node's PRE_ROUTING, with the length it was sent with. fentry on a
/// module's function is refused with what to use instead.
#[test]
fn a_function_of_a_module_is_probed_with_typed_arguments() {
    const PORT: u16 = 47_320;
    let _k = kernel_lock();
    let inc = Incident::new();
    let module = module_of("nf_conntrack_in");
    let script = format!(
        "on kprobe:nf_conntrack_in if tuple(skb, dport={PORT}, proto=\"udp\") {{ @seen[ifname(skb), (enum nf_inet_hooks)state.hook, skb.len] = count(); }}"
    );
    if kernel::has_kprobes() {
        let run = run_with(&["-e", &script, "--duration", "60s"], || {
            let send = format!(
                "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(5): s.sendto(b'x' * 100, ('10.0.2.2', {PORT}))"
            );
            let out = Command::new("ip").args(["netns", "exec", &inc.pod, "python3", "-c", &send]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        });
        run.ok();
        // 100 bytes of data, 8 of UDP header, 20 of IP header.
        assert_eq!(row_value(&run.stdout, &["pod0", "PRE_ROUTING", "128"]), Some(5), "{}", run.stdout);
    } else {
        let check = check_text("module_kprobe", &script);
        assert_eq!(check.status, 2, "{}", check.stderr);
        assert!(check.stderr.contains("this kernel does not allow kprobes"), "{}", check.stderr);
    }
    let fentry = check_text("module_fentry", "on fentry:nf_conntrack_in { @n = count(); }");
    let info = Run::from(ntr().args(["info", "kprobe:nf_conntrack_in"]).output().unwrap());
    let list = Run::from(ntr().args(["list", "nf_conntrack_in"]).output().unwrap());
    match &module {
        Some(m) => {
            assert_eq!(fentry.status, 2, "{}", fentry.stderr);
            assert!(fentry.stderr.contains(&format!("error: `nf_conntrack_in` is in module {m}")), "{}", fentry.stderr);
            if kernel::has_kprobes() {
                assert!(fentry.stderr.contains("`kprobe:nf_conntrack_in` attaches to it"), "{}", fentry.stderr);
                assert!(info.stdout.starts_with(&format!("function:nf_conntrack_in (kprobe (module {m}))\n")), "{}", info.stdout);
                assert!(list.stdout.contains(&format!("kprobe (module {m})")), "{}", list.stdout);
            }
        }
        None if kernel::fentry_loads() => assert_eq!(fentry.status, 0, "{}", fentry.stderr),
        None => assert!(fentry.stderr.contains("this kernel does not allow fentry/fexit"), "{}", fentry.stderr),
    }
    assert!(info.stdout.contains("\n  skb: struct sk_buff *\n"), "{}{}", info.stdout, info.stderr);
    // Listed with its method, or counted with why none works here.
    let listed = if kernel::has_kprobes() || (module.is_none() && kernel::fentry_loads()) {
        list.stdout.starts_with("function:nf_conntrack_in ")
    } else {
        list.stdout.starts_with("1 kernel function matches but cannot be probed here: this kernel was built without kprobes")
    };
    assert!(listed, "{}{}", list.stdout, list.stderr);
    drop(inc);
    assert_nothing_left();
}
