//! Network diagnosis on real traffic: the founding incident in namespaces,
//! IPv6 drops, and the stdlib scripts that name them.

mod common;

use common::topology::{self, Incident};
use common::*;

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
        .find(|l| l.contains("us drop ") && l.contains("tcp 10.0.2.2:9418 -> 10.0.1.2:"))
        .unwrap_or_else(|| panic!("no drop of the server's packets:\n{out}"));
    assert!(line.contains(&format!("{}/srv0", inc.node)), "namespace and device: {line}");
    assert!(line.contains("at nft_do_chain+0x") || line.contains("at nf_hook_slow+0x"), "drop site: {line}");
    assert!(line.contains("reason NETFILTER_DROP"), "{line}");
    assert!(line.contains("ct INVALID"), "{line}");
    assert!(line.contains("hook FORWARD"), "{line}");
    assert!(out.contains("rule: filter FORWARD rule 3: -j REJECT --reject-with icmp-port-unreachable (+"), "{out}");
    assert!(out.contains("hint: FORWARD rule rejected a packet whose conntrack state is INVALID"), "{out}");
    let trace = out.split("backtrace:").nth(1).unwrap_or_else(|| panic!("no backtrace:\n{out}"));
    let frames: Vec<&str> = trace.lines().skip(1).take_while(|l| l.starts_with("    ")).map(str::trim).collect();
    assert!(frames.iter().any(|f| f.starts_with("nf_hook_slow+0x")), "{frames:?}");
    assert!(frames.iter().any(|f| f.starts_with("ip_forward+0x")), "{frames:?}");
    assert!(!frames[0].starts_with("bpf_"), "tracing frames are trimmed: {frames:?}");
    let summary =
        out.lines().find(|l| l.starts_with("@drops[") && l.contains("NETFILTER_DROP, FORWARD]")).unwrap_or_else(|| panic!("no summary:\n{out}"));
    assert!(summary.rsplit(':').next().unwrap().trim().parse::<u64>().unwrap() >= 1, "{summary}");
    assert!(!out.contains("@window") && !out.contains("@shown"), "bookkeeping maps stay hidden:\n{out}");
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
    let drops: Vec<&str> = run.stdout.lines().filter(|l| l.contains("us drop ")).collect();
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
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with(&flow) && l.contains(" <-> 10.0.2.2:9418: ")).collect();
    assert!(lines.len() >= 3, "{out}");
    assert!(lines[0].contains(": NEW/SYN_SENT ["), "first seen as the SYN leaves: {}", lines[0]);
    let established =
        lines.iter().position(|l| l.contains("-> ESTABLISHED/ESTABLISHED [") && l.contains("ASSURED")).unwrap_or_else(|| panic!("{out}"));
    let invalid = lines
        .iter()
        .position(|l| {
            // Whichever side sends first after the entry is deleted loses it:
            // the server's data (in on srv0) or the pod's ACK (in on pod0).
            l.contains("ESTABLISHED/ESTABLISHED [")
                && ["srv0", "pod0"].iter().any(|dev| l.contains(&format!("-> INVALID, no conntrack entry (tracepoint:skb:kfree_skb on {dev})")))
        })
        .unwrap_or_else(|| panic!("{out}"));
    assert!(established < invalid, "{out}");
    assert!(!out.lines().any(|l| l.starts_with(&inc.pod) || l.starts_with(&inc.server)), "namespaces without conntrack stay quiet:\n{out}");
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
    // them (-EPERM).
    let hook = |name: &str, verdict: &str| {
        out.lines().any(|l| {
            l.contains(&format!(" {}/srv0 netfilt  tcp 10.0.2.2:9418 -> 10.0.1.2:", inc.node))
                && l.ends_with(&format!(" hook {name} verdict {verdict}"))
        })
    };
    if kernel::fentry_loads() {
        for (name, verdict) in [("PRE_ROUTING", "1"), ("FORWARD", "1"), ("FORWARD", "-1")] {
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
    assert!(out.lines().any(|l| l.starts_with("host tcp 127.0.0.1:") && l.ends_with(" -> 127.0.0.1:9: CLOSE -> SYN_SENT")), "{out}");
    assert!(out.lines().any(|l| l.ends_with(" -> 127.0.0.1:9: SYN_SENT -> CLOSE")), "{out}");
    // Kernels whose tcp_send_reset has no `reason` (6.1) trace only resets
    // sent from a socket: this one answers a closed port.
    if kernel::tracepoint_has_field("tcp", "tcp_send_reset", "reason") {
        assert!(out.lines().any(|l| l.contains(" -> 127.0.0.1:9: reset sent, reason NO_SOCKET")), "{out}");
    }
    assert!(out.lines().any(|l| l.contains(" -> 127.0.0.1:9: reset received (state SYN_SENT)")), "{out}");
    assert_eq!(row_value(out, &["@resets_received[tcp 127.0.0.1:", "-> 127.0.0.1:9]"]), Some(1), "{out}");
    assert_nothing_left();
}

#[test]
fn icmperrors_explains_port_unreachable_and_names_reject_rules() {
    let _k = kernel_lock();
    let run = run_with(&["run", "icmperrors", "-p", "proto=udp", "--duration", "60s"], || udp_to_closed_port(CLOSED_ICMP, 2, 8));
    run.ok();
    let out = &run.stdout;
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(&format!(" -> 127.0.0.1:{CLOSED_ICMP}: type 3 code 3, port unreachable"))).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("host answering udp 127.0.0.1:") && lines[0].ends_with("(hook -)"), "{}", lines[0]);
    assert!(out.contains("@errors[3, 3, -]: 2"), "{out}");

    // The incident's REJECT answers the server's packets from FORWARD.
    let mut inc = Incident::new();
    let run = inc.hunt(9418, &["run", "icmperrors", "-p", "port=9418", "--duration", "60s"]);
    run.ok();
    let reject = format!("{} answering tcp 10.0.2.2:9418 -> 10.0.1.2:", inc.node);
    assert!(run.stdout.lines().any(|l| l.starts_with(&reject) && l.contains("port unreachable") && l.ends_with("(hook FORWARD)")), "{}", run.stdout);
    drop(inc);
    assert_nothing_left();
}

