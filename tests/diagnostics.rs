//! Bad scripts: each must give exit 2 and a diagnostic pointing into the
//! file (`file:line:col` and a caret), with a message and hint that say what
//! is wrong. None may panic.

mod common;

use common::*;

struct Case {
    name: &'static str,
    script: &'static str,
    args: &'static [&'static str],
    /// Every one of these must appear in the diagnostic.
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case { name: "syntax_missing_brace", script: "on kfree_skb { @x = count();\n", args: &[], expect: &["error"] },
    Case { name: "syntax_bad_token", script: "on kfree_skb { @x = ; }\n", args: &[], expect: &["expected"] },
    Case { name: "unterminated_string", script: "begin { printf(\"abc); }\n", args: &[], expect: &["unterminated"] },
    Case { name: "bad_duration_unit", script: "every 5xs { exit(); }\n", args: &[], expect: &["xs"] },
    Case { name: "unknown_probe_near_miss", script: "on kfree_skbb { exit(); }\n", args: &[], expect: &["unknown probe", "kfree_skb"] },
    Case { name: "unknown_field", script: "on kfree_skb { @x[skb.lenn] = count(); }\n", args: &[], expect: &["no field `lenn`", "`len`"] },
    Case { name: "field_of_non_pointer", script: "on kfree_skb { @x[pid.foo] = count(); }\n", args: &[], expect: &["has no fields"] },
    Case { name: "type_mismatch_compare", script: "on kfree_skb if comm == 5 { exit(); }\n", args: &[], expect: &["cannot compare"] },
    Case { name: "arithmetic_on_string", script: "on kfree_skb { @x[comm + 1] = count(); }\n", args: &[], expect: &["arithmetic"] },
    Case {
        name: "wrong_param_value",
        script: "param port: u16 = 0\non kfree_skb if skb.len > port { exit(); }\n",
        args: &["-p", "port=abc"],
        expect: &["`port`", "u16"],
    },
    Case {
        name: "param_out_of_range",
        script: "param port: u16 = 0\non kfree_skb if skb.len > port { exit(); }\n",
        args: &["-p", "port=70000"],
        expect: &["`port`", "range"],
    },
    // A bare number would be nanoseconds: durations need a unit everywhere.
    Case {
        name: "duration_default_without_unit",
        script: "param t: duration = 5\nbegin { exit(); }\n",
        args: &[],
        expect: &["invalid default for parameter `t`", "`5` has no unit", "`5s`"],
    },
    Case {
        name: "duration_param_without_unit",
        script: "param t: duration = 5s\nbegin { exit(); }\n",
        args: &["-p", "t=5"],
        expect: &["invalid value `5` for parameter `t` of type duration", "has no unit", "`5s`"],
    },
    Case { name: "every_without_unit", script: "every 5 { exit(); }\n", args: &[], expect: &["expected a duration", "`5s`"] },
    Case { name: "unknown_function", script: "on kfree_skb { frobnicate(); }\n", args: &[], expect: &["unknown function `frobnicate`"] },
    Case { name: "function_near_miss", script: "on kfree_skb { @c = cuont(); }\n", args: &[], expect: &["`count`"] },
    Case {
        name: "unknown_name_near_miss",
        script: "on kfree_skb { @x[reasn] = count(); }\n",
        args: &[],
        expect: &["unknown name `reasn`", "`reason`"],
    },
    Case {
        name: "unknown_enum_value",
        script: "on kfree_skb if reason == NO_SOCKETT { exit(); }\n",
        args: &[],
        expect: &["NO_SOCKETT", "`NO_SOCKET`"],
    },
    Case {
        name: "map_two_key_types",
        script: "on kfree_skb { @m[comm] = count(); @m[pid] = count(); }\n",
        args: &[],
        expect: &["two different keys"],
    },
    Case {
        name: "label_named_twice",
        script: "on kfree_skb { @m[x = comm, x = pid] = count(); }\n",
        args: &[],
        expect: &["two keys of `@m` are named `x`", "first named here"],
    },
    Case {
        name: "label_named_two_ways",
        script: "on kfree_skb { @m[site = location] = count(); @m[where = location] = count(); }\n",
        args: &[],
        expect: &["key 1 of `@m` is named two ways", "`site` here"],
    },
    Case {
        name: "label_reserved",
        script: "on kfree_skb { @m[__name = comm] = count(); }\n",
        args: &[],
        expect: &["label names starting with `__` are Prometheus's own"],
    },
    Case {
        name: "label_le_of_histogram",
        script: "on kfree_skb { @h[le = comm] = hist(skb.len); }\n",
        args: &[],
        expect: &["`le` is the bucket label of a histogram's metrics"],
    },
    Case { name: "map_two_kinds", script: "on kfree_skb { @m = count(); @m = 5; }\n", args: &[], expect: &["two different kinds"] },
    Case {
        name: "unknown_builtin_near_miss",
        script: "on kfree_skb { @x[builtin.nsec] = count(); }\n",
        args: &[],
        expect: &["unknown builtin `nsec`", "`nsecs`"],
    },
    Case { name: "aggregation_as_value", script: "on kfree_skb { let x = count(); }\n", args: &[], expect: &["aggregation"] },
    Case { name: "read_aggregation", script: "on kfree_skb { @c = count(); printf(\"%d\\n\", @c); }\n", args: &[], expect: &["aggregation"] },
    Case { name: "printf_arg_count", script: "begin { printf(\"%d %d\\n\", 1); }\n", args: &[], expect: &["2 conversions"] },
    Case { name: "printf_bad_conversion", script: "begin { printf(\"%q\\n\", 1); }\n", args: &[], expect: &["%q"] },
    Case { name: "fn_wrong_arity", script: "fn f(a) { return a; }\nbegin { printf(\"%d\", f(1, 2)); }\n", args: &[], expect: &["takes 1 argument"] },
    Case { name: "fn_recursion", script: "fn f(a) { return f(a); }\nbegin { printf(\"%d\", f(1)); }\n", args: &[], expect: &["calls itself"] },
    Case { name: "return_value_from_probe", script: "on kfree_skb { return 1; }\n", args: &[], expect: &["cannot return a value"] },
    Case { name: "unused_expression", script: "on kfree_skb { 1 + 2; }\n", args: &[], expect: &["not used"] },
    Case {
        name: "unknown_struct_cast",
        script: "on kfree_skb { @x[((struct no_such_thing *)location).len] = count(); }\n",
        args: &[],
        expect: &["no_such_thing"],
    },
    Case { name: "lhist_bad_range", script: "on kfree_skb { @l = lhist(skb.len, 100, 0, 10); }\n", args: &[], expect: &["lhist"] },
    Case {
        name: "emit_key_twice",
        script: "on kfree_skb { emit(len=skb.len, len=pid); }\n",
        args: &[],
        expect: &["field `len` is given twice", "first time", "keys are unique"],
    },
    Case { name: "emit_type_key", script: "on kfree_skb { emit(type=1); }\n", args: &[], expect: &["`type` cannot name a field", "`kind`"] },
    Case { name: "emit_unnamed", script: "on kfree_skb { emit(skb.len); }\n", args: &[], expect: &["has no name", "name=value"] },
    Case { name: "emit_empty", script: "on kfree_skb { emit(); }\n", args: &[], expect: &["at least one field"] },
    Case {
        name: "emit_format_fields",
        script: "on kfree_skb { emit(\"%s %s\\n\", a=pid); }\n",
        args: &[],
        expect: &["2 conversions for 1 field", "one conversion per field"],
    },
    Case { name: "emit_conversion", script: "on kfree_skb { emit(\"%d\", c=comm); }\n", args: &[], expect: &["`%d` cannot print a str"] },
    Case { name: "emit_no_value", script: "on kfree_skb { emit(x=exit()); }\n", args: &[], expect: &["`exit` has no value"] },
    Case { name: "sum_of_times", script: "on kfree_skb { @s = sum(walltime); }\n", args: &[], expect: &["`sum` of a time", "min(walltime)"] },
    Case { name: "walltime_plus_number", script: "on kfree_skb { @x = walltime * 2; }\n", args: &[], expect: &["arithmetic on a time"] },
    Case { name: "unknown_module", script: "use no_such_module\nbegin { exit(); }\n", args: &[], expect: &["no_such_module"] },
    Case { name: "kprobe_refused", script: "on kprobe:nf_hook_slow { exit(); }\n", args: &[], expect: &["kprobe", "kfree_skb"] },
    Case { name: "fentry_refused", script: "on fentry:nf_hook_slow { exit(); }\n", args: &[], expect: &["fentry", "kfree_skb"] },
    Case { name: "bare_function_refused", script: "on nf_hook_slow { exit(); }\n", args: &[], expect: &["nf_hook_slow", "kfree_skb"] },
    Case { name: "division_by_zero", script: "on kfree_skb { @x = skb.len / 0; }\n", args: &[], expect: &["division by zero", "this is 0"] },
    Case { name: "modulo_zero_param", script: "param n: u32 = 0\non kfree_skb { @x = skb.len % n; }\n", args: &[], expect: &["division by zero"] },
    Case { name: "shift_too_far", script: "on kfree_skb { @x = skb.len << 64; }\n", args: &[], expect: &["shift by 64 bits", "0 to 63"] },
    Case { name: "shift_negative", script: "on kfree_skb { @x = skb.len >> -1; }\n", args: &[], expect: &["shift by -1 bits"] },
    Case {
        name: "profile_too_fast",
        script: "on profile:99999999hz { @x = count(); }\n",
        args: &[],
        expect: &["99999999hz", "perf_event_max_sample_rate"],
    },
    Case {
        name: "enum_param_not_a_value",
        script: "param reason: enum skb_drop_reason = NOT_SPECIFIED\non kfree_skb if reason == params.reason { exit(); }\n",
        args: &["-p", "reason=99999"],
        expect: &["99999 is not a value of enum skb_drop_reason"],
    },
    Case {
        name: "empty_param",
        script: "param dev: str = \"\"\non kfree_skb if ifname(skb) == params.dev { exit(); }\n",
        args: &["-p", "dev="],
        expect: &["an empty value"],
    },
    Case {
        name: "uprobe_missing_symbol",
        script: "on uprobe:/bin/sh:ntr_no_such_function { @x = count(); }\n",
        args: &[],
        expect: &["no function `ntr_no_such_function` in `/bin/sh`", ".dynsym"],
    },
    Case {
        name: "uprobe_missing_file",
        script: "on uprobe:/no/such/ntr-binary:main { @x = count(); }\n",
        args: &[],
        expect: &["no file `/no/such/ntr-binary`"],
    },
    Case {
        name: "pcap_of_a_non_packet",
        script: "on kfree_skb { pcap(location); }\n",
        args: &[],
        expect: &["`pcap` needs a `struct sk_buff *`, not a addr", "not a packet", "pcap(skb)"],
    },
    Case {
        name: "pcap_of_a_packet_and_a_non_device",
        script: "on kfree_skb { pcap(skb, skb); }\n",
        args: &[],
        expect: &["`pcap` takes a device second", "not a `struct net_device *`"],
    },
    Case {
        name: "stack_overflow",
        // 70 values alive at once need 560 bytes of spill slots: more than the BPF stack's 512.
        script: "",
        args: &[],
        expect: &["stack"],
    },
    Case { name: "bad_time_format", script: "begin { printf(\"%s\\n\", time(\"%H:%J\")); }\n", args: &[], expect: &["invalid time format", "`J`"] },
    Case {
        name: "strftime_of_a_number",
        script: "begin { printf(\"%s\\n\", strftime(\"%H\", 5)); }\n",
        args: &[],
        expect: &["shows a `time`", "walltime"],
    },
    Case {
        name: "wildcard_matching_nothing",
        script: "on ntr_no_such_tracepoint_* { exit(); }\n",
        args: &[],
        expect: &["no probe matches `ntr_no_such_tracepoint_*`", "ntr list"],
    },
    Case { name: "wildcard_with_offset", script: "on kprobe:tcp_v4_*+4 { exit(); }\n", args: &[], expect: &["cannot take an offset"] },
    Case { name: "wildcard_too_wide", script: "on kprobe:* { exit(); }\n", args: &[], expect: &["more than 512"] },
    Case { name: "func_outside_a_function", script: "begin { printf(\"%s\", func); }\n", args: &[], expect: &["`begin` has none"] },
    Case {
        name: "record_field_of_a_tp_btf_probe",
        script: "on net_dev_xmit { @[len] = count(); }\n",
        args: &[],
        expect: &["unknown name `len`", "a field of the tracepoint's tracefs record", "`on tracefs:net:net_dev_xmit`"],
    },
    Case { name: "habit_signal", script: "on kfree_skb { signal(9); }\n", args: &[], expect: &["ntr has no `signal()`: it only watches"] },
    Case {
        name: "uaddr_outside_a_uprobe",
        script: "on kfree_skb { @[uaddr(\"main\")] = count(); }\n",
        args: &[],
        expect: &["`uaddr` is only known in a uprobe"],
    },
    Case { name: "deref_of_a_struct", script: "on kfree_skb { @[*skb] = count(); }\n", args: &[], expect: &["`*` of a struct pointer", "p.field"] },
    Case { name: "deref_of_an_address", script: "on kfree_skb { @[*location] = count(); }\n", args: &[], expect: &["`*` needs a typed pointer"] },
    // Habits from bpftrace, SystemTap and C get the ntr spelling.
    Case {
        name: "habit_probe_without_on",
        script: "tracepoint:skb:kfree_skb /pid == 1/ { @x = count(); }\n",
        args: &[],
        expect: &["starts with `on`", "`on tracepoint:skb:kfree_skb if pid == 1 { … }`"],
    },
    Case { name: "habit_uppercase_begin", script: "BEGIN { exit(); }\n", args: &[], expect: &["`BEGIN` is written `begin`"] },
    Case { name: "habit_dollar_variable", script: "on kfree_skb { $n = 1; }\n", args: &[], expect: &["no `$`", "`let n = …;`"] },
    Case { name: "habit_positional", script: "begin { @x = $1; exit(); }\n", args: &[], expect: &["positional", "-p NAME=VALUE"] },
    Case { name: "habit_arrow", script: "on kfree_skb { @x[args->reason] = count(); }\n", args: &[], expect: &["no `->`", "`args.reason`"] },
    Case { name: "habit_increment", script: "on kfree_skb { @hits++; }\n", args: &[], expect: &["no `++`", "`@hits += 1;`"] },
    Case { name: "habit_decrement", script: "on kfree_skb { @left--; }\n", args: &[], expect: &["no `--`", "`@left -= 1;`"] },
    Case {
        name: "habit_slash_predicate",
        script: "on kfree_skb /pid == 1/ { @x = count(); }\n",
        args: &[],
        expect: &["with `if`", "`if pid == 1 { … }`"],
    },
    Case {
        name: "habit_c_cast",
        script: "on kfree_skb { @x[(uint64)pid] = count(); }\n",
        args: &[],
        expect: &["`uint64` is not an ntr type", "`(u64)…`"],
    },
    Case { name: "habit_exponent", script: "on kfree_skb { @x = sum(1e6); }\n", args: &[], expect: &["no exponent notation", "1_000_000"] },
    Case {
        name: "habit_systemtap_probe",
        script: "probe kernel.trace(\"kfree_skb\") { exit(); }\n",
        args: &[],
        expect: &["SystemTap's `probe` is `on`", "`on kfree_skb { … }`"],
    },
    Case {
        name: "habit_systemtap_function",
        script: "probe kernel.function(\"tcp_v4_rcv\").return { exit(); }\n",
        args: &[],
        expect: &["`on kretprobe:tcp_v4_rcv { … }`"],
    },
];

