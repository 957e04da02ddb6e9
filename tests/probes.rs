//! Probe kinds beyond tracepoints: uprobes and uretprobes on a binary the
//! test builds and on libc, sampling with symbolized stacks, raw
//! tracepoints, and the kernel-function probes this kernel refuses.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn run_target(bin: &Path, args: &[&str]) {
    let ok = Command::new(bin).args(args).stdout(std::process::Stdio::null()).status().unwrap();
    assert!(ok.success());
}

#[test]
fn uprobes_count_calls_and_read_arguments_and_return_values() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    let b = bin.display();
    let script = format!(
        "on uprobe:{b}:ntr_target {{ @calls = count(); @x[arg0] = count(); @word[str(arg1)] = count(); }}
         on uretprobe:{b}:ntr_target {{ @ret = sum(retval); }}"
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || run_target(&bin, &["7"]));
    run.ok();
    let out = &run.stdout;
    assert_eq!(row_value(out, &["@calls:"]), Some(7), "{out}");
    for x in 40..47 {
        assert_eq!(row_value(out, &[&format!("@x[{x}]:")]), Some(1), "{out}");
    }
    assert_eq!(row_value(out, &["@word[hello]:"]), Some(7), "{out}");
    // Each call returns 2x + 5.
    let expected: u64 = (40..47).map(|x| 2 * x + 5).sum();
    assert_eq!(row_value(out, &["@ret:"]), Some(expected), "{out}");
    assert_nothing_left();
}

