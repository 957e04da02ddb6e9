//! The command line around the language: check, compile, list, help, and
//! the stdlib dropwatch run by name.

mod common;

use common::*;

#[test]
fn compile_dump_shows_source_lines_above_instructions() {
    let run = Run::from(ntr().args(["compile", "examples/first_drop_stack.ntr", "--dump"]).output().unwrap());
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("tracepoint:skb:kfree_skb (ntr_p0_"), "{}", run.stdout);
    let src = lines.iter().position(|l| l.contains("; examples/first_drop_stack.ntr:5: printf(")).expect("source line");
    assert!(lines[src + 1].trim_start().chars().next().unwrap().is_ascii_digit(), "instructions follow the source line");
    assert!(run.stdout.contains("call bpf_ringbuf_output"), "{}", run.stdout);
    assert!(run.stdout.contains("exit"));
}

#[test]
fn compile_dump_shows_control_characters_of_the_source_escaped() {
    let path = std::env::temp_dir().join(format!("ntr-dump-esc-{}.ntr", std::process::id()));
    std::fs::write(&path, "begin { printf(\"\x1b[31mred\\n\"); }\n").unwrap();
    let run = Run::from(ntr().args(["compile", path.to_str().unwrap(), "--dump"]).output().unwrap());
    std::fs::remove_file(&path).ok();
    run.ok();
    assert!(run.stdout.contains(r#"printf("\x1b[31mred\n");"#), "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'), "a raw ESC in the dump: {:?}", run.stdout);
}

#[test]
fn compile_writes_a_bpf_elf_object() {
    let out = std::env::temp_dir().join(format!("ntr-obj-{}.o", std::process::id()));
    Run::from(ntr().args(["compile", "examples/drops_by_reason.ntr", "-o", out.to_str().unwrap()]).output().unwrap()).ok();
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).ok();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 247, "e_machine is EM_BPF");
}

#[test]
fn check_reports_probes_without_loading() {
    let run = Run::from(ntr().args(["check", "examples/packet_sizes.ntr"]).output().unwrap());
    run.ok();
    assert!(run.stdout.starts_with("ok: 1 probe (tracepoint:skb:kfree_skb), 2 maps"), "{}", run.stdout);
}

#[test]
fn every_example_checks() {
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        let run = Run::from(ntr().args(["check", path.to_str().unwrap()]).output().unwrap());
        assert_eq!(run.status, 0, "{}: {}", path.display(), run.stderr);
    }
}

#[test]
fn list_probes_and_scripts() {
    let run = Run::from(ntr().args(["list", "kfree*"]).output().unwrap());
    run.ok();
    assert!(run.stdout.lines().any(|l| l.starts_with("tracepoint:skb:kfree_skb ")), "{}", run.stdout);
    let run = Run::from(ntr().args(["list", "scripts"]).output().unwrap());
    run.ok();
    assert!(run.stdout.starts_with("dropwatch "), "{}", run.stdout);
    let run = Run::from(ntr().args(["help", "dropwatch"]).output().unwrap());
    run.ok();
    assert!(run.stdout.contains("-p port=9418") && run.stdout.contains("reason "), "{}", run.stdout);
}

#[test]
fn dropwatch_by_name_counts_and_keeps_backtraces() {
    let _k = kernel_lock();
    // Reason names match without case. The port keeps other drops on the
    // machine out of the counts.
    let run =
        run_with(&["run", "dropwatch", "-p", "reason=no_socket", "-p", "port=39412", "--duration", "60s"], || udp_to_closed_port(39_412, 25, 16));
    run.ok();
    let row = run.stdout.lines().find(|l| l.starts_with("@drops[") && l.contains("NO_SOCKET")).unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(row.ends_with(": 25"), "{row}");
    assert!(!run.stdout.lines().any(|l| l.starts_with("@drops[") && !l.contains("NO_SOCKET")), "filtered by reason:\n{}", run.stdout);
    assert!(run.stdout.contains("@backtraces[") && run.stdout.contains("    __udp4_lib_rcv+0x"), "{}", run.stdout);
    assert_eq!(
        run.stdout
            .lines()
            .filter_map(common::walltime::split_clock)
            .filter(|(_, rest)| rest.starts_with("drop host/lo udp 127.0.0.1:") && rest.contains(" -> 127.0.0.1:39412 at __udp4_lib_rcv+0x"))
            .count(),
        25,
        "{}",
        run.stdout
    );
    assert_nothing_left();
}