fn overflow_script() -> String {
    let mut s = String::from("on kfree_skb {\n");
    for i in 0..70 {
        s.push_str(&format!("  let v{i} = skb.len * {} + nsecs;\n", i + 1));
    }
    s.push_str("  @sum = sum(");
    s.push_str(&(0..70).map(|i| format!("v{i}")).collect::<Vec<_>>().join(" + "));
    s.push_str(");\n}\n");
    s
}

#[test]
fn bad_scripts_give_located_diagnostics() {
    let dir = std::env::temp_dir().join(format!("ntr-diag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for case in CASES {
        let text = if case.name == "stack_overflow" { overflow_script() } else { case.script.to_string() };
        let path = dir.join(format!("{}.ntr", case.name));
        std::fs::write(&path, &text).unwrap();
        let mut args = vec!["check", path.to_str().unwrap()];
        args.extend_from_slice(case.args);
        let run = Run::from(ntr().args(&args).output().unwrap());
        let located = format!("{}.ntr:", case.name);
        let problems: Vec<String> = [
            (run.status != 2).then(|| format!("exit {} instead of 2", run.status)),
            (!run.stderr.contains(&located)).then(|| "no file:line:col".to_string()),
            (!run.stderr.contains('^')).then(|| "no caret".to_string()),
            run.stderr.contains("panicked").then(|| "panicked".to_string()),
        ]
        .into_iter()
        .flatten()
        .chain(case.expect.iter().filter(|e| !run.stderr.contains(*e)).map(|e| format!("missing {e:?}")))
        .collect();
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{}", case.name, problems.join(", "), run.stderr));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(CASES.len() >= 20);
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), CASES.len(), failures.join("\n\n"));
}

