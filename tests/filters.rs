//! Filters take what ntr prints: dropwatch's `netns` by `ip netns` name,
//! `host` or pid, its `ifname` checked against the devices of every
//! namespace, its reasons without case.

mod common;

use common::topology::Netns;
use common::*;

const PORT: u16 = 47_100;

/// `n` datagrams to the closed port, from inside `ns` (its `lo` drops them).
fn send_in(ns: &Netns, n: usize) {
    ns.exec(&[
        "python3",
        "-c",
        &format!(
            "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range({n}):\n    s.sendto(b'x', ('127.0.0.1', {PORT})); time.sleep(0.002)"
        ),
    ]);
}

/// The drop lines of the closed port's datagrams.
fn drops(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.contains(" drop ") && l.contains(&format!(" -> 127.0.0.1:{PORT} "))).collect()
}

#[test]
fn dropwatch_netns_filter_takes_a_name_host_or_pid() {
    let _k = kernel_lock();
    let (a, b) = (Netns::new("ntr-fa"), Netns::new("ntr-fb"));
    let traffic = || {
        send_in(&a, 4);
        send_in(&b, 6);
        udp_to_closed_port(PORT, 5, 16);
    };
    let port = format!("port={PORT}");
    // `netns:INODE` is how a namespace without a name prints.
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(format!("/run/netns/{}", a.name)).unwrap());
    let by_inode = format!("netns:{inode}");
    for (filter, ns, count) in [(a.name.as_str(), a.name.as_str(), 4), ("host", "host", 5), (by_inode.as_str(), a.name.as_str(), 4)] {
        let run = run_with(&["run", "dropwatch", "-p", &port, "-p", &format!("netns={filter}"), "--duration", "60s"], traffic);
        run.ok();
        let lines = drops(&run.stdout);
        assert_eq!(lines.len(), count, "netns={filter}:\n{}", run.stdout);
        assert!(lines.iter().all(|l| l.contains(&format!(" drop {ns}/lo "))), "netns={filter}: {lines:?}");
    }

    // A pid: the namespace the process lives in (`ip netns exec` execs it).
    let mut sleeper = std::process::Command::new("ip").args(["netns", "exec", &b.name, "sleep", "60"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let run = run_with(&["run", "dropwatch", "-p", &port, "-p", &format!("netns={}", sleeper.id()), "--duration", "60s"], traffic);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    run.ok();
    let lines = drops(&run.stdout);
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert!(lines.iter().all(|l| l.contains(&format!(" drop {}/lo ", b.name))), "{lines:?}");
    drop((a, b));
    assert_nothing_left();
}

#[test]
fn an_unknown_netns_is_refused_with_the_names() {
    let a = Netns::new("ntr-fc");
    let typo = format!("{}x", a.name);
    let run = Run::from(ntr().args(["check", "dropwatch", "-p", &format!("netns={typo}")]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("no network namespace named `{typo}`")), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("did you mean `{}`", a.name)), "{}", run.stderr);
    let listed = run.stderr.lines().find_map(|l| l.trim().strip_prefix("namespaces: ")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(listed.starts_with("host, ") && listed.contains(&a.name), "{listed}");
    // Every `ip netns` name is offered.
    let ip = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    for name in String::from_utf8_lossy(&ip.stdout).lines().filter_map(|l| l.split_whitespace().next()) {
        assert!(listed.contains(name), "{name} missing from {listed}");
    }
    let run = Run::from(ntr().args(["check", "dropwatch", "-p", "netns=4194305"]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no process 4194305"), "{}", run.stderr);
    let run = Run::from(ntr().args(["check", "dropwatch", "-p", "netns=netns:4294967296"]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`4294967296` is not a namespace inode"), "{}", run.stderr);
}

/// A device that exists in some namespace passes quietly; one that exists
/// nowhere is a warning, not an error.
#[test]
fn an_ifname_that_exists_nowhere_is_a_warning() {
    let a = Netns::new("ntr-fd");
    a.exec(&["ip", "link", "add", "ntrf47100", "type", "veth", "peer", "name", "ntrf47101"]);
    for script in ["dropwatch", "ifdrops"] {
        let run = Run::from(ntr().args(["check", script, "-p", "ifname=ntrf47100"]).output().unwrap());
        run.ok();
        assert!(!run.stderr.contains("warning"), "the device is in {}: {}", a.name, run.stderr);
        let run = Run::from(ntr().args(["check", script, "-p", "ifname=ntrf47199"]).output().unwrap());
        run.ok();
        assert!(run.stderr.contains("warning: no device `ntrf47199` exists now, in any network namespace"), "{}", run.stderr);
        let run = Run::from(ntr().args(["check", script, "-p", "ifname=ntr-sixteen-byte"]).output().unwrap());
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert!(run.stderr.contains("at most 15 bytes"), "{}", run.stderr);
    }
}

#[test]
fn a_misspelt_reason_suggests_the_kernels_name() {
    let run = Run::from(ntr().args(["check", "dropwatch", "-p", "reason=no_sockt"]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not a value of enum skb_drop_reason; did you mean `NO_SOCKET`?"), "{}", run.stderr);
    let run = Run::from(ntr().args(["check", "ifdrops", "-p", "reason=Socket_Rcvbuff"]).output().unwrap());
    run.ok();
}