#[test]
fn unknown_script_names_the_stdlib() {
    let run = Run::from(ntr().args(["run", "dropwach"]).output().unwrap());
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("no script file or stdlib script named `dropwach`") && run.stderr.contains("dropwatch"), "{}", run.stderr);
}

#[test]
fn list_names_the_attach_method_this_kernel_allows() {
    let run = Run::from(ntr().args(["list", "kfree*"]).output().unwrap());
    run.ok();
    let tp = run.stdout.lines().find(|l| l.starts_with("tracepoint:skb:kfree_skb ")).unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(tp.ends_with(" tp_btf"), "{tp}");
    // Functions: the best method this kernel allows, one row each; or, where
    // none works, how many there are and why, in one line. As many as
    // vmlinux BTF has (bpftool's dump).
    let dump = std::process::Command::new("bpftool").args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"]).output().unwrap();
    let btf_count = String::from_utf8_lossy(&dump.stdout).lines().filter(|l| l.contains("] FUNC 'kfree")).count();
    assert!(btf_count > 0);
    let rows: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("function:")).collect();
    if kernel::fentry_loads() || kernel::has_kprobes() {
        let method = if kernel::fentry_loads() { " fentry" } else { " kprobe" };
        let f = rows.iter().find(|l| l.starts_with("function:kfree_skb_list_reason ")).unwrap_or_else(|| panic!("{}", run.stdout));
        assert!(f.ends_with(method), "{f}");
        assert_eq!(rows.iter().filter(|l| !l.contains("(module")).count(), btf_count, "{}", run.stdout);
    } else {
        assert!(rows.is_empty(), "no row for a function that cannot be probed:\n{}", run.stdout);
        let summary = format!("{btf_count} kernel functions match but cannot be probed here: this kernel was built without kprobes");
        assert!(run.stdout.lines().any(|l| l.starts_with(&summary) && l.contains("fentry")), "{summary:?} in:\n{}", run.stdout);
    }
    let run = Run::from(ntr().args(["list", "tracepoint:syscalls:sys_enter_openat"]).output().unwrap());
    run.ok();
    assert!(run.stdout.trim_end().ends_with("tracepoint (arguments from tracefs)"), "{}", run.stdout);
}

