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
    let child = Command::new(programs::toolbox_helper()).args(args).stdout(Stdio::piped()).spawn().expect("spawn the helper");
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
        ran.push(helper(&["exec", "/bin/true", "ntr-argv0", "two", "three"]));
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
    let second = execs[1];
    assert_eq!((second["ppid"].as_u64(), second["ret"].as_i64(), second["argc"].as_u64()), (Some(me as u64), Some(0), Some(3)), "{second}");
    assert_eq!(
        (second["comm"].as_str(), second["file"].as_str(), second["arg0"].as_str()),
        (Some("true"), Some("/bin/true"), Some("ntr-argv0")),
        "{second}"
    );
    // The exec that failed: the helper's errno, its path, and nothing it
    // cannot know.
    let (bad_pid, errno) = &ran[1];
    assert_eq!(errno, "-2", "ENOENT");
    let execs = of_pid(&recs, *bad_pid);
    assert_eq!(execs.len(), 2, "{execs:#?}\n{}", run.stdout);
    let failed = execs[1];
    assert_eq!(failed["ret"].as_i64(), Some(-2), "{failed}");
    assert_eq!((failed["comm"].as_str(), failed["file"].as_str()), (Some("ntr_toolbox"), Some("/nonexistent/ntr-exec")), "{failed}");
    for unknown in ["ppid", "argc", "arg0"] {
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
    let expected = [ran[1].0.to_string().as_str(), "unknown", "ntr_toolbox", "-2", "unknown", "/nonexistent/ntr-exec", "unknown"].map(String::from);
    assert_eq!(failed, [expected], "{}", run.stdout);
    assert_nothing_left();
}