/// `begin { @x = EXPR; }` with EXPR on line 2, after `  @x = ` (7 columns).
fn assigning(expr: &str) -> String {
    format!("begin {{\n  @x = {expr};\n}}\n")
}

#[test]
fn deep_nesting_is_refused_quickly() {
    let n = 5000;
    let (plus, minus, parens) = (vec!["1"; n].join("+"), format!("{}1", "- ".repeat(n)), format!("{}1{}", "(".repeat(n), ")".repeat(n)));
    let ifs = format!("begin {{\n{}exit();{}\n}}\n", "if pid > 0 { ".repeat(n), " }".repeat(n));
    // Each fn body is shallow; inlined into one another they are not.
    let chain: String = (0..8)
        .map(|i| format!("fn f{i}(x) {{ return {}{}; }}\n", "-".repeat(100), if i < 7 { format!("f{}(x)", i + 1) } else { "x".into() }))
        .collect();
    // The innermost 256 levels are accepted; the error is where the 257th begins.
    let cases = [
        ("plus", assigning(&plus), "plus.ntr:2:8", "expression nests deeper than 256 levels"),
        ("minus", assigning(&minus), &*format!("minus.ntr:2:{}", 7 + (n - 256) * 2 + 1), "expression nests deeper than 256 levels"),
        ("parens", assigning(&parens), &*format!("parens.ntr:2:{}", 7 + (n - 256) + 1), "expression nests deeper than 256 levels"),
        // The innermost `if` is 3 deep (its condition `pid > 0` is 2).
        ("ifs", ifs, &*format!("ifs.ntr:2:{}", (n - 255) * 13 + 1), "`if` nests deeper than 256 levels"),
        ("chain", chain + "begin { @x = f0(pid); }\n", "chain.ntr:3:", "nests deeper than 256 levels once fns are inlined"),
    ];
    let dir = std::env::temp_dir().join(format!("ntr-deep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The diagnostic quotes the whole 10 KB line: report its first lines.
    let head = |text: &str| text.lines().take(2).map(|l| l.chars().take(200).collect::<String>()).collect::<Vec<_>>().join("\n");
    for (name, text, at, message) in &cases {
        let path = dir.join(format!("{name}.ntr"));
        std::fs::write(&path, text).unwrap();
        let started = std::time::Instant::now();
        let run = Run::from(ntr().args(["check", path.to_str().unwrap()]).output().unwrap());
        let took = started.elapsed();
        assert_eq!(run.status, 2, "{name}: {}", head(&run.stderr));
        assert!(run.stderr.contains(message) && run.stderr.contains("help: split it up"), "{name}: {}", head(&run.stderr));
        assert!(run.stderr.contains(at), "{name}: not at {at}: {}", head(&run.stderr));
        // A guard against the blow-ups these once were (minutes), in wall
        // time on a host that may be busy: bench/compile.sh measures speed.
        assert!(took < std::time::Duration::from_secs(10), "{name}: took {took:?}");
    }
    // Program text and the compiler take the same path.
    let run = Run::from(ntr().args(["-e", &assigning(&plus)]).output().unwrap());
    assert_eq!(run.status, 2, "{}", head(&run.stderr));
    assert!(run.stderr.contains("<program>:2:8") && run.stderr.contains("nests deeper"), "{}", head(&run.stderr));
    let run = Run::from(ntr().args(["compile", dir.join("minus.ntr").to_str().unwrap()]).output().unwrap());
    assert_eq!(run.status, 2, "{}", head(&run.stderr));
    // As deep as allowed (the assignment's value at 256) still checks.
    let path = dir.join("deepest.ntr");
    std::fs::write(&path, assigning(&format!("{}1", "- ".repeat(255)))).unwrap();
    let run = Run::from(ntr().args(["check", path.to_str().unwrap()]).output().unwrap());
    std::fs::remove_dir_all(&dir).ok();
    run.ok();
}

#[test]
fn control_characters_in_scripts_are_shown_escaped() {
    let dir = std::env::temp_dir().join(format!("ntr-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |name: &str, text: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Run::from(ntr().args(["check", path.to_str().unwrap()]).output().unwrap())
    };
    // An ESC inside a string, quoted by the diagnostic about that line.
    let run = check("in_string.ntr", b"begin {\n  printf(\"\x1b[2J%d\\n\");\n}\n");
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("in_string.ntr:2:3") && run.stderr.contains(r#"printf("\x1b[2J%d\n");"#), "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "a raw ESC in the diagnostic: {:?}", run.stderr);
    // One outside a string is the error itself.
    let run = check("bare.ntr", b"begin { exit(); }\x1b]0;owned\x07\n");
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains(r"unexpected character `\x1b`") && run.stderr.contains(r"\x1b]0;owned\x07"), "{}", run.stderr);
    assert!(!run.stderr.contains(['\x1b', '\x07']), "a raw control character in the diagnostic: {:?}", run.stderr);
    // A byte order mark (as some Windows editors write) is not part of the script.
    let run = check("bom.ntr", "\u{feff}begin { exit(); }\n".as_bytes());
    assert!(run.status == 0 && run.stdout.starts_with("ok: 1 probe (begin)"), "{}{}", run.stdout, run.stderr);
    // Its columns count from after it.
    let run = check("bom_error.ntr", "\u{feff}begin { exitt(); }\n".as_bytes());
    std::fs::remove_dir_all(&dir).ok();
    assert!(run.status == 2 && run.stderr.contains("bom_error.ntr:1:9"), "{}", run.stderr);
}

/// Without privileges every command that reads or loads into the kernel says
/// what it needs, with exit 1, before trying anything.
#[test]
fn without_privileges_every_command_says_what_it_needs() {
    // A copy any user may run (the target directory may not be reachable).
    let dir = std::env::temp_dir().join(format!("ntr-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("ntr");
    std::fs::copy(env!("CARGO_BIN_EXE_ntr"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let commands: [&[&str]; 6] = [
        &["-e", "on kfree_skb { @n = count(); }"],
        &["run", "dropwatch"],
        &["check", "dropwatch"],
        &["list", "kfree*"],
        &["info", "kfree_skb"],
        &["repl"],
    ];
    for args in commands {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("setpriv (util-linux)");
        let run = Run::from(out);
        assert_eq!(run.status, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("ntr needs root, or CAP_BPF and CAP_PERFMON") && run.stderr.contains("no capabilities"),
            "{args:?}: {}",
            run.stderr
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// bpftrace's flags get the ntr spelling, with exit 2, before anything runs.
#[test]
fn bpftrace_flags_are_answered_with_the_ntr_spelling() {
    let cases: &[(&[&str], &str)] = &[
        (&["-l", "tracepoint:skb:*"], "ntr list 'tracepoint:skb:*'"),
        (&["-f", "json", "-e", "begin { exit(); }"], "--json"),
        (&["run", "dropwatch", "-f", "json"], "--json"),
        (&["-o", "out.txt", "-e", "begin { exit(); }"], "redirect it"),
        (&["-p", "1234", "-e", "begin { exit(); }"], "--pid 1234"),
    ];
    for (args, expect) in cases {
        let run = Run::from(ntr().args(*args).output().unwrap());
        assert_eq!(run.status, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "{args:?}: no {expect:?} in {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?} ran: {}", run.stdout);
    }
}