#[test]
fn info_shows_probe_arguments_and_struct_fields() {
    let run = Run::from(ntr().args(["info", "kfree_skb"]).output().unwrap());
    run.ok();
    assert!(run.stdout.starts_with("tracepoint:skb:kfree_skb (tp_btf)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("\n  skb: struct sk_buff *\n") && run.stdout.contains("\n  reason: enum skb_drop_reason\n"), "{}", run.stdout);
    let run = Run::from(ntr().args(["info", "struct", "sk_buff"]).output().unwrap());
    run.ok();
    assert!(run.stdout.lines().any(|l| l.trim_start().split_once("  ").is_some_and(|(_, f)| f == "len: u32")), "{}", run.stdout);
    let run = Run::from(ntr().args(["info", "kfre_skb"]).output().unwrap());
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("no probe named `kfre_skb`") && run.stderr.contains("skb:kfree_skb"), "{}", run.stderr);
}

/// The shell code calls this binary back for candidates (the candidates
/// themselves are tests/install.rs's).
#[test]
fn shell_completions_are_generated() {
    for (shell, asks) in [("bash", "COMPLETE=\"bash\""), ("zsh", "COMPLETE=\"zsh\""), ("fish", "COMPLETE=fish")] {
        let run = Run::from(ntr().args(["completions", shell]).output().unwrap());
        run.ok();
        assert!(run.stdout.contains(asks) && run.stdout.contains(env!("CARGO_BIN_EXE_ntr")), "{shell}: {}", run.stdout);
    }
    // Asked as fish asks: the words so far, the last one being completed.
    let run = Run::from(ntr().env("COMPLETE", "fish").args(["--", "ntr", "in"]).output().unwrap());
    run.ok();
    assert_eq!(run.stdout.lines().map(|l| l.split('\t').next().unwrap()).collect::<Vec<_>>(), ["info"], "{}", run.stdout);
}

/// Tracepoints gain arguments over releases (`consume_skb`'s `location`
/// since 6.3, `tcp_send_reset`'s `reason` since 6.10): where the kernel's own
/// format lacks one, using it says since when and how to guard it, and the
/// stdlib scripts that guard theirs still check.
#[test]
fn a_tracepoint_argument_this_kernel_lacks_says_since_when() {
    for (category, tp, arg, since) in [("skb", "consume_skb", "location", "6.3"), ("tcp", "tcp_send_reset", "reason", "6.10")] {
        let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("uses_{arg}_of_{tp}.ntr"));
        std::fs::write(&file, format!("on {tp} {{ @[(u64){arg}] = count(); }}")).unwrap();
        let run = Run::from(ntr().arg("check").arg(&file).output().unwrap());
        if kernel::tracepoint_has_field(category, tp, arg) {
            assert_eq!(run.status, 0, "{tp} has {arg}: {}", run.stderr);
            continue;
        }
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert!(run.stderr.contains(&format!("unknown name `{arg}`")), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("is an argument of `tracepoint:{category}:{tp}` since Linux {since}")), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("if has({arg})")), "{}", run.stderr);
    }
    for script in ["skbtrace", "tcpstates"] {
        let run = Run::from(ntr().args(["check", script]).output().unwrap());
        assert_eq!(run.status, 0, "{script}: {}", run.stderr);
    }
}

