//! Shared by the end-to-end tests: running the `ntr` binary, driving real
//! traffic, network namespaces that always go away, and the check that no
//! BPF program of ntr's is left behind.

#![allow(dead_code)] // each test binary uses its own subset

use std::net::UdpSocket;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub mod kernel;
pub mod programs;
pub mod topology;
pub mod walltime;

static KERNEL: Mutex<()> = Mutex::new(());

/// Tests that load BPF run one at a time, so "nothing left attached" checks
/// only see their own programs.
pub fn kernel_lock() -> MutexGuard<'static, ()> {
    KERNEL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn ntr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ntr"));
    c.env("NO_COLOR", "1").env("NTR_RECORD_PROG_IDS", loaded_ids_file());
    c
}

/// Where the ntr runs of this test process record the ids of the programs
/// they load (see `assert_nothing_left`).
fn loaded_ids_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ntr-test-prog-ids-{}", std::process::id()))
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn ok(&self) -> &Run {
        assert_eq!(self.status, 0, "ntr failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// An ntr process stopped (SIGINT, so it detaches) if a test fails while it runs.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: signalling our own child, which has not been reaped.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
            let _ = self.0.wait();
        }
    }
}

/// Run ntr with `args` while `traffic` runs once the probes are attached,
/// then stop it with SIGINT (it detaches and prints its maps), so a run lasts
/// as long as its traffic on a fast host and on an emulated guest alike; a
/// `--duration` in `args` is only a cap. Attachment is detected by the
/// runtime's "Attached N probes" line on stderr.
pub fn run_with<F: FnOnce()>(args: &[&str], traffic: F) -> Run {
    run(args, &[], traffic, End::Interrupt)
}

/// `run_with`, with these environment variables set for ntr (`TZ`).
pub fn run_with_env<F: FnOnce()>(args: &[&str], env: &[(&str, &str)], traffic: F) -> Run {
    run(args, env, traffic, End::Interrupt)
}

/// Like `run_with`, but ntr must end by itself (`exit()`, `--duration`).
pub fn run_until_it_ends<F: FnOnce()>(args: &[&str], traffic: F) -> Run {
    run(args, &[], traffic, End::ByItself)
}

enum End {
    Interrupt,
    ByItself,
}

fn run<F: FnOnce()>(args: &[&str], env: &[(&str, &str)], traffic: F, end: End) -> Run {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Running(ntr().args(args).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn ntr"));
    let child = &mut child.0;
    // Drain stdout meanwhile: a full pipe would block ntr.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).ok();
        text
    });
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut err_text = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        err_text.push_str(&line);
        if line.starts_with("Attached") {
            traffic();
            if let End::Interrupt = end {
                // Events of the last packets reach the ring buffer's reader
                // within its poll interval.
                std::thread::sleep(Duration::from_millis(300));
                // SAFETY: signalling our own child, which has not been reaped.
                unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            }
            break;
        }
    }
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).ok();
    err_text.push_str(&rest);
    let status = child.wait().expect("wait ntr");
    Run { status: status.code().unwrap_or(-1), stdout: reader.join().expect("stdout reader"), stderr: err_text }
}

/// Send `n` UDP datagrams of `size` bytes to a closed port on 127.0.0.1.
pub fn udp_to_closed_port(port: u16, n: usize, size: usize) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let payload = vec![0x5au8; size];
    for _ in 0..n {
        sock.send_to(&payload, ("127.0.0.1", port)).expect("send");
        // Keep below the ICMP and softirq budgets so every datagram is seen.
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Ids of every BPF program in the kernel.
fn program_ids() -> Vec<u64> {
    let out = Command::new("bpftool").args(["-j", "prog", "list"]).output().expect("bpftool is installed (.ci/run installs it)");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    list.as_array().map(|progs| progs.iter().filter_map(|p| p["id"].as_u64()).collect()).unwrap_or_default()
}

/// The programs this test process's ntr runs loaded (they record their ids,
/// `NTR_RECORD_PROG_IDS`) are all gone from the kernel. Programs of other
/// tracers, or of tests running beside this one, are not looked at. The
/// kernel frees a program shortly after its last reference goes (RCU), so
/// allow a moment before calling it left behind.
pub fn assert_nothing_left() {
    let recorded = std::fs::read_to_string(loaded_ids_file()).unwrap_or_default();
    let ours: Vec<u64> = recorded.lines().map(|l| l.parse().expect("a program id")).collect();
    let mut left: Vec<u64> = Vec::new();
    for _ in 0..30 {
        let present = program_ids();
        left = ours.iter().copied().filter(|id| present.contains(id)).collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(loaded_ids_file());
    assert!(left.is_empty(), "BPF programs left behind (ids): {left:?}");
}

/// The `count` of the map row whose text contains every needle.
pub fn row_value(output: &str, needles: &[&str]) -> Option<u64> {
    output.lines().find(|l| needles.iter().all(|n| l.contains(n))).and_then(|l| l.rsplit(':').next()).and_then(|v| v.trim().parse().ok())
}

/// The rows of map `name` keyed by one stack: (frames, count).
pub fn stack_rows(output: &str, name: &str) -> Vec<(Vec<String>, u64)> {
    let mut rows = Vec::new();
    let mut lines = output.lines();
    while let Some(line) = lines.next() {
        if line != format!("{name}[") {
            continue;
        }
        let mut frames = Vec::new();
        for l in lines.by_ref() {
            if let Some(n) = l.strip_prefix("]: ") {
                rows.push((frames, n.trim().parse().expect("a count")));
                break;
            }
            frames.push(l.trim().to_string());
        }
    }
    rows
}
