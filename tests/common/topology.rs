//! The founding incident, rebuilt in network namespaces: a pod (10.0.1.2)
//! routed through a node to a server (10.0.2.2). The node's FORWARD chain
//! accepts RELATED,ESTABLISHED and NEW from the pod, then REJECTs, with
//! `nf_conntrack_tcp_loose=0`, so a flow whose conntrack entry is deleted
//! mid-transfer has its packets rejected. Everything is removed on drop,
//! also when a test fails.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Serves `port`: sends 1000 bytes every 20ms for `secs` seconds.
const SERVER: &str = r#"
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); c.settimeout(1)
end = time.time() + float(sys.argv[2])
try:
    while time.time() < end:
        c.send(b"x" * 1000); time.sleep(0.02)
except Exception:
    pass
"#;

/// Reads from `host:port` for `secs` seconds.
const CLIENT: &str = r#"
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
c.settimeout(0.5); end = time.time() + float(sys.argv[3])
while time.time() < end:
    try:
        if not c.recv(65536): break
    except socket.timeout:
        pass
"#;

pub struct Incident {
    pub pod: String,
    pub node: String,
    pub server: String,
    children: Vec<Child>,
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(out.status.success(), "{:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
}

impl Incident {
    pub fn new() -> Incident {
        let id = format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let inc = Incident { pod: format!("ntr-pod-{id}"), node: format!("ntr-node-{id}"), server: format!("ntr-srv-{id}"), children: Vec::new() };
        let (p, n, s) = (inc.pod.as_str(), inc.node.as_str(), inc.server.as_str());
        for ns in [p, n, s] {
            sh(&["ip", "netns", "add", ns]);
        }
        sh(&["ip", "link", "add", "eth0", "netns", p, "type", "veth", "peer", "name", "pod0", "netns", n]);
        sh(&["ip", "link", "add", "eth0", "netns", s, "type", "veth", "peer", "name", "srv0", "netns", n]);
        for (ns, dev, addr, gw) in [
            (p, "eth0", "10.0.1.2/24", Some("10.0.1.1")),
            (s, "eth0", "10.0.2.2/24", Some("10.0.2.1")),
            (n, "pod0", "10.0.1.1/24", None),
            (n, "srv0", "10.0.2.1/24", None),
        ] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            if let Some(gw) = gw {
                sh(&["ip", "-n", ns, "route", "add", "default", "via", gw]);
            }
        }
        sh(&["ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        let rules: [&[&str]; 3] = [
            &["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            &["-s", "10.0.1.0/24", "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT"],
            &["-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
        ];
        for rule in rules {
            let mut args = vec!["ip", "netns", "exec", n, "iptables", "-A", "FORWARD"];
            args.extend_from_slice(rule);
            sh(&args);
        }
        // Loaded with the conntrack rules above; per namespace.
        sh(&["ip", "netns", "exec", n, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"]);
        inc
    }

    fn spawn(&mut self, ns: &str, script: &str, args: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", script])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        self.children.push(child);
    }

    /// The server sends for `secs`; give it a moment to listen.
    pub fn start_server(&mut self, port: u16, secs: u32) {
        let server = self.server.clone();
        self.spawn(&server, SERVER, &[&port.to_string(), &secs.to_string()]);
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    /// The pod downloads from the server for `secs`.
    pub fn start_download(&mut self, port: u16, secs: u32) {
        let pod = self.pod.clone();
        self.spawn(&pod, CLIENT, &["10.0.2.2", &port.to_string(), &secs.to_string()]);
    }

    /// The hunt: ntr runs with `args` while the pod downloads from the
    /// server on `port`; mid-transfer the node forgets the flow, so the
    /// server's next segments are INVALID and hit the REJECT.
    pub fn hunt(&mut self, port: u16, args: &[&str]) -> super::Run {
        self.start_server(port, 10);
        super::run_with(args, || {
            self.start_download(port, 5);
            self.wait_for_established(port);
            std::thread::sleep(std::time::Duration::from_millis(1000));
            self.forget_flow(port);
            std::thread::sleep(std::time::Duration::from_secs(2));
        })
    }

    /// Until the node's conntrack has the flow to `port` ESTABLISHED (a
    /// slow machine, such as the emulated guest, takes a while to connect).
    fn wait_for_established(&self, port: u16) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.node, "conntrack", "-L", "-p", "tcp", "--dport", &port.to_string()])
                .output()
                .expect("conntrack");
            if String::from_utf8_lossy(&out.stdout).contains(" ESTABLISHED ") {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no ESTABLISHED flow to port {port} on the node after 30 s");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Delete the flow's conntrack entry on the node, as a half-close or an
    /// expiry would make it disappear.
    pub fn forget_flow(&self, port: u16) {
        sh(&["ip", "netns", "exec", &self.node, "conntrack", "-D", "-p", "tcp", "--dport", &port.to_string()]);
    }
}

impl Drop for Incident {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.pod, &self.node, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// One network namespace with only `lo` up, removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let ns = Netns { name: format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst)) };
        sh(&["ip", "netns", "add", &ns.name]);
        sh(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Run a command inside; its stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        let out = Command::new("ip").args(["netns", "exec", &self.name]).args(args).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(out.status.success(), "{:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}