#[test]
fn ifdrops_counts_per_interface_every_second() {
    let _k = kernel_lock();
    let run =
        run_with(&["run", "ifdrops", "-p", "ifname=lo", "-p", "reason=NO_SOCKET", "--duration", "60s"], || udp_to_closed_port(CLOSED_IFDROPS, 12, 8));
    run.ok();
    let counts: Vec<u64> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("@drops[host, lo, NO_SOCKET]: "))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(!counts.is_empty(), "{}", run.stdout);
    assert_eq!(counts.iter().sum::<u64>(), 12, "each second's counts, then cleared: {}", run.stdout);
    assert_nothing_left();
}

#[test]
fn dropwatch_rate_limits_lines_and_counts_the_rest() {
    let _k = kernel_lock();
    let run = run_with(&["run", "dropwatch", "-p", "port=39415", "-p", "rate=5", "--duration", "60s"], || udp_to_closed_port(39_415, 40, 8));
    run.ok();
    let lines = run.stdout.lines().filter(|l| l.contains("us drop ")).count();
    // The 40 drops take milliseconds: one per-second window, two at most.
    assert!((5..=10).contains(&lines), "{lines} lines:\n{}", run.stdout);
    let suppressed = row_value(&run.stdout, &["@suppressed:"]).unwrap_or_else(|| panic!("{}", run.stdout));
    assert_eq!(lines as u64 + suppressed, 40, "{}", run.stdout);
    assert_eq!(row_value(&run.stdout, &["@drops[__udp4_lib_rcv+0x", "NO_SOCKET, -]"]), Some(40), "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn icmp_errors_carry_the_flow_they_answer() {
    let _k = kernel_lock();
    let script = "on net_dev_xmit if tuple(skb).proto == 1 || tuple(skb).proto == 58 { printf(\"%s\\n\", tuple(skb)); }";
    let run = run_with(&["-e", script, "--duration", "60s"], || {
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"v4", "127.0.0.1:39416").unwrap();
        std::net::UdpSocket::bind("[::1]:0").unwrap().send_to(b"v6", "[::1]:39416").unwrap();
    });
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