/// `%r` text read back into bytes: `\xNN` is one byte, anything else itself.
fn unescape(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            out.push(u8::from_str_radix(&text[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn buf_reads_the_bytes_a_uprobe_was_passed() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    let b = bin.display();
    // A runtime length (12, within the capacity 16), a constant one, a
    // runtime one clamped to the capacity, and an unmapped address.
    let script = format!(
        "on uprobe:{b}:consume_buffer {{ printf(\"len=%d r=[%r] four=[%s] clamped=[%r]\\n\", arg1, buf(arg0, arg1, 16), buf(arg0, 4), buf(arg0, arg1, 5)); @seen[buf(arg0, arg1, 16)] = count(); }}"
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || run_target(&bin, &["bytes"]));
    run.ok();
    let out = &run.stdout;
    let field = |line: &str, name: &str| -> String {
        let start = line.find(&format!("{name}=[")).unwrap() + name.len() + 2;
        let end = start + line[start..].find(']').unwrap();
        line[start..end].to_string()
    };
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("len=")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    let first = lines.iter().find(|l| l.starts_with("len=12 ")).expect(out);
    assert_eq!(unescape(&field(first, "r")), programs::BYTES[..12], "{out}");
    assert_eq!(unescape(&field(first, "four")), programs::BYTES[..4], "{out}");
    assert_eq!(unescape(&field(first, "clamped")), programs::BYTES[..5], "{out}");
    // Every byte outside printable ASCII, and the backslash, is escaped.
    assert!(field(first, "r").starts_with("hi\\x00\\x01\\x7f\\xff\\x5c\"\\x0a ok"), "{out}");
    let unmapped = lines.iter().find(|l| l.starts_with("len=4 ")).expect(out);
    assert_eq!(field(unmapped, "r"), "(unreadable)", "{out}");
    // As a map key, in its natural form.
    assert!(out.contains(&format!("@seen[{}]: 1", field(first, "r"))), "{out}");

    // JSON: the bytes as a hex string, `null` when unreadable.
    let script = format!("on uprobe:{b}:consume_buffer {{ print(arg1, buf(arg0, arg1, 16)); }}");
    let run = run_with(&["-e", &script, "--json", "--duration", "60s"], || run_target(&bin, &["bytes"]));
    run.ok();
    let hex: String = programs::BYTES[..12].iter().map(|x| format!("{x:02x}")).collect();
    assert!(run.stdout.contains(&format!(r#"{{"type":"print","values":[12,"{hex}"]}}"#)), "{}", run.stdout);
    assert!(run.stdout.contains(r#"{"type":"print","values":[4,null]}"#), "{}", run.stdout);

    // The same user memory as kernel structs with byte arrays: a list, an
    // IPv4 address (`u8[4]`) and IPv6 addresses (`in6_addr`, `u8[16]`).
    let script = format!(
        "on uprobe:{b}:consume_buffer if arg1 == 12 {{ let a = (struct boot_params *)(arg0 - 84); let six = (struct in6_addr *)arg0; print(a._pad2, ntop(a._pad2), ntop(six), ntop(six.in6_u.u6_addr8)); print(six.in6_u.u6_addr32); }}"
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || run_target(&bin, &["bytes"]));
    run.ok();
    // boot_params (x86's, always in its BTF) has `__u8 _pad2[4]` at byte 84.
    let ip_src = &programs::BYTES[..4];
    let list = format!("[{}]", ip_src.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "));
    let v4 = std::net::Ipv4Addr::new(ip_src[0], ip_src[1], ip_src[2], ip_src[3]);
    let v6 = std::net::Ipv6Addr::from(programs::BYTES);
    assert!(run.stdout.contains(&format!("{list} {v4} {v6} {v6}\n")), "{}", run.stdout);
    let words: Vec<String> = programs::BYTES.chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()).to_string()).collect();
    assert!(run.stdout.contains(&format!("[{}]\n", words.join(", "))), "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn a_uprobe_on_libc_resolved_by_name() {
    let _k = kernel_lock();
    let script = "on uprobe:libc:getaddrinfo { @lookups[str(arg0)] = count(); }";
    let run = run_with(&["-e", script, "--duration", "60s"], || {
        for _ in 0..3 {
            let ok = Command::new("python3").args(["-c", "import socket; socket.getaddrinfo('localhost', 80)"]).status().unwrap();
            assert!(ok.success());
        }
    });
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@lookups[localhost]:"]), Some(3), "{}", run.stdout);
    // `ntr check` says which file `libc` is: the one this test process maps.
    let path = std::env::temp_dir().join(format!("ntr-libc-{}.ntr", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let check = Run::from(ntr().args(["check", path.to_str().unwrap()]).output().unwrap());
    std::fs::remove_file(&path).ok();
    check.ok();
    let shown = check.stdout.lines().find_map(|l| l.trim().strip_prefix("libc: ")).unwrap_or_else(|| panic!("{}", check.stdout));
    let (file, from) = shown.split_once(" (from ").unwrap();
    assert_eq!(from, "/etc/ld.so.cache)");
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mapped = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.contains("/libc.so")).expect("this process maps libc");
    assert_eq!(std::fs::canonicalize(file).unwrap(), std::fs::canonicalize(mapped).unwrap(), "{shown}");
    assert_nothing_left();
}

#[test]
fn pid_limits_uprobes_to_one_process() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    // A process that waits until ntr is attached, then calls ntr_target 4 times.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("read go; exec {} 4", bin.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let script = format!("on uprobe:{}:ntr_target {{ @calls = count(); }}", bin.display());
    let mut go = child.stdin.take().unwrap();
    let run = run_with(&["-e", &script, "--pid", &pid, "--duration", "60s"], || {
        run_target(&bin, &["3"]);
        use std::io::Write;
        go.write_all(b"go\n").unwrap();
        drop(go);
        child.wait().unwrap();
    });
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@calls:"]), Some(4), "only the chosen process: {}", run.stdout);
    assert_nothing_left();
}

/// `ntr check` of a uprobe that cannot attach: exit 2, the probe
/// underlined, and every one of `expect` in the message.
fn refused_at_check(probe: &str, expect: &[&str]) {
    let dir = std::env::temp_dir().join(format!("ntr-uprobe-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("probe.ntr");
    std::fs::write(&script, format!("on {probe} {{ @calls = count(); }}\n")).unwrap();
    let run = Run::from(ntr().args(["check", script.to_str().unwrap()]).output().unwrap());
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(run.status, 2, "{probe}: {}", run.stderr);
    assert!(run.stderr.contains("probe.ntr:1:4") && run.stderr.contains(&"^".repeat(probe.len())), "{probe}: located: {}", run.stderr);
    for e in expect {
        assert!(run.stderr.contains(e), "{probe}: missing {e:?} in:\n{}", run.stderr);
    }
}

#[test]
fn uprobes_that_cannot_attach_are_refused_at_check_with_the_reason() {
    let bin = programs::probe_target();
    let b = bin.display().to_string();
    let stripped = programs::stripped_probe_target().display().to_string();
    refused_at_check(
        &format!("uprobe:{b}:ntr_targte"),
        &[&format!("no function `ntr_targte` in `{b}`"), "looked in .dynsym and .symtab", "did you mean `ntr_target`?"],
    );
    refused_at_check(
        &format!("uprobe:{stripped}:ntr_target"),
        &[&format!("no function `ntr_target` in `{stripped}`"), "looked in .dynsym; the file has no .symtab (stripped)", "probe an unstripped build"],
    );
    refused_at_check(
        &format!("uprobe:{b}:strlen"),
        &["no function `strlen`", "`strlen` is only imported by this file", &format!("`ldd {b}` lists them")],
    );
    // ntr_target is a few instructions long, far from 0x10000.
    refused_at_check(
        &format!("uprobe:{b}:ntr_target+0x10000"),
        &[&format!("offset 0x10000 is past the end of `ntr_target` in `{b}`, which is "), "outside the function"],
    );
    // ntr_insns: `mov $0x12345678, %eax` (5 bytes), `nop`, `ret`. A
    // breakpoint inside the mov would corrupt it.
    refused_at_check(
        &format!("uprobe:{b}:ntr_insns+0x2"),
        &[
            &format!("offset 0x2 is inside an instruction of `ntr_insns` in `{b}`"),
            "instructions of `ntr_insns` start at 0x0 and 0x5",
            "e.g. `ntr_insns+0x0`",
        ],
    );
    for at in ["0x5", "0x6"] {
        let path = std::env::temp_dir().join(format!("ntr-insn-start-{}-{at}.ntr", std::process::id()));
        std::fs::write(&path, format!("on uprobe:{b}:ntr_insns+{at} {{ @n = count(); }}")).unwrap();
        Run::from(ntr().arg("check").arg(&path).output().unwrap()).ok();
        std::fs::remove_file(&path).ok();
    }
    let dir = std::env::temp_dir().join(format!("ntr-not-elf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (script, text) = (dir.join("tool.sh"), dir.join("notes.txt"));
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(&text, "not a program\n").unwrap();
    refused_at_check(
        &format!("uprobe:{}:main", script.display()),
        &[&format!("`{}` is not an ELF file: it is a script run by `/bin/sh`", script.display()), "interpreter"],
    );
    refused_at_check(
        &format!("uprobe:{}:main", text.display()),
        &["is not an ELF file: it does not start with the ELF magic number", "executables and shared libraries"],
    );
    std::fs::remove_dir_all(&dir).ok();
    refused_at_check("uprobe:libc:ntr_no_such_function", &["no function `ntr_no_such_function` in `/", "libc.so", "looked in .dynsym"]);
    refused_at_check("uprobe:libntr_no_such_library:f", &["no library `libntr_no_such_library`", "/etc/ld.so.cache", "give the path"]);
}

#[test]
fn a_uprobe_the_kernel_refuses_names_the_file_the_function_and_the_errno() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    // ntr_unsized has no size, so the check cannot know the offset is past
    // the end of the file; the kernel refuses it.
    let script = format!("on uprobe:{}:ntr_unsized+0x10000000 {{ @calls = count(); }}", bin.display());
    let run = Run::from(ntr().args(["-e", &script, "--duration", "10s"]).output().unwrap());
    assert_eq!(run.status, 1, "{}", run.stderr);
    let expect =
        format!("the kernel refused a uprobe on `ntr_unsized+0x10000000` in `{}` (perf_event_open): EINVAL (Invalid argument)", bin.display());
    assert!(run.stderr.contains(&expect), "{}", run.stderr);
    assert!(run.stderr.contains("<program>:1:4") && run.stderr.contains("the offset must fall inside the file"), "{}", run.stderr);
    assert_nothing_left();
}

#[test]
fn profile_samples_every_cpu_with_kernel_and_user_frames() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let script = "on profile:99hz { @cpus[cpu] = count(); @k[kstack] = count(); } on profile:99hz if comm == \"ntr_probe_targe\" { @stacks[ustack] = count(); }";
    let run = run_with(&["-e", script, "--duration", "60s"], || {
        // One busy process per CPU, so every CPU has something to sample.
        let spinners: Vec<_> =
            (0..cpus).map(|c| Command::new("taskset").args(["-c", &c.to_string()]).arg(&bin).args(["spin", "2"]).spawn().unwrap()).collect();
        for mut s in spinners {
            s.wait().unwrap();
        }
    });
    run.ok();
    let out = &run.stdout;
    for c in 0..cpus {
        let n = row_value(out, &[&format!("@cpus[{c}]:")]).unwrap_or(0);
        assert!(n >= 20, "cpu {c} sampled {n} times:\n{out}");
    }
    assert!(out.contains("    ntr_spin+0x") && out.contains("(ntr_probe_target)"), "user frames symbolized:\n{out}");
    // Kernel frames: `function+0xoff`, with no binary after them.
    let kernel = out
        .split("@k[")
        .skip(1)
        .flat_map(|row| row.lines().skip(1).take_while(|l| l.starts_with("    ")))
        .any(|f| f.contains("+0x") && !f.contains(" ("));
    assert!(kernel, "kernel frames symbolized:\n{out}");
    assert_nothing_left();
}

/// The byte offset of `field` in `struct NAME`, as `ntr info struct` shows it.
fn field_offset(name: &str, field: &str) -> u32 {
    let run = Run::from(ntr().args(["info", "struct", name]).output().unwrap());
    run.ok();
    run.stdout
        .lines()
        .find_map(|l| {
            let (off, rest) = l.trim_start().split_once("  ")?;
            rest.starts_with(&format!("{field}: ")).then(|| off.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no {field} in struct {name}:\n{}", run.stdout))
}

const FUNCTION_PROBES: &str = "on fentry:ip_forward { @len = sum(skb.len); }
on fexit:ip_forward { @ret[retval] = count(); }
on kprobe:ip_forward { @a[arg0] = count(); }
on kretprobe:ip_forward { @r[retval] = count(); }
on ip_forward { @bare = count(); }
";

/// This kernel cannot load kernel-function probes, but ntr compiles them
/// for kernels that can: check the object as aya will read it, and the
/// argument reads against BTF and pt_regs offsets.
#[test]
fn kernel_function_probes_compile_to_the_right_programs() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (src, obj) = (dir.join("fn_probes.ntr"), dir.join("fn_probes.o"));
    std::fs::write(&src, FUNCTION_PROBES).unwrap();
    let run = Run::from(ntr().arg("compile").arg(&src).arg("-o").arg(&obj).output().unwrap());
    run.ok();
    let elf = std::fs::read(&obj).unwrap();
    let parsed = aya_obj::Object::parse(&elf).expect("aya reads the object");
    let kind =
        |name: &str| format!("{:?}", parsed.programs.get(name).unwrap_or_else(|| panic!("no program {name}: {:?}", parsed.programs.keys())).section);
    assert!(kind("ntr_p0_fentry_ip_forward").starts_with("FEntry"));
    assert!(kind("ntr_p1_fexit_ip_forward").starts_with("FExit"));
    assert_eq!(kind("ntr_p2_kprobe_ip_forward"), "KProbe");
    assert_eq!(kind("ntr_p3_kretprobe_ip_forward"), "KRetProbe");
    // A bare function name takes the best method a kernel may offer.
    assert!(kind("ntr_p4_fentry_ip_forward").starts_with("FEntry"));

    let run = Run::from(ntr().arg("compile").arg(&src).arg("--dump").output().unwrap());
    run.ok();
    let section = |title: &str| -> String {
        let start = run.stdout.find(title).unwrap_or_else(|| panic!("{title}:\n{}", run.stdout));
        let rest = &run.stdout[start + title.len()..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
    };
    // fentry: the argument is the first context slot, a typed pointer read directly.
    let len = field_offset("sk_buff", "len");
    let fentry = section("(ntr_p0_fentry_ip_forward, section fentry/ip_forward)");
    assert!(fentry.contains("= *(u64 *)(r1 +0)") && fentry.contains(&format!("= *(u32 *)(r1 +{len})")), "{fentry}");
    // fexit: the return value follows the one argument; ip_forward returns an
    // int, so only the slot's low 32 bits count, sign-extended.
    let fexit = section("section fexit/ip_forward)");
    assert!(fexit.contains("= *(u64 *)(r1 +8)") && fexit.contains("<<= 32") && fexit.contains("s>>= 32"), "{fexit}");
    // kprobe: arg0 is pt_regs->di; kretprobe: retval is pt_regs->ax.
    assert!(section("section kprobe/ip_forward)").contains("= *(u64 *)(r1 +112)"));
    // ip_forward returns an int: the low 32 bits of the return register.
    assert!(section("section kretprobe/ip_forward)").contains("= *(u32 *)(r1 +80)"));
}

/// Opens `path` `n` times from this thread (each fails: the file does not exist).
fn open_missing(path: &str, n: usize) {
    for _ in 0..n {
        assert!(std::fs::File::open(path).is_err());
    }
}

/// kprobes where the kernel has the kprobe PMU, fentry where the kernel loads
/// a tracing program; elsewhere each form is refused with the reason and an
/// alternative. The counts and values are the opens this test made.
#[test]
fn kernel_function_probes_count_calls_where_the_kernel_allows_and_are_refused_elsewhere() {
    let _k = kernel_lock();
    let (kprobes, fentry) = (kernel::has_kprobes(), kernel::fentry_loads());
    let missing = format!("/tmp/ntr-missing-{}", std::process::id());
    let tid = unsafe { libc::gettid() };
    for (probe, allowed) in [("kprobe:do_sys_openat2", kprobes), ("fentry:do_sys_openat2", fentry), ("do_sys_openat2", kprobes || fentry)] {
        let script = format!("on {probe} if tid == {tid} {{ @n = count(); }}");
        if !allowed {
            let run = Run::from(ntr().args(["-e", &script]).output().unwrap());
            assert_eq!(run.status, 2, "{probe}: {}", run.stderr);
            let err = &run.stderr;
            assert!(err.contains("error:") && err.contains("<program>:1:4"), "{probe}: {err}");
            assert!(err.contains("kprobes") || err.contains("fentry"), "says what is missing: {err}");
            assert!(err.contains("help: use a tracepoint"), "suggests an alternative: {err}");
            continue;
        }
        let run = run_with(&["-e", &script, "--duration", "60s"], || open_missing(&missing, 5));
        run.ok();
        assert_eq!(row_value(&run.stdout, &["@n:"]), Some(5), "{probe}:\n{}", run.stdout);
    }
    if kprobes {
        // Arguments from the BTF prototype, `retval` from the return register.
        let script = format!(
            "on kprobe:do_sys_openat2 if tid == {tid} {{ @k[str(filename)] = count(); }}
             on kretprobe:do_sys_openat2 if tid == {tid} {{ @r[(s64)retval] = count(); }}"
        );
        let run = run_with(&["-e", &script, "--duration", "60s"], || open_missing(&missing, 3));
        run.ok();
        assert_eq!(row_value(&run.stdout, &[&format!("@k[{missing}]:")]), Some(3), "{}", run.stdout);
        assert_eq!(row_value(&run.stdout, &["@r[-2]:"]), Some(3), "ENOENT: {}", run.stdout);
        // `+OFF`: the return address of do_sys_openat2's call to
        // do_filp_open, read from a stack, is an instruction boundary that
        // every open passes.
        let script = format!("on kprobe:do_filp_open if tid == {tid} {{ @s[kstack(2)] = count(); }}");
        let run = run_with(&["-e", &script, "--duration", "60s"], || open_missing(&missing, 1));
        run.ok();
        let at = run.stdout.lines().map(str::trim).find(|l| l.starts_with("do_sys_openat2+0x")).unwrap_or_else(|| panic!("{}", run.stdout));
        let script = format!("on kprobe:{at} if tid == {tid} {{ @n = count(); }}");
        let run = run_with(&["-e", &script, "--duration", "60s"], || open_missing(&missing, 4));
        run.ok();
        assert_eq!(row_value(&run.stdout, &["@n:"]), Some(4), "{at}: {}", run.stdout);
    }
    if fentry {
        // Typed arguments through BTF (`how` is a struct open_how *) and the
        // typed return value.
        let script = format!(
            "on fentry:do_sys_openat2 if tid == {tid} {{ @f[str(filename), how.flags & 3] = count(); }}
             on fexit:do_sys_openat2 if tid == {tid} {{ @x[retval] = count(); }}"
        );
        let run = run_with(&["-e", &script, "--duration", "60s"], || open_missing(&missing, 3));
        run.ok();
        assert_eq!(row_value(&run.stdout, &[&format!("@f[{missing}, 0]:")]), Some(3), "O_RDONLY: {}", run.stdout);
        assert_eq!(row_value(&run.stdout, &["@x[-2]:"]), Some(3), "ENOENT: {}", run.stdout);
    }
    assert_nothing_left();
}

#[test]
fn sampled_stacks_become_folded_lines_and_a_flame_graph() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (folded, svg) = (dir.join("cpu.folded"), dir.join("cpu.svg"));
    let script = "on profile:99hz if comm == \"ntr_probe_targe\" { @[kstack, ustack] = count(); }";
    let args = ["-e", script, "--duration", "60s", "--folded", folded.to_str().unwrap(), "--flamegraph", svg.to_str().unwrap()];
    let run = run_with(&args, || run_target(&bin, &["spin", "2"]));
    run.ok();
    let lines = std::fs::read_to_string(&folded).unwrap();
    let spin: u64 =
        lines.lines().filter(|l| l.contains(";ntr_spin (ntr_probe_target)")).map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap()).sum();
    assert!(spin >= 50, "about 99 samples a second land in ntr_spin:\n{lines}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<?xml") && text.contains("ntr_spin (ntr_probe_target)"), "{}", &text[..text.len().min(500)]);
    let xml = Command::new("python3").args(["-c", "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])"]).arg(&svg).status().unwrap();
    assert!(xml.success(), "the SVG is well-formed XML");
    assert_nothing_left();
}

/// A sample's first frame is the function that was running: `dd` reading
/// /dev/zero is sampled in `read_zero` (which clears the user's buffer), the
/// callee of `vfs_read` in every full stack that goes through both.
#[test]
fn profile_stacks_start_at_the_sampled_function() {
    let _k = kernel_lock();
    let script = r#"on profile:99hz if comm == "dd" { @leaf[kstack(1)] = count(); @full[kstack] = count(); }"#;
    let run = run_with(&["-e", script, "--duration", "60s"], || {
        let mut dd = Command::new("dd").args(["if=/dev/zero", "of=/dev/null", "bs=1M"]).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(3));
        assert!(dd.try_wait().unwrap().is_none(), "dd ran the whole time");
        dd.kill().unwrap();
        dd.wait().unwrap();
    });
    run.ok();
    let full = stack_rows(&run.stdout, "@full");
    let (mut below_vfs_read, mut in_read_zero) = (0, 0);
    for (frames, n) in &full {
        if let Some(i) = frames.iter().position(|f| f.starts_with("vfs_read+0x")) {
            below_vfs_read += n;
            if i > 0 && frames[i - 1].starts_with("read_zero+0x") {
                in_read_zero += n;
            }
        }
    }
    assert!(below_vfs_read >= 20 && in_read_zero * 2 > below_vfs_read, "dd's reads are in read_zero:\n{}", run.stdout);
    // The sampled function is below vfs_read: read_zero on 6.18, the
    // clear_user it calls on 6.1; vfs_read itself is rarely on top.
    let leaf = stack_rows(&run.stdout, "@leaf");
    let count = |name: &str| leaf.iter().filter(|(f, _)| f.len() == 1 && f[0].starts_with(name)).map(|r| r.1).sum::<u64>();
    let total: u64 = leaf.iter().map(|r| r.1).sum();
    assert!(total >= 20 && count("vfs_read+0x") * 10 < total, "{}", run.stdout);
    for (frames, _) in &leaf {
        assert!(full.iter().any(|(f, _)| f.first() == frames.first()), "{frames:?} is the first frame of a full stack: {}", run.stdout);
    }
    assert_nothing_left();
}

/// A wildcard is every probe it matches, each its own program: `probe` and
/// `func` name the one that fired, and the counts are the calls the
/// programs made (a test program run with `-c` calling getppid 7 times and
/// getpgid never; another's functions).
#[test]
fn wildcards_attach_every_match_and_func_names_each() {
    let _k = kernel_lock();
    let command = format!("{} getppid 7", programs::toolbox_helper().display());
    let script = "on syscalls:sys_enter_getp[gp]id if builtin.pid == cpid { @[probe, builtin.func] = count(); }";
    let run = Run::from(ntr().args(["-c", &command, "--duration", "60s", "-e", script]).output().unwrap());
    run.ok();
    let out = &run.stdout;
    assert!(run.stderr.contains("Attached 2 probes"), "{}", run.stderr);
    assert_eq!(row_value(out, &["@[tracepoint:syscalls:sys_enter_getppid, sys_enter_getppid]:"]), Some(7), "{out}");
    assert!(!out.contains("getpgid"), "{out}");
    // uprobes: `ntr_[st]*` is ntr_spin and ntr_target; only ntr_target runs.
    let bin = programs::probe_target();
    let b = bin.display();
    let script = format!("on uprobe:{b}:ntr_[st]* {{ @[func] = count(); }}");
    let path = std::env::temp_dir().join(format!("ntr-wildcard-{}.ntr", std::process::id()));
    std::fs::write(&path, &script).unwrap();
    let check = Run::from(ntr().args(["check", path.to_str().unwrap()]).output().unwrap());
    std::fs::remove_file(&path).ok();
    assert!(check.stdout.contains(&format!("2 probes (uprobe:{b}:ntr_spin, uprobe:{b}:ntr_target)")), "{}{}", check.stdout, check.stderr);
    let run = run_with(&["-e", &script, "--duration", "60s"], || run_target(&bin, &["5"]));
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@[ntr_target]:"]), Some(5), "{}", run.stdout);
    assert!(!run.stdout.contains("ntr_spin"), "{}", run.stdout);
    assert_nothing_left();
}

/// `stats(e)`: the count, average and total of the values a program passed
/// (`ntr_target(40 + i, …)` for i < 7: 7 calls, 301 in all, 43 on average),
/// as text and as JSON.
#[test]
fn stats_are_the_count_average_and_total_of_the_values() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    let script = format!("on uprobe:{}:ntr_target {{ @s[str(arg1)] = stats(arg0); }}", bin.display());
    let command = format!("{} 7", bin.display());
    let run = Run::from(ntr().args(["-c", &command, "--duration", "60s", "-e", &script]).output().unwrap());
    run.ok();
    assert!(run.stdout.contains("@s[hello]: count 7, average 43, total 301\n"), "{}", run.stdout);
    let run = Run::from(ntr().args(["--json", "-c", &command, "--duration", "60s", "-e", &script]).output().unwrap());
    run.ok();
    // The command's own lines share ntr's stdout.
    let records = run.stdout.lines().filter(|l| l.starts_with('{'));
    let row: serde_json::Value = records.map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|v| v["type"] == "map").unwrap();
    assert_eq!(row["value"], serde_json::json!({"count": 7, "average": 43, "total": 301}), "{row}");
    assert_nothing_left();
}

/// `tracefs:` reads a tracepoint's record fields, `__data_loc` strings
/// included, where the tp_btf form has the tracepoint's own arguments: the
/// 5 datagrams of 100 bytes a python process sends in its own namespace
/// leave on `lo` as 142 bytes each (100 + UDP 8 + IP 20 + Ethernet 14).
#[test]
fn tracefs_probes_read_the_record_fields() {
    let _k = kernel_lock();
    let ns = common::topology::Netns::new("ntrtfs");
    // `ip netns exec` execs python in the same process: cpid is its pid.
    let command = format!(
        r#"ip netns exec {} python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(b'x' * 100, ('127.0.0.1', 47311)) for _ in range(5)]""#,
        ns.name
    );
    let script = "on tracefs:net:net_dev_xmit if pid == cpid && len == 142 { @[name, len, rc] = count(); }";
    let run = Run::from(ntr().args(["-c", &command, "--duration", "60s", "-e", script]).output().unwrap());
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@[lo, 142, 0]:"]), Some(5), "{}{}", run.stdout, run.stderr);
    assert_nothing_left();
}

/// `usym(addr)`: a function pointer a program passes (`qsort`'s comparator,
/// `cmp_ints` of the test program) named in that program's symbols.
#[test]
fn usym_names_a_user_address_in_its_process() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    let command = format!("{} sort", bin.display());
    let script = r#"on uprobe:libc:qsort if pid == cpid { printf("%s\n", usym(arg3)); @[usym(arg3)] = count(); }"#;
    let run = Run::from(ntr().args(["-c", &command, "--duration", "60s", "-e", script]).output().unwrap());
    run.ok();
    let name = format!("cmp_ints+0x0 ({})", bin.file_name().unwrap().to_string_lossy());
    assert_eq!(run.stdout.lines().next(), Some(name.as_str()), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("@[{name}]: 1\n")), "{}", run.stdout);
    // Printed after the process is gone: what is known, and why no more.
    let script = r#"on uprobe:libc:qsort if pid == cpid { @[usym(arg3)] = count(); }"#;
    let run = Run::from(ntr().args(["-c", &command, "--duration", "60s", "-e", script]).output().unwrap());
    run.ok();
    assert!(run.stdout.contains(&format!("@[{name}]: 1\n")), "a map keeps the process's mappings while it runs: {}", run.stdout);
    assert_nothing_left();
}

/// `uaddr("sym")` in a uprobe: symbols of the probed file where the process
/// has them (this PIE program loads anywhere), named back by `usym` as the
/// symbols the test program defines.
#[test]
fn uaddr_places_the_probed_file_s_symbols() {
    let _k = kernel_lock();
    let bin = programs::probe_target();
    let file = bin.file_name().unwrap().to_string_lossy().into_owned();
    let command = format!("{} sort", bin.display());
    let script = format!(
        r#"on uprobe:{}:cmp_ints {{ printf("%s|%s|%s\n", usym(uaddr("ntr_target")), usym(uaddr("ntr_spin")), usym(uaddr("main"))); exit(); }}"#,
        bin.display()
    );
    let run = Run::from(ntr().args(["-c", &command, "--duration", "60s", "-e", &script]).output().unwrap());
    run.ok();
    let expected = format!("ntr_target+0x0 ({file})|ntr_spin+0x0 ({file})|main+0x0 ({file})");
    assert_eq!(run.stdout.lines().next(), Some(expected.as_str()), "{}{}", run.stdout, run.stderr);
    assert_nothing_left();
}
