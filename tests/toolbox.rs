//! The stdlib's classic tools (execsnoop, opensnoop, …) on real workloads:
//! each test runs processes whose pids, paths, signals and ports it knows,
//! and checks every value the tool prints for them against what the
//! workload itself saw. Other activity on the machine prints too; the tests
//! look only at their own processes' lines.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};

/// Run the toolbox helper with `args` to its end: (pid, what it printed).
fn helper(args: &[&str]) -> (u32, String) {
    // Its stderr is kept from the test's output: what it execs may complain
    // (busybox's `true` under another argv[0], in the guest).
    let child = Command::new(programs::toolbox_helper()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn the helper");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for the helper");
    (pid, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The `record`s of a `--json` run.
fn records(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", run.stdout)))
        .filter(|r| r["type"] == "record")
        .collect()
}

/// The records whose `pid` is `pid`.
fn of_pid(records: &[Value], pid: u32) -> Vec<&Value> {
    records.iter().filter(|r| r["pid"] == pid).collect()
}

#[test]
fn execsnoop_shows_each_exec_with_its_result() {
    let _k = kernel_lock();
    let bin = programs::toolbox_helper();
    let bin = bin.to_str().unwrap();
    let mut ran = Vec::new();
    let run = run_with(&["run", "execsnoop", "--json", "--duration", "60s"], || {
        ran.push(helper(&["exec", "/bin/true", "ntr-argv0", "two", "three four"]));
        ran.push(helper(&["exec", "/nonexistent/ntr-exec", "x"]));
    });
    run.ok();
    let recs = records(&run);
    let me = std::process::id();
    // The helper exec'd by the test, then /bin/true exec'd by the helper:
    // the same pid, both children of the test.
    let (ok_pid, _) = &ran[0];
    let execs = of_pid(&recs, *ok_pid);
    assert_eq!(execs.len(), 2, "{execs:#?}\n{}", run.stdout);
    let first = execs[0];
    assert_eq!((first["ppid"].as_u64(), first["ret"].as_i64()), (Some(me as u64), Some(0)), "{first}");
    assert_eq!((first["comm"].as_str(), first["file"].as_str(), first["arg0"].as_str()), (Some("ntr_toolbox"), Some(bin), Some(bin)), "{first}");
    assert_eq!(first["argc"], 6, "{first}");
    // The arguments the test and the helper passed, each whole.
    assert_eq!(first["args"], serde_json::json!([bin, "exec", "/bin/true", "ntr-argv0", "two", "three four"]), "{first}");
    let second = execs[1];
    assert_eq!((second["ppid"].as_u64(), second["ret"].as_i64(), second["argc"].as_u64()), (Some(me as u64), Some(0), Some(3)), "{second}");
    assert_eq!(
        (second["comm"].as_str(), second["file"].as_str(), second["arg0"].as_str()),
        (Some("true"), Some("/bin/true"), Some("ntr-argv0")),
        "{second}"
    );
    assert_eq!(second["args"], serde_json::json!(["ntr-argv0", "two", "three four"]), "{second}");
    // The exec that failed: the helper's errno, its path, its parent (the
    // test), and nothing it cannot know.
    let (bad_pid, errno) = &ran[1];
    assert_eq!(errno, "-2", "ENOENT");
    let execs = of_pid(&recs, *bad_pid);
    assert_eq!(execs.len(), 2, "{execs:#?}\n{}", run.stdout);
    let failed = execs[1];
    assert_eq!(failed["ret"].as_i64(), Some(-2), "{failed}");
    assert_eq!((failed["comm"].as_str(), failed["file"].as_str()), (Some("ntr_toolbox"), Some("/nonexistent/ntr-exec")), "{failed}");
    assert_eq!(failed["ppid"].as_u64(), Some(me as u64), "{failed}");
    // The argv it passed (`execv(path, ["x"])`), read from its char **.
    assert_eq!(failed["args"], serde_json::json!(["x"]), "{failed}");
    for unknown in ["argc", "arg0"] {
        assert!(failed.get(unknown).is_none(), "{unknown} is unknown: {failed}");
    }
    assert_nothing_left();
}

#[test]
fn execsnoop_says_unknown_as_text_and_filters_failures() {
    let _k = kernel_lock();
    let mut ran = Vec::new();
    let run = run_with(&["run", "execsnoop", "-p", "failed=true", "--duration", "60s"], || {
        ran.push(helper(&["exec", "/bin/true", "true"]));
        ran.push(helper(&["exec", "/nonexistent/ntr-exec", "x"]));
    });
    run.ok();
    let line = |pid: u32| -> Vec<Vec<String>> {
        run.stdout
            .lines()
            .filter_map(walltime::split_clock)
            .map(|(_, rest)| rest.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .filter(|cols| cols[0] == pid.to_string())
            .collect()
    };
    assert!(line(ran[0].0).is_empty(), "successful execs are left out:\n{}", run.stdout);
    let failed = line(ran[1].0);
    let me = std::process::id().to_string();
    let expected =
        [ran[1].0.to_string().as_str(), me.as_str(), "ntr_toolbox", "-2", "unknown", "/nonexistent/ntr-exec", "unknown", "x"].map(String::from);
    assert_eq!(failed, [expected], "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn opensnoop_shows_the_fd_or_the_error_of_each_open() {
    let _k = kernel_lock();
    let dir = std::env::temp_dir().join(format!("ntr-opensnoop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (created, missing) = (dir.join("created"), dir.join("missing"));
    let (created, missing) = (created.to_str().unwrap(), missing.to_str().unwrap());
    let mut ran = Vec::new();
    let run = run_with(&["run", "opensnoop", "-p", "comm=ntr_toolbox", "--json", "--duration", "60s"], || {
        // O_WRONLY|O_CREAT|O_TRUNC, then O_RDONLY|O_CLOEXEC.
        ran.push(("0x241", created, helper(&["open", created, "241"])));
        ran.push(("0x80000", missing, helper(&["open", missing, "80000"])));
        // openat2 passes its flags in a struct of the caller's memory.
        ran.push(("0x80042", created, helper(&["openat2", created, "80042"])));
    });
    run.ok();
    let recs = records(&run);
    assert!(recs.iter().all(|r| r["comm"] == "ntr_toolbox"), "filtered by comm:\n{}", run.stdout);
    for (flags, path, (pid, result)) in &ran {
        let opens: Vec<&Value> = of_pid(&recs, *pid).into_iter().filter(|r| r["path"] == *path).collect();
        assert_eq!(opens.len(), 1, "{path}:\n{}", run.stdout);
        let r = opens[0];
        assert_eq!(r["tid"], *pid, "{r}");
        assert_eq!(r["flags"].as_u64(), Some(u64::from_str_radix(&flags[2..], 16).unwrap()), "{r}");
        let result: i64 = result.parse().unwrap();
        if result >= 0 {
            assert_eq!((r["fd"].as_i64(), r.get("error")), (Some(result), None), "{r}");
        } else {
            assert_eq!((r["ret"].as_i64(), r["error"].as_str(), r.get("fd")), (Some(-2), Some("ENOENT"), None), "{r}");
            assert_eq!(result, -2, "the helper's own errno");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert_nothing_left();
}

#[test]
fn opensnoop_prints_columns_and_only_failures_when_asked() {
    let _k = kernel_lock();
    let mut ran = Vec::new();
    let run = run_with(&["run", "opensnoop", "-p", "failed=true", "--duration", "60s"], || {
        ran.push(helper(&["open", "/etc/hostname", "0"]));
        ran.push(helper(&["open", "/nonexistent/ntr-open", "0"]));
    });
    run.ok();
    let of = |pid: u32| -> Vec<Vec<&str>> {
        run.stdout
            .lines()
            .filter_map(walltime::split_clock)
            .map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>())
            .filter(|c| c[0] == pid.to_string())
            .collect()
    };
    assert!(of(ran[0].0).iter().all(|c| c.last() != Some(&"/etc/hostname")), "{}", run.stdout);
    let pid = ran[1].0.to_string();
    let failed: Vec<Vec<&str>> = of(ran[1].0).into_iter().filter(|c| c.last() == Some(&"/nonexistent/ntr-open")).collect();
    assert_eq!(failed, [[pid.as_str(), pid.as_str(), "ntr_toolbox", "0x0", "-2", "ENOENT", "/nonexistent/ntr-open"]], "{}", run.stdout);
    assert_eq!(ran[1].1, "-2");
    assert_nothing_left();
}

#[test]
fn killsnoop_shows_sender_target_signal_and_result() {
    let _k = kernel_lock();
    let mut target = Command::new("sleep").arg("30").spawn().expect("spawn sleep");
    let tpid = target.id().to_string();
    // A pid above any pid_max: no such process.
    let nobody = "99999999";
    let mut ran = Vec::new();
    let run = run_with(&["run", "killsnoop", "--json", "--duration", "60s"], || {
        ran.push((tpid.as_str(), 10, helper(&["kill", &tpid, "10"])));
        ran.push((nobody, 0, helper(&["kill", nobody, "0"])));
    });
    let mut tgkill = (0, String::new());
    let run_tg = run_with(&["run", "killsnoop", "--json", "--duration", "60s"], || tgkill = helper(&["tgkill", nobody, "99999996", "12"]));
    run_tg.ok();
    let recs = records(&run_tg);
    let sent = of_pid(&recs, tgkill.0);
    assert_eq!(tgkill.1, "-3");
    assert_eq!(sent.len(), 1, "{}", run_tg.stdout);
    let r = sent[0];
    assert_eq!((r["syscall"].as_str(), r["tgid"].as_i64(), r["tpid"].as_i64()), (Some("tgkill"), Some(99999999), Some(99999996)), "{r}");
    assert_eq!(
        (r["sig"].as_u64(), r["signal"].as_str(), r["ret"].as_i64(), r["error"].as_str()),
        (Some(12), Some("SIGUSR2"), Some(-3), Some("ESRCH")),
        "{r}"
    );
    run.ok();
    let status = target.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(10), "SIGUSR1 reached the target");
    let recs = records(&run);
    for (target, sig, (pid, result)) in &ran {
        let sent = of_pid(&recs, *pid);
        assert_eq!(sent.len(), 1, "{}", run.stdout);
        let r = sent[0];
        assert_eq!((r["comm"].as_str(), r["syscall"].as_str()), (Some("ntr_toolbox"), Some("kill")), "{r}");
        assert_eq!((r["sig"].as_u64(), r["tpid"].as_i64()), (Some(*sig), Some(target.parse().unwrap())), "{r}");
        assert!(r.get("tgid").is_none(), "{r}");
        let result: i64 = result.parse().unwrap();
        assert_eq!(r["ret"].as_i64(), Some(result), "{r}");
        if *sig == 10 {
            assert_eq!((result, r["signal"].as_str(), r.get("error")), (0, Some("SIGUSR1"), None), "{r}");
        } else {
            assert_eq!((result, r["signal"].as_str(), r["error"].as_str()), (-3, Some("none"), Some("ESRCH")), "{r}");
        }
    }
    assert_nothing_left();
}

#[test]
fn killsnoop_filters_by_target_and_prints_columns() {
    let _k = kernel_lock();
    let nobody = "99999998";
    let mut ran = Vec::new();
    let run = run_with(&["run", "killsnoop", "-p", &format!("tpid={nobody}"), "--duration", "60s"], || {
        ran.push(helper(&["kill", "99999997", "15"]));
        ran.push(helper(&["kill", nobody, "15"]));
    });
    run.ok();
    let lines: Vec<Vec<&str>> = run.stdout.lines().filter_map(walltime::split_clock).map(|(_, rest)| rest.split_whitespace().collect()).collect();
    let pid = ran[1].0.to_string();
    assert_eq!(ran[1].1, "-3");
    assert_eq!(lines, [[pid.as_str(), "ntr_toolbox", "kill", "15", "SIGTERM", nobody, "-", "-3", "ESRCH"]], "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn syscount_counts_a_process_calls_by_name() {
    let _k = kernel_lock();
    let run = run_with(&["run", "syscount", "-p", "comm=ntr_toolbox", "--duration", "60s"], || {
        helper(&["getppid", "1234"]);
        helper(&["getppid", "1"]);
    });
    run.ok();
    let out = &run.stdout;
    assert_eq!(row_value(out, &["@syscalls[getppid]:"]), Some(1235), "{out}");
    assert_eq!(row_value(out, &["@syscalls[exit_group]:"]), Some(2), "{out}");
    assert!(!out.contains("@unnamed") && !out.contains("@ia32"), "every call named:\n{out}");
    assert_nothing_left();
}

/// `LOCALPORT RESULT MICROSECONDS` from the helper's `connect`.
fn connected(out: &str) -> (u16, i64, u64) {
    let f: Vec<&str> = out.split_whitespace().collect();
    (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap())
}

#[test]
fn tcpconnect_shows_each_connect_its_outcome_and_latency() {
    let _k = kernel_lock();
    let listener = std::net::TcpListener::bind("127.0.0.1:47710").expect("bind 47710");
    let mut ran = Vec::new();
    let run = run_with(&["run", "tcpconnect", "-p", "comm=ntr_toolbox", "--json", "--duration", "60s"], || {
        ran.push(helper(&["connect", "47710"]));
        // Nothing listens on 47711: refused, from a port the test chose.
        ran.push(helper(&["connect", "47711", "47712"]));
    });
    run.ok();
    drop(listener);
    let recs = records(&run);
    assert!(recs.iter().all(|r| r["comm"] == "ntr_toolbox"), "{}", run.stdout);
    for ((pid, out), (dport, outcome)) in ran.iter().zip([(47710, "connected"), (47711, "ECONNREFUSED")]) {
        let (sport, result, took_us) = connected(out);
        assert_eq!(result, if outcome == "connected" { 0 } else { -111 }, "{out}");
        let mine = of_pid(&recs, *pid);
        assert_eq!(mine.len(), 1, "{}", run.stdout);
        let r = mine[0];
        assert_eq!(r["result"], outcome, "{r}");
        let flow = serde_json::json!({"family": "ipv4", "proto": "tcp", "src": "127.0.0.1", "dst": "127.0.0.1", "sport": sport, "dport": dport});
        assert_eq!(r["flow"], flow, "{r}");
        // The kernel's handshake happens inside the helper's connect().
        assert!(r["lat_us"].as_u64().unwrap() <= took_us, "{r} within {took_us} us");
    }
    assert_nothing_left();
}

#[test]
fn tcpaccept_shows_each_connection_a_listener_gets() {
    let _k = kernel_lock();
    let listener = std::net::TcpListener::bind("127.0.0.1:47713").expect("bind 47713");
    let mut ran = Vec::new();
    let mut accepted = Vec::new();
    let run = run_with(&["run", "tcpaccept", "-p", "port=47713", "--json", "--duration", "60s"], || {
        ran.push(helper(&["connect", "47713"]));
        let (stream, peer) = listener.accept().expect("accept");
        accepted.push((stream, peer, std::fs::read_to_string("/proc/thread-self/comm").unwrap().trim().to_string()));
    });
    run.ok();
    let (sport, result, _) = connected(&ran[0].1);
    assert_eq!(result, 0);
    assert_eq!(accepted[0].1.port(), sport, "the listener's peer is the helper's socket");
    let recs = records(&run);
    let flow = serde_json::json!({"family": "ipv4", "proto": "tcp", "src": "127.0.0.1", "dst": "127.0.0.1", "sport": 47713, "dport": sport});
    let established: Vec<&Value> = recs.iter().filter(|r| r["event"] == "established").collect();
    assert_eq!(established.len(), 1, "{}", run.stdout);
    assert_eq!(established[0]["flow"], flow, "{}", run.stdout);
    assert!(established[0].get("pid").is_none() && established[0].get("comm").is_none(), "no process is known: {}", run.stdout);
    let accepts: Vec<&Value> = recs.iter().filter(|r| r["event"] == "accepted").collect();
    if kernel::fentry_loads() {
        assert_eq!(accepts.len(), 1, "{}", run.stdout);
        assert_eq!(
            (&accepts[0]["flow"], &accepts[0]["pid"], &accepts[0]["comm"]),
            (&flow, &Value::from(std::process::id()), &Value::from(accepted[0].2.as_str())),
            "{}",
            run.stdout
        );
    } else {
        assert!(accepts.is_empty(), "{}", run.stdout);
        assert!(run.stderr.contains("inet_csk_accept") && run.stderr.contains("skipped where the kernel cannot attach it"), "{}", run.stderr);
    }
    assert_nothing_left();
}

#[test]
fn tcpaccept_says_unknown_for_the_process_as_text() {
    let _k = kernel_lock();
    let listener = std::net::TcpListener::bind("127.0.0.1:47714").expect("bind 47714");
    let mut ran = Vec::new();
    let run = run_with(&["run", "tcpaccept", "-p", "port=47714", "--duration", "60s"], || {
        ran.push(helper(&["connect", "47714"]));
        listener.accept().expect("accept");
    });
    run.ok();
    let (sport, _, _) = connected(&ran[0].1);
    let lines: Vec<&str> = run.stdout.lines().filter_map(walltime::split_clock).map(|(_, rest)| rest).collect();
    let flow = format!("tcp 127.0.0.1:47714 -> 127.0.0.1:{sport}");
    let established: Vec<Vec<&str>> = lines.iter().filter(|l| l.starts_with("established ")).map(|l| l.split_whitespace().collect()).collect();
    let want: Vec<&str> = ["established", "unknown", "unknown"].into_iter().chain(flow.split(' ')).collect();
    assert_eq!(established, [want], "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn capable_shows_a_check_that_passes_and_one_that_fails() {
    let _k = kernel_lock();
    if !kernel::tracepoint_exists("capability", "cap_capable") {
        // Older kernels (6.1) lack the tracepoint: the script is refused,
        // saying so, before anything loads.
        let run = Run::from(ntr().args(["check", "capable"]).output().unwrap());
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("unknown probe `capability:cap_capable`") && run.stderr.contains("no such tracepoint in this kernel"),
            "{}",
            run.stderr
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("ntr-capable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("owned");
    std::fs::write(&file, "").unwrap();
    let file = file.to_str().unwrap();
    let mut ran = Vec::new();
    // CAP_CHOWN: giving a file away to uid 1 needs it.
    let run = run_with(&["run", "capable", "-p", "comm=ntr_toolbox", "-p", "cap=0", "--json", "--duration", "60s"], || {
        ran.push(helper(&["chown", file, "1"]));
        ran.push(helper(&["chown", file, "2", "nocap"]));
    });
    run.ok();
    let recs = records(&run);
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    assert!(recs.iter().all(|r| r["comm"] == "ntr_toolbox" && r["cap"] == 0), "{}", run.stdout);
    let (pid, result) = &ran[0];
    assert_eq!(result, "0");
    let checks = of_pid(&recs, *pid);
    assert_eq!(checks.len(), 1, "{}", run.stdout);
    assert_eq!(
        (&checks[0]["uid"], &checks[0]["name"], &checks[0]["ret"]),
        (&Value::from(uid), &Value::from("CAP_CHOWN"), &Value::from(0)),
        "{}",
        run.stdout
    );
    assert!(checks[0].get("error").is_none(), "{}", run.stdout);
    let (pid, result) = &ran[1];
    assert_eq!(result, "-1", "EPERM without CAP_CHOWN");
    let checks = of_pid(&recs, *pid);
    assert_eq!(checks.len(), 1, "{}", run.stdout);
    assert_eq!(
        (&checks[0]["name"], &checks[0]["ret"], &checks[0]["error"]),
        (&Value::from("CAP_CHOWN"), &Value::from(-1), &Value::from("EPERM")),
        "{}",
        run.stdout
    );
    assert_eq!(std::fs::metadata(file).map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap(), 1, "the first chown only");
    std::fs::remove_dir_all(&dir).ok();
    assert_nothing_left();
}

/// A memory cgroup of `limit` bytes (cgroup v1's memory hierarchy, or v2),
/// removed when dropped.
struct MemoryCgroup(std::path::PathBuf);

impl MemoryCgroup {
    fn new(limit: u64) -> MemoryCgroup {
        let name = format!("ntr-oomkill-{}", std::process::id());
        let v1 = std::path::Path::new("/sys/fs/cgroup/memory");
        let (dir, limit_file) =
            if v1.is_dir() { (v1.join(name), "memory.limit_in_bytes") } else { (std::path::Path::new("/sys/fs/cgroup").join(name), "memory.max") };
        // cgroup v2 gives children a memory controller only once the root
        // hands it down (a bare system, such as the 6.1 guest, has not).
        let root = std::path::Path::new("/sys/fs/cgroup/cgroup.subtree_control");
        if !v1.is_dir() && !std::fs::read_to_string(root).unwrap_or_default().contains("memory") {
            std::fs::write(root, "+memory").unwrap_or_else(|e| panic!("enabling the memory controller: {e}"));
        }
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let cg = MemoryCgroup(dir);
        std::fs::write(cg.0.join(limit_file), limit.to_string()).unwrap();
        for swap in ["memory.memsw.limit_in_bytes", "memory.swap.max"] {
            let _ = std::fs::write(cg.0.join(swap), if swap.ends_with("max") { "0".to_string() } else { limit.to_string() });
        }
        cg
    }

    fn enter(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[test]
fn oomkill_names_the_victim_of_a_memory_cgroup_over_its_limit() {
    use std::io::Write;
    let _k = kernel_lock();
    let bin = programs::toolbox_helper();
    let cg = MemoryCgroup::new(32 << 20);
    let mut victim = None;
    let run = run_with(&["run", "oomkill", "--json", "--duration", "60s"], || {
        let mut child = Command::new(&bin).args(["alloc", "256"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn the helper");
        cg.enter(child.id());
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        victim = Some((pid, out));
    });
    run.ok();
    drop(cg);
    let (pid, out) = victim.unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(9), "killed: {out:?}");
    let recs = records(&run);
    let kills: Vec<&Value> = recs.iter().filter(|r| r["victim_pid"] == pid).collect();
    assert_eq!(kills.len(), 1, "{}", run.stdout);
    let k = kills[0];
    // The helper allocating ran out of memory itself.
    assert_eq!((&k["pid"], &k["comm"], &k["victim_comm"]), (&Value::from(pid), &Value::from("ntr_toolbox"), &Value::from("ntr_toolbox")), "{k}");
    // SAFETY: geteuid cannot fail.
    assert_eq!(k["victim_uid"], unsafe { libc::geteuid() }, "{k}");
    // At least the 32 MB it filled, at most the 256 MB it meant to (and
    // its libraries), in 4 KiB pages.
    let pages = k["total_vm"].as_u64().unwrap();
    assert!((32 << 8..300 << 8).contains(&pages), "{k}");
    assert_nothing_left();
}

/// A process's state letter (`S` sleeping, `R` running) and comm.
fn state_and_comm(pid: u32) -> (char, String) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (comm, rest) = stat.split_once(" (").unwrap().1.rsplit_once(") ").unwrap();
    (rest.chars().next().unwrap(), comm.to_string())
}

/// Wait until the helper `pid` is blocked on its stdin, then read how many
/// times it has been switched in (`/proc/PID/schedstat`, third field).
fn switched_in_once_blocked(pid: u32) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state_and_comm(pid) != ('S', "ntr_toolbox".to_string()) {
        assert!(std::time::Instant::now() < deadline, "the helper never blocked");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    stat.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn runqlat_counts_each_time_a_process_gets_a_cpu() {
    use std::io::{BufRead, Write};
    let _k = kernel_lock();
    let mut child =
        Command::new(programs::toolbox_helper()).args(["sleeps", "200"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn");
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut switched = (0, 0);
    let run = run_with(&["run", "runqlat", "-p", &format!("pid={pid}"), "--json", "--duration", "60s"], || {
        switched.0 = switched_in_once_blocked(pid);
        stdin.write_all(b"go\n").unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "done\n");
        switched.1 = switched_in_once_blocked(pid);
    });
    drop(stdin);
    child.wait().unwrap();
    run.ok();
    let hist = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["type"] == "hist" && r["map"] == "@usecs")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let counted: u64 = hist["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    // Every time it was switched in while ntr ran: 200 sleeps and more.
    assert!(switched.1 - switched.0 >= 200, "{switched:?}");
    assert_eq!(counted, switched.1 - switched.0, "{}", run.stdout);
    assert_nothing_left();
}

/// A loop device over a file of `mb` megabytes, detached when dropped.
struct LoopDevice(String, std::path::PathBuf);

impl LoopDevice {
    fn new(mb: u64) -> LoopDevice {
        let file = std::env::temp_dir().join(format!("ntr-loop-{}", std::process::id()));
        std::fs::File::create(&file).unwrap().set_len(mb << 20).unwrap();
        let setup = |direct: bool| {
            let mut cmd = Command::new("losetup");
            cmd.args(["--find", "--show"]);
            if direct {
                cmd.arg("--direct-io=on");
            }
            cmd.arg(&file).output().expect("losetup")
        };
        // Direct I/O where the file's filesystem allows it (an initramfs
        // does not): the counts are of requests to the loop device either way.
        let out = Some(setup(true)).filter(|o| o.status.success()).unwrap_or_else(|| setup(false));
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        LoopDevice(String::from_utf8(out.stdout).unwrap().trim().to_string(), file)
    }

    /// `loop3`.
    fn name(&self) -> &str {
        self.0.trim_start_matches("/dev/")
    }

    /// Requests completed: reads, writes, discards and flushes
    /// (`/sys/block/NAME/stat` fields 1, 5, 12, 16 where the kernel has them).
    fn completed(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/sys/block/{}/stat", self.name())).unwrap();
        let f: Vec<u64> = stat.split_whitespace().map(|v| v.parse().unwrap()).collect();
        [0, 4, 11, 15].iter().filter_map(|&i| f.get(i)).sum()
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
        let _ = std::fs::remove_file(&self.1);
    }
}

#[test]
fn biolatency_counts_each_request_of_a_disk() {
    let _k = kernel_lock();
    let dev = LoopDevice::new(16);
    let mut done = (0, 0);
    let run = run_with(&["run", "biolatency", "-p", &format!("disk={}", dev.name()), "--json", "--duration", "60s"], || {
        done.0 = dev.completed();
        // 64 reads of 4 KiB, each its own request (direct I/O).
        let dd = Command::new("dd").arg(format!("if={}", dev.0)).args(["of=/dev/null", "bs=4096", "count=64", "iflag=direct"]).output().unwrap();
        assert!(dd.status.success(), "{}", String::from_utf8_lossy(&dd.stderr));
        done.1 = dev.completed();
    });
    run.ok();
    let hists: Vec<Value> =
        run.stdout.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|r| r["type"] == "hist" && r["map"] == "@usecs").collect();
    assert_eq!(hists.len(), 1, "one disk:\n{}", run.stdout);
    assert_eq!(hists[0]["key"], serde_json::json!([dev.name()]), "{}", run.stdout);
    let counted: u64 = hists[0]["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert!(done.1 - done.0 >= 64, "{done:?}");
    assert_eq!(counted, done.1 - done.0, "{}", run.stdout);
    assert_nothing_left();
}

/// In a namespace, once given a line (ntr is attached by then, however
/// slow the machine): a connection to 127.0.0.1:PORT whose segments to the
/// server are then dropped on the way in, so the client retransmits (at
/// about 0.2, 0.6 and 1.4 s). After 1 s it says `ready`; given a line, it
/// prints the client's port and its `tcpi_total_retrans`, then holds the
/// connection until its stdin closes.
const RETRANSMITS: &str = r#"
import socket, struct, subprocess, sys, time
port = int(sys.argv[1])
sys.stdin.readline()
l = socket.socket(); l.bind(("127.0.0.1", port)); l.listen()
c = socket.create_connection(("127.0.0.1", port)); a, _ = l.accept()
for rule in ["add table inet ntr", "add chain inet ntr in { type filter hook input priority 0; }", f"add rule inet ntr in tcp dport {port} drop"]:
    subprocess.run(["nft", rule], check=True)
c.send(b"x" * 100)
time.sleep(1)
print("ready", flush=True)
sys.stdin.readline()
info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print(c.getsockname()[1], struct.unpack_from("I", info, 100)[0], flush=True)
sys.stdin.read()
"#;

#[test]
fn tcpretrans_shows_each_retransmission_of_a_flow() {
    use std::io::{BufRead, Write};
    let _k = kernel_lock();
    let ns = topology::Netns::new("ntr-retrans");
    let mut python = Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c", RETRANSMITS, "47730"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = std::io::BufReader::new(python.stdout.take().unwrap()).lines();
    // The connection's retransmissions while ntr runs; it stops before the
    // next one, and before the connection closes (FINs are retransmitted
    // too). Sockets of earlier runs may still retransmit in namespaces
    // going away: the netns filter leaves them out.
    let mut stdin = python.stdin.take().unwrap();
    let run = run_with(&["run", "tcpretrans", "-p", "port=47730", "-p", &format!("netns={}", ns.name), "--json", "--duration", "60s"], || {
        stdin.write_all(b"go\n").unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
    });
    stdin.write_all(b"report\n").unwrap();
    let out = lines.next().unwrap().unwrap();
    drop(stdin);
    assert!(python.wait().unwrap().success());
    run.ok();
    let f: Vec<u64> = out.split_whitespace().map(|v| v.parse().unwrap()).collect();
    let (sport, retransmitted) = (f[0], f[1]);
    assert!(retransmitted >= 2, "{out}");
    let recs = records(&run);
    let flow = serde_json::json!({"family": "ipv4", "proto": "tcp", "src": "127.0.0.1", "dst": "127.0.0.1", "sport": sport, "dport": 47730});
    assert!(recs.iter().all(|r| r["flow"] == flow && r["netns"] == ns.name.as_str() && r["state"] == "ESTABLISHED"), "{}", run.stdout);
    assert!(recs.iter().all(|r| r["result"] == "sent"), "{}", run.stdout);
    assert_eq!(recs.len() as u64, retransmitted, "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn tcplife_shows_each_connection_its_bytes_and_duration() {
    use std::io::{Read, Write};
    let _k = kernel_lock();
    let listener = std::net::TcpListener::bind("127.0.0.1:47740").expect("bind 47740");
    let (sent, answered) = (100_000usize, 7_777usize);
    let mut seen = None;
    let run = run_with(&["run", "tcplife", "-p", "port=47740", "--json", "--duration", "60s"], || {
        let started = std::time::Instant::now();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&vec![b'y'; answered]).unwrap();
            (got.len(), std::fs::read_to_string("/proc/thread-self/comm").unwrap().trim().to_string())
        });
        let mut c = std::net::TcpStream::connect("127.0.0.1:47740").unwrap();
        c.write_all(&vec![b'x'; sent]).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let port = c.local_addr().unwrap().port();
        drop(c);
        let (server_got, server_comm) = server.join().unwrap();
        let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap().trim().to_string();
        // Both ends closed (the server's on the client's last ACK).
        std::thread::sleep(std::time::Duration::from_millis(100));
        seen = Some((port, got.len(), server_got, comm, server_comm, started.elapsed()));
    });
    run.ok();
    let (port, client_got, server_got, comm, server_comm, took) = seen.unwrap();
    assert_eq!((client_got, server_got), (answered, sent));
    let recs = records(&run);
    assert_eq!(recs.len(), 2, "{}", run.stdout);
    let end = |sport: u16| recs.iter().find(|r| r["flow"]["sport"] == sport).unwrap_or_else(|| panic!("{}", run.stdout));
    let (client, server) = (end(port), end(47740));
    assert_eq!(
        client["flow"],
        serde_json::json!({"family": "ipv4", "proto": "tcp", "src": "127.0.0.1", "dst": "127.0.0.1", "sport": port, "dport": 47740})
    );
    assert_eq!(
        server["flow"],
        serde_json::json!({"family": "ipv4", "proto": "tcp", "src": "127.0.0.1", "dst": "127.0.0.1", "sport": 47740, "dport": port})
    );
    assert_eq!((&client["pid"], &client["comm"]), (&Value::from(std::process::id()), &Value::from(comm.as_str())), "{client}");
    // In sequence space: a FIN acknowledged or received counts one byte,
    // and the client's SYN acknowledged one more.
    assert_eq!((&client["bytes_acked"], &client["bytes_received"]), (&Value::from(sent + 2), &Value::from(answered + 1)), "{client}");
    assert_eq!((&server["bytes_acked"], &server["bytes_received"]), (&Value::from(answered + 1), &Value::from(sent + 1)), "{server}");
    if kernel::fentry_loads() {
        assert_eq!((&server["pid"], &server["comm"]), (&Value::from(std::process::id()), &Value::from(server_comm.as_str())), "{server}");
    } else {
        assert!(server.get("pid").is_none() && server.get("comm").is_none(), "{server}");
    }
    for r in [client, server] {
        assert!(r["dur_us"].as_u64().unwrap() <= took.as_micros() as u64, "{r} within {took:?}");
    }
    assert_nothing_left();
}

#[test]
fn biosnoop_shows_each_request_with_its_submitter() {
    let _k = kernel_lock();
    let dev = LoopDevice::new(16);
    let mut dd = None;
    let run = run_with(&["run", "biosnoop", "-p", &format!("disk={}", dev.name()), "--json", "--duration", "60s"], || {
        // 32 reads of 4 KiB from sector 800 (block 100), each its own
        // request (direct I/O), by a process the test knows.
        let child = Command::new("dd")
            .arg(format!("if={}", dev.0))
            .args(["of=/dev/null", "bs=4096", "skip=100", "count=32", "iflag=direct"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(child.wait_with_output().unwrap().status.success());
        dd = Some(pid);
    });
    run.ok();
    let pid = dd.unwrap();
    let recs = records(&run);
    // The submitter is known where the kernel has block_io_start (older
    // ones, such as 6.1, do not): there no pid or comm is claimed.
    let submitter = kernel::tracepoint_exists("block", "block_io_start");
    let mine = if submitter { of_pid(&recs, pid) } else { recs.iter().filter(|r| r["disk"] == dev.name()).collect() };
    let sectors: Vec<u64> = mine.iter().map(|r| r["sector"].as_u64().unwrap()).collect();
    assert_eq!(sectors, (0..32).map(|i| 800 + 8 * i).collect::<Vec<u64>>(), "{}", run.stdout);
    for r in &mine {
        assert_eq!((&r["disk"], &r["op"], &r["bytes"]), (&Value::from(dev.name()), &Value::from("READ"), &Value::from(4096)), "{r}");
        if submitter {
            assert_eq!(r["comm"], "dd", "{r}");
        } else {
            assert!(r.get("pid").is_none() && r.get("comm").is_none(), "{r}");
        }
    }
    // Nothing else read this disk while it ran.
    assert_eq!(recs.len(), 32, "{}", run.stdout);
    assert_nothing_left();
}

/// A child process killed and reaped when the test ends, passing or not.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether something listens on 127.0.0.1:`port` (TCP).
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == format!("0100007F:{port:04X}") && f[3] == "0A"
    })
}

#[test]
fn sslsnoop_shows_the_plaintext_a_tls_client_writes_and_the_server_reads() {
    use std::io::{Read, Write};
    let _k = kernel_lock();
    let port = 47_204;
    let dir = std::env::temp_dir().join(format!("ntr-sslsnoop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=ntr", "-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl req");
    assert!(made.success(), "a test certificate");
    let mut server = Reaped(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server"),
    );
    let server_pid = server.0.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !listening(port) {
        assert!(std::time::Instant::now() < deadline, "s_server does not listen on {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut server_out = server.0.stdout.take().unwrap();
    // A line with bytes that are not printable, as the client sends it;
    // the server prints what it read: the ground truth for its side.
    let line = b"ntr sslsnoop\t\x01\xfe 47204\n";
    let mut exchange = || {
        let mut client = Reaped(
            Command::new("openssl")
                .args(["s_client", "-quiet", "-no_ign_eof", "-connect", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("openssl s_client"),
        );
        let mut stdin = client.0.stdin.take().unwrap();
        stdin.write_all(line).unwrap();
        drop(stdin);
        client.0.wait().unwrap();
        let (mut received, mut byte) = (Vec::new(), [0u8; 1]);
        while !received.ends_with(b"\n") && server_out.read(&mut byte).unwrap_or(0) == 1 {
            received.push(byte[0]);
        }
        assert_eq!(received, line, "the server read the line");
        client.0.id()
    };
    let mut client_pid = 0;
    let run = run_with(&["run", "sslsnoop", "--json", "--duration", "60s"], || client_pid = exchange());
    run.ok();
    let hex: String = line.iter().map(|b| format!("{b:02x}")).collect();
    let recs = records(&run);
    for (pid, func) in [(client_pid, "SSL_write"), (server_pid, "SSL_read")] {
        let calls: Vec<&Value> = of_pid(&recs, pid).into_iter().filter(|r| r["func"] == func).collect();
        assert_eq!(calls.len(), 1, "one {func} by {pid}:\n{}", run.stdout);
        let r = calls[0];
        assert_eq!(
            (r["comm"].as_str(), r["bytes"].as_u64(), r["data"].as_str()),
            (Some("openssl"), Some(line.len() as u64), Some(hex.as_str())),
            "{r}"
        );
        assert_eq!(r["tid"], pid, "{r}");
        assert!(r["lat_us"].as_u64().is_some(), "{r}");
    }

    // As text, the first `len` bytes: printable ASCII as it is, the rest escaped.
    let run = run_with(&["run", "sslsnoop", "-p", "len=14", "-p", "comm=openssl", "--duration", "60s"], || client_pid = exchange());
    run.ok();
    std::fs::remove_dir_all(&dir).ok();
    let fields = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    let writes: Vec<Vec<String>> = run.stdout.lines().map(fields).filter(|f| f.len() >= 8 && f[1] == client_pid.to_string()).collect();
    assert_eq!(writes.len(), 1, "{}", run.stdout);
    let len = line.len().to_string();
    assert_eq!(writes[0][2..6], [client_pid.to_string().as_str(), "openssl", "SSL_write", len.as_str()], "{}", run.stdout);
    assert!(run.stdout.contains(&format!("SSL_write {len:<6} {:<8} ntr sslsnoop\\x09\\x01\n", writes[0][6])), "{}", run.stdout);
    assert_nothing_left();
}