/// `on PROBE? { … }`: a probe the kernel cannot attach is skipped with a
/// note saying why; a script left with no probe is an error.
#[test]
fn optional_probes_are_skipped_with_the_reason() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (some, none) = (dir.join("optional_some.ntr"), dir.join("optional_none.ntr"));
    std::fs::write(&some, "on kprobe:ntr_no_such_function? { @a = count(); }\non kfree_skb { @b = count(); }\n").unwrap();
    std::fs::write(&none, "on kprobe:ntr_no_such_function? { @a = count(); }\n").unwrap();
    let run = Run::from(ntr().arg("check").arg(&some).output().unwrap());
    run.ok();
    assert!(run.stdout.starts_with("ok: 1 probe (tracepoint:skb:kfree_skb)"), "{}", run.stdout);
    assert!(
        run.stderr.starts_with("note: ") && run.stderr.contains("ntr_no_such_function") && run.stderr.contains("optional_some.ntr:1:4"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("the probe is optional (`?`)"), "{}", run.stderr);
    let run = Run::from(ntr().arg("check").arg(&none).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: ") && run.stderr.contains("ntr_no_such_function"), "{}", run.stderr);
    // A function this kernel has, whether or not it can attach to it: the
    // body is checked all the same (an error in it is the script's on
    // every kernel), and the maps it fills have its types.
    let (typo, filled) = (dir.join("optional_typo.ntr"), dir.join("optional_filled.ntr"));
    std::fs::write(&typo, "on fentry:nf_hook_slow? { @a[skb.ntr_no_such_field] = count(); }\non kfree_skb { @b = count(); }\n").unwrap();
    std::fs::write(&filled, "on fentry:nf_hook_slow? { @_len[(addr)skb] = skb.len; }\non kfree_skb { @b[@_len[(addr)skb]] = count(); }\n").unwrap();
    let run = Run::from(ntr().arg("check").arg(&typo).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: ") && run.stderr.contains("ntr_no_such_field") && run.stderr.contains("optional_typo.ntr:1:"),
        "{}",
        run.stderr
    );
    Run::from(ntr().arg("check").arg(&filled).output().unwrap()).ok();
}

/// `(enum NAME[])x` reads bit N of x as the enum's value N: each set bit
/// shows as the name bpftool gives that value (without the prefix all the
/// enum's names share, as single values show).
#[test]
fn a_number_read_as_a_set_names_the_enum_value_of_each_bit() {
    let hooks = enum_from_bpftool("nf_inet_hooks");
    let name =
        |v: u64| hooks.iter().find(|(_, n)| *n == v).unwrap_or_else(|| panic!("{v} in {hooks:?}")).0.trim_start_matches("NF_INET_").to_string();
    let script = "begin { emit(\"%s\\n\", hooks=(enum nf_inet_hooks[])5); exit(); }";
    let text = Run::from(ntr().args(["-e", script]).output().unwrap());
    text.ok();
    assert_eq!(text.stdout.lines().next(), Some(format!("{}|{}", name(0), name(2)).as_str()), "{}", text.stdout);
    let json = Run::from(ntr().args(["--json", "-e", script]).output().unwrap());
    json.ok();
    let record: serde_json::Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(record["hooks"], serde_json::json!([name(0), name(2)]), "{}", json.stdout);
}

/// `--duration 5` would be 5 nanoseconds: a bare number is refused with the
/// spelling to use, before anything is loaded.
#[test]
fn a_duration_without_a_unit_is_refused() {
    for flag in ["--duration", "-d"] {
        let run = Run::from(ntr().args(["-e", "on kfree_skb { @c = count(); }", flag, "5"]).output().unwrap());
        assert_eq!(run.status, 2, "{flag} 5: {}", run.stderr);
        assert!(run.stderr.contains("`5` has no unit") && run.stderr.contains("--duration 5s"), "{}", run.stderr);
        assert!(!run.stderr.contains("Attached"), "{}", run.stderr);
    }
}

/// A duration parameter given with its unit holds what was given; without
/// one it is refused (the diagnostics tests), not taken as nanoseconds.
#[test]
fn a_duration_parameter_holds_what_was_given() {
    let _k = kernel_lock();
    let script = "param t: duration = 2s\nbegin { printf(\"%d\\n\", t); exit(); }";
    for (given, ns) in [(None, 2_000_000_000u64), (Some("t=5ms"), 5_000_000)] {
        let mut args = vec!["-e", script];
        if let Some(p) = given {
            args.extend(["-p", p]);
        }
        let run = Run::from(ntr().args(&args).output().unwrap());
        run.ok();
        assert_eq!(run.stdout.trim(), ns.to_string(), "{given:?}: {}", run.stdout);
    }
    let run = Run::from(ntr().args(["-e", script, "-p", "t=5"]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`5` has no unit") && !run.stderr.contains("Attached"), "{}", run.stderr);
    assert_nothing_left();
}

/// Modules are files, however they are spelled: a diamond of `use`s loads
/// the shared module once, a script run through a symlink finds its modules
/// next to the real file, a device is refused, and `-` reads standard input.
#[test]
fn modules_are_files_however_they_are_spelled() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ntr-modules-{}", std::process::id()));
    let (real, elsewhere) = (dir.join("real"), dir.join("elsewhere"));
    std::fs::create_dir_all(real.join("lib")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(real.join("lib/shared.ntr"), "fn big(n) { return n > 1000; }\n").unwrap();
    std::fs::write(real.join("a.ntr"), "use \"lib/shared.ntr\"\n").unwrap();
    std::fs::write(real.join("b.ntr"), "use \"./lib/../lib/shared.ntr\"\n").unwrap();
    std::fs::write(real.join("main.ntr"), "use \"a.ntr\"\nuse \"./b.ntr\"\non kfree_skb if big(skb.len) { @big = count(); }\n").unwrap();
    let link = elsewhere.join("main.ntr");
    std::os::unix::fs::symlink(real.join("main.ntr"), &link).unwrap();
    for script in [real.join("main.ntr"), link] {
        let run = Run::from(ntr().arg("check").arg(&script).output().unwrap());
        assert_eq!(run.status, 0, "{}: {}", script.display(), run.stderr);
    }
    std::fs::write(real.join("zero.ntr"), "use \"/dev/zero\"\non kfree_skb { @n = count(); }\n").unwrap();
    let started = std::time::Instant::now();
    let run = Run::from(ntr().arg("check").arg(real.join("zero.ntr")).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot read `/dev/zero`: not a regular file") && run.stderr.contains("zero.ntr:1:1"), "{}", run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    std::fs::remove_dir_all(&dir).unwrap();

    let mut child = ntr()
        .args(["check", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"on kfree_skb { @n = count(); }\n").unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    run.ok();
    assert!(run.stdout.starts_with("ok: 1 probe (tracepoint:skb:kfree_skb)"), "{}", run.stdout);
}

/// `enum skb_drop_reason` as bpftool reads it from this kernel's BTF:
/// (name, value) in enum order.
fn drop_reasons_from_bpftool() -> Vec<(String, u64)> {
    enum_from_bpftool("skb_drop_reason")
}

/// `enum NAME` as bpftool reads it from this kernel's BTF: (name, value) in
/// enum order.
fn enum_from_bpftool(name: &str) -> Vec<(String, u64)> {
    let out = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "raw"])
        .output()
        .expect("bpftool is installed (.ci/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().skip_while(|l| !l.contains(&format!("ENUM '{name}' ")));
    lines.next().unwrap_or_else(|| panic!("{name} in BTF"));
    lines
        .map_while(|l| {
            // `	'SKB_DROP_REASON_NO_SOCKET' val=3`
            let (name, val) = l.strip_prefix("\t'")?.split_once("' val=")?;
            Some((name.to_string(), val.parse().ok()?))
        })
        .collect()
}

/// `ntr list reasons` shows this kernel's enum (checked against bpftool),
/// each with the table's meaning or "no explanation yet".
#[test]
fn list_reasons_is_this_kernels_enum_with_meanings() {
    let btf = drop_reasons_from_bpftool();
    assert!(btf.len() > 60, "{btf:?}");
    let run = Run::from(ntr().args(["list", "reasons"]).output().unwrap());
    run.ok();
    let listed: Vec<(&str, &str)> = run.stdout.lines().map(|l| l.split_once("  ").map(|(n, m)| (n, m.trim_start())).unwrap_or((l, ""))).collect();
    let names: Vec<&str> = listed.iter().map(|(n, _)| *n).collect();
    let expected: Vec<&str> = btf.iter().map(|(n, _)| n.strip_prefix("SKB_DROP_REASON_").unwrap_or(n)).collect();
    assert_eq!(names, expected, "names and order as in BTF");
    let meaning = |name: &str| listed.iter().find(|(n, _)| *n == name).map(|(_, m)| *m).unwrap();
    assert_eq!(meaning("NO_SOCKET"), ntr_stdlib::reasons::explain("NO_SOCKET").unwrap().meaning);
    assert!(meaning("NETFILTER_DROP").contains("netfilter rule"), "{}", run.stdout);
    match expected.iter().find(|n| ntr_stdlib::reasons::explain(n).is_none()) {
        Some(unexplained) => assert_eq!(meaning(unexplained), "no explanation yet"),
        // Every reason of this kernel explained: none of another kernel's is listed.
        None => {
            for (other, _) in ntr_stdlib::reasons::explained().filter(|(n, _)| !expected.contains(n)) {
                assert!(!names.contains(&other), "{other} is not a reason of this kernel");
            }
        }
    }
}

/// Every name in the drop reason table is a reason of this kernel, unless
/// the table says this kernel series lacks it; and what it says is true.
#[test]
fn the_reason_table_names_only_real_reasons() {
    let btf = drop_reasons_from_bpftool();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let release = release.trim();
    for (name, e) in ntr_stdlib::reasons::explained() {
        let here = btf.iter().any(|(n, _)| n == name || n.strip_prefix("SKB_DROP_REASON_") == Some(name));
        assert_eq!(!here, e.absent_in(release), "{name}: in this kernel ({release}): {here}; the table says absent in {:?}", e.absent_in);
    }
}

#[test]
fn info_reason_explains_and_suggests() {
    let btf = drop_reasons_from_bpftool();
    let value = btf.iter().find(|(n, _)| n == "SKB_DROP_REASON_NO_SOCKET").unwrap().1;
    for spelling in ["no_socket", "SKB_DROP_REASON_NO_SOCKET"] {
        let run = Run::from(ntr().args(["info", "reason", spelling]).output().unwrap());
        run.ok();
        let e = ntr_stdlib::reasons::explain("NO_SOCKET").unwrap();
        assert_eq!(
            run.stdout,
            format!(
                "NO_SOCKET (SKB_DROP_REASON_NO_SOCKET = {value})\n  meaning: {}\n  check:   {}\n  facts:   listener (looked up in the packet's namespace by `cause`, as dropwatch prints it)\n",
                e.meaning, e.check
            )
        );
    }
    let run = Run::from(ntr().args(["info", "reason", "no_sockt"]).output().unwrap());
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("no drop reason `no_sockt`") && run.stderr.contains("did you mean `NO_SOCKET`?"), "{}", run.stderr);
}

/// `-c CMD` runs the command once the probes are attached (its own exec is
/// seen), `cpid` is its pid (as the command itself writes it), and the run
/// ends when it exits, saying a failing status.
#[test]
fn dash_c_runs_the_command_traced_from_its_exec_and_stops_when_it_exits() {
    let _k = kernel_lock();
    let file = std::env::temp_dir().join(format!("ntr-cpid-{}", std::process::id()));
    let helper = programs::toolbox_helper();
    let command = format!("sh -c 'echo $$ > {}; exec {} getppid 1; exit 9'", file.display(), helper.display());
    let script = r#"on sched_process_exec if pid == cpid { printf("exec %d %d %s\n", pid, cpid, comm); }"#;
    let started = std::time::Instant::now();
    let run = Run::from(ntr().args(["-c", &command, "--duration", "60s", "-e", script]).output().unwrap());
    let took = started.elapsed();
    run.ok();
    let pid = std::fs::read_to_string(&file).unwrap().trim().to_string();
    std::fs::remove_file(&file).ok();
    // sh's exec, then the helper's, in the same process.
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines, [format!("exec {pid} {pid} sh"), format!("exec {pid} {pid} ntr_toolbox")], "{}", run.stderr);
    assert!(took < std::time::Duration::from_secs(20), "ended with the command, not the 60 s cap: {took:?}");
    assert!(!run.stderr.contains("exited with status"), "status 0 is not news: {}", run.stderr);
    // A failing command's status is said.
    let run = Run::from(ntr().args(["-c", "sh -c 'exit 3'", "--duration", "60s", "-e", script]).output().unwrap());
    run.ok();
    assert!(run.stderr.contains("`sh -c 'exit 3'` exited with status 3"), "{}", run.stderr);
    assert_nothing_left();
}

/// A command still running when the run stops is ended with it; one that
/// cannot be found is an error before anything loads.
#[test]
fn dash_c_ends_its_command_with_the_run_and_refuses_a_missing_one() {
    let _k = kernel_lock();
    let run = Run::from(ntr().args(["-c", "sleep 30", "-d", "300ms", "-e", r#"begin { printf("%d\n", cpid); }"#]).output().unwrap());
    run.ok();
    let pid: i32 = run.stdout.trim().parse().unwrap_or_else(|_| panic!("{}", run.stdout));
    // SAFETY: kill with signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "the command {pid} outlived the run");
    let run = Run::from(ntr().args(["-c", "ntr-no-such-command", "-e", "begin { exit(); }"]).output().unwrap());
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("`ntr-no-such-command`: no such executable"), "{}", run.stderr);
    let run = Run::from(ntr().args(["-e", r#"begin { printf("%d\n", cpid); }"#]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`cpid` is the pid of the command `-c CMD` runs"), "{}", run.stderr);
    assert_nothing_left();
}

/// A command that ignores SIGTERM does not hold ntr: it is killed after the
/// grace period, and ntr says so.
#[test]
fn dash_c_kills_a_command_that_ignores_sigterm() {
    let _k = kernel_lock();
    let command = r#"python3 -c "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)""#;
    let started = std::time::Instant::now();
    // The run ends when the command sleeps, its SIGTERM ignored and its
    // line written by then, however slowly python starts (an earlier write,
    // such as a warning, would end it before the handler is set).
    let script = r#"begin { printf("%d\n", cpid); }
        on sys_enter_clock_nanosleep, sys_enter_nanosleep, sys_enter_select, sys_enter_pselect6 if pid == cpid { exit(); }"#;
    let run = Run::from(ntr().args(["-c", command, "-d", "60s", "-e", script]).output().unwrap());
    let took = started.elapsed();
    run.ok();
    let pid: i32 = run.stdout.lines().next().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("{}", run.stdout));
    // It ran (and so ignored SIGTERM) before the run ended.
    assert!(run.stdout.contains("ready"), "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("(pid {pid}) was still running 2 s after SIGTERM: killed")), "{}", run.stderr);
    // SAFETY: kill with signal 0 only asks whether the process exists.
    assert!(unsafe { libc::kill(pid, 0) } != 0, "the command {pid} outlived the run");
    assert!(took < std::time::Duration::from_secs(50), "ntr took {took:?}: it waited for the command");
    assert_nothing_left();
}

/// `ntr list` of raw tracepoints, uprobe symbols and timed probes, and
/// `ntr info enum`, against the kernel's own lists and a test program's
/// functions.
#[test]
fn list_covers_every_probe_kind_and_info_lists_an_enum() {
    let run = Run::from(ntr().args(["list", "raw_tracepoint:kfree_sk*"]).output().unwrap());
    run.ok();
    assert!(run.stdout.lines().any(|l| l.starts_with("raw_tracepoint:kfree_skb ")), "{}", run.stdout);
    assert!(
        run.stdout.lines().all(|l| l.starts_with("raw_tracepoint:kfree_sk") && kernel::tracepoint_exists("skb", l[15..].split(' ').next().unwrap())),
        "{}",
        run.stdout
    );
    // The test program's four functions, and no others of that prefix.
    let bin = programs::probe_target();
    let run = Run::from(ntr().args(["list", &format!("uprobe:{}:ntr_*", bin.display())]).output().unwrap());
    run.ok();
    let expected: Vec<String> =
        ["ntr_insns", "ntr_spin", "ntr_target", "ntr_unsized"].iter().map(|f| format!("uprobe:{}:{f}", bin.display())).collect();
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), expected, "{}", run.stderr);
    let run = Run::from(ntr().args(["list", "profile:*"]).output().unwrap());
    run.ok();
    let max = std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate").unwrap();
    assert!(run.stdout.contains(&format!("samples at most {}hz", max.trim())), "{}", run.stdout);
    // An enum's values are BTF's (bpftool's dump of the same type).
    let run = Run::from(ntr().args(["info", "enum", "skb_drop_reason"]).output().unwrap());
    run.ok();
    let mut shown: Vec<(i64, String)> = run
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let (v, n) = l.trim().split_once("  ").unwrap();
            (v.trim().parse().unwrap(), n.trim().to_string())
        })
        .collect();
    shown.sort();
    let dump = std::process::Command::new("bpftool").args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"]).output().unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    let mut btf: Vec<(i64, String)> = dump
        .split("\n[")
        .find(|t| t.contains("] ENUM 'skb_drop_reason'"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (n, v) = l.trim().split_once(" val=").unwrap();
            (v.parse().unwrap(), n.trim_matches('\'').to_string())
        })
        .collect();
    btf.sort();
    assert_eq!(shown, btf);
    assert!(run.stdout.starts_with(&format!("enum skb_drop_reason ({} values)\n", btf.len())), "{}", run.stdout);
}

/// The catalogue of builtins is what the checker knows: every entry is
/// dispatched as its kind (no "unknown" for any), and `ntr info builtin`
/// shows its entries. One script, a block per entry: each block's first
/// error is reported, and one run keeps the emulated guest fast.
#[test]
fn every_catalogued_builtin_is_known_to_the_checker() {
    let mut script = String::new();
    for (i, b) in ntr_lang::builtins::BUILTINS.iter().enumerate() {
        let body = match b.kind {
            ntr_lang::builtins::Kind::Variable => format!("@x{i}[{}] = count();", b.name),
            _ => format!("{}();", b.name),
        };
        script.push_str(&format!("on kfree_skb {{ {body} }}\n"));
    }
    let path = std::env::temp_dir().join(format!("ntr-builtins-{}.ntr", std::process::id()));
    std::fs::write(&path, &script).unwrap();
    let run = Run::from(ntr().args(["check", path.to_str().unwrap()]).output().unwrap());
    std::fs::remove_file(&path).ok();
    let unknown: Vec<&str> =
        run.stderr.lines().filter(|l| l.contains("unknown function") || l.contains("unknown name") || l.contains("panicked")).collect();
    assert!(unknown.is_empty(), "{}", run.stderr);
    // The script was checked: some entries, called without arguments, are errors.
    assert!(run.stderr.contains("takes") || run.stderr.contains("needs"), "{}", run.stderr);
    let run = Run::from(ntr().args(["info", "builtin", "kstack"]).output().unwrap());
    run.ok();
    assert!(run.stdout.starts_with("kstack (value)\n") && run.stdout.contains("\nkstack(N) (function)\n"), "{}", run.stdout);
    let run = Run::from(ntr().args(["info", "builtin", "walltim"]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no builtin `walltim`") && run.stderr.contains("walltime"), "{}", run.stderr);
}

/// `ntr compile --btf FILE` types the script by that BTF (here a copy of
/// this kernel's: `skb.len` is read at the offset bpftool's dump of the
/// file gives), resolves tracepoints from it alone, and refuses what only
/// the running kernel can say (a classic tracepoint's record, `kaddr`).
#[test]
fn compile_against_another_kernel_s_btf() {
    let dir = std::env::temp_dir().join(format!("ntr-btf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let btf = dir.join("vmlinux.btf");
    std::fs::copy("/sys/kernel/btf/vmlinux", &btf).unwrap();
    let dump = std::process::Command::new("bpftool").args(["btf", "dump", "file"]).arg(&btf).output().unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    let sk_buff = dump.split("STRUCT 'sk_buff' size").nth(1).unwrap();
    let bits: u32 =
        sk_buff.lines().find(|l| l.trim_start().starts_with("'len' ")).unwrap().split("bits_offset=").nth(1).unwrap().trim().parse().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let ok = write("len.ntr", "on kfree_skb { @[skb.len] = count(); }\n");
    let out = dir.join("len.o");
    let run = Run::from(ntr().args(["compile", &ok, "--btf", btf.to_str().unwrap(), "-o", out.to_str().unwrap(), "--dump"]).output().unwrap());
    run.ok();
    assert!(run.stdout.contains(&format!("= *(u32 *)(r1 +{})", bits / 8)), "skb.len at byte {}:\n{}", bits / 8, run.stdout);
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x7fELF"));
    let classic = write("classic.ntr", "on syscalls:sys_enter_openat { @ = count(); }\n");
    let run = Run::from(ntr().args(["compile", &classic, "--btf", btf.to_str().unwrap()]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not a tracepoint the given BTF describes"), "{}", run.stderr);
    let kaddr = write("kaddr.ntr", "begin { printf(\"%x\\n\", kaddr(\"tcp_v4_rcv\")); }\n");
    let run = Run::from(ntr().args(["compile", &kaddr, "--btf", btf.to_str().unwrap()]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`kaddr` needs the running kernel's addresses"), "{}", run.stderr);
    let ct = write("ct.ntr", "on kfree_skb { @[ct(skb).state] = count(); }\n");
    let run = Run::from(ntr().args(["compile", &ct, "--btf", btf.to_str().unwrap()]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`ct` needs the running kernel's conntrack hook addresses"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).ok();
}
