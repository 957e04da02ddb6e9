//! End-to-end tests of the core language on this kernel: scripts run by the
//! real `ntr` binary while real packets are dropped on loopback.

mod common;

use common::*;
use std::time::{Duration, Instant};

// Each test sends to a closed UDP port of its own (nothing listens there)
// and its probes match only that port, so drops of other traffic on the
// machine (a flood to another closed port, other tests) are never counted.

#[test]
fn counts_drops_by_site_and_reason() {
    let _k = kernel_lock();
    let (port, sent) = (39_421, 300);
    let script = format!("on kfree_skb if tuple(dport={port}) {{ @drops[sym(location), reason] = count(); }}");
    let run = run_with(&["-e", &script, "--duration", "60s"], || udp_to_closed_port(port, sent, 32));
    run.ok();
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("@drops[") && l.contains("NO_SOCKET") && l.contains("udp"))
        .unwrap_or_else(|| panic!("no NO_SOCKET row from a udp function:\n{}", run.stdout));
    // The site is a symbol name with an offset, not a raw address.
    let site = row.trim_start_matches("@drops[").split(',').next().unwrap();
    assert!(site.contains("+0x") && !site.starts_with("0x"), "site is not a symbol: {row}");
    let count: u64 = row.rsplit(':').next().unwrap().trim().parse().unwrap();
    assert_eq!(count, sent as u64, "counted {count} drops for {sent} datagrams: {row}");
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("@drops[")).count(), 1, "one site and reason: {}", run.stdout);
    assert_nothing_left();
}

#[test]
fn ipv6_addresses_of_a_socket_read_as_addresses_and_byte_lists() {
    use std::net::{IpAddr, Ipv6Addr, TcpListener, TcpStream};
    let _k = kernel_lock();
    let port = 47_201;
    // Each client socket as it connects: its peer through `in6_addr`, the
    // same bytes as a `u8[16]` list, its own address from a `u32[4]`.
    let script = format!(
        "on tracepoint:sock:inet_sock_set_state if newstate == 1 && sk.__sk_common.skc_dport == htons({port}) {{
           print(ntop(sk.__sk_common.skc_v6_daddr), sk.__sk_common.skc_v6_daddr.in6_u.u6_addr8, ntop(sk.__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32));
         }}"
    );
    let listener = TcpListener::bind(("::", port)).unwrap();
    let peers: [Ipv6Addr; 2] = [Ipv6Addr::LOCALHOST, "::ffff:127.0.0.1".parse().unwrap()];
    let mut locals = Vec::new();
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        for peer in peers {
            let c = TcpStream::connect((peer, port)).unwrap();
            let _ = listener.accept().unwrap();
            locals.push(c.local_addr().unwrap().ip());
        }
    });
    run.ok();
    for (peer, local) in peers.iter().zip(&locals) {
        let IpAddr::V6(local) = local else { panic!("{local} is not IPv6") };
        let bytes: Vec<String> = peer.octets().iter().map(|b| b.to_string()).collect();
        let line = format!("{peer} [{}] {local}", bytes.join(", "));
        assert!(run.stdout.lines().any(|l| l == line), "no line {line:?} in:\n{}", run.stdout);
    }
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn cat_prints_a_file_as_the_event_is_printed_and_says_why_it_cannot() {
    let _k = kernel_lock();
    let dir = std::env::temp_dir().join(format!("ntr-cat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    std::fs::write(dir.join("known"), "first line\n\tsecond \x1b[31m line").unwrap();
    // Past the 64 KiB that one cat prints.
    let big: String = (0..10_000).map(|i| format!("{i:07}\n")).collect();
    std::fs::write(dir.join("big"), &big).unwrap();
    let script = format!("begin {{ cat(\"{d}/%s\", \"known\"); printf(\"--\\n\"); cat(\"{d}/missing-%d\", 7); cat(\"{d}/big\"); exit(); }}");
    let run = run_until_it_ends(&["-e", &script, "--duration", "60s"], || {});
    run.ok();
    // The control character escaped, newlines and tabs kept, a newline added.
    let known = "first line\n\tsecond \\x1b[31m line\n--\n";
    assert!(run.stdout.starts_with(known), "{}", run.stdout);
    let rest = &run.stdout[known.len()..];
    let missing = format!("cat: {d}/missing-7: ENOENT (No such file or directory)\n");
    assert!(rest.starts_with(&missing), "{}", run.stdout);
    let shown = &rest[missing.len()..];
    assert_eq!(shown, format!("{}cat: {d}/big: only its first 65536 bytes shown\n", &big[..65536]));

    // JSON: the text and whether there was more, or the error.
    let run = run_until_it_ends(&["-e", &script, "--json", "--duration", "60s"], || {});
    run.ok();
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cats: Vec<&serde_json::Value> = lines.iter().filter(|v| v["type"] == "cat").collect();
    assert_eq!(cats.len(), 3, "{}", run.stdout);
    assert_eq!(cats[0]["text"], "first line\n\tsecond \x1b[31m line", "{}", run.stdout);
    assert_eq!(cats[0]["truncated"], false);
    assert_eq!(cats[1]["error"], "ENOENT (No such file or directory)", "{}", run.stdout);
    assert_eq!(cats[1]["path"], format!("{d}/missing-7"));
    assert_eq!((cats[2]["text"].as_str(), &cats[2]["truncated"]), (Some(&big[..65536]), &serde_json::json!(true)));
    std::fs::remove_dir_all(&dir).ok();
    assert_nothing_left();
}

#[test]
fn stack_then_exit() {
    let _k = kernel_lock();
    let started = Instant::now();
    let port = 39_422;
    let script = format!("on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) {{ stack(); exit(); }}");
    let run = run_until_it_ends(&["-e", &script, "--duration", "20s"], || udp_to_closed_port(port, 5, 16));
    run.ok();
    assert!(started.elapsed() < Duration::from_secs(15), "exit() did not stop the run");
    let frames: Vec<&str> = run.stdout.lines().map(str::trim).filter(|l| l.contains("+0x")).collect();
    assert!(frames.len() >= 4, "expected a symbolized stack:\n{}", run.stdout);
    for f in &frames {
        let (func, off) = f.split_once("+0x").unwrap();
        assert!(!func.is_empty() && !func.starts_with("0x"), "unsymbolized frame {f}");
        assert!(off.split_whitespace().next().unwrap().chars().all(|c| c.is_ascii_hexdigit()), "bad offset in {f}");
    }
    // Innermost first: the UDP receive function comes before the IP layer that called it.
    let pos = |name: &str| frames.iter().position(|f| f.starts_with(name));
    let udp = pos("__udp4_lib_rcv").unwrap_or_else(|| panic!("no __udp4_lib_rcv frame:\n{}", run.stdout));
    let ip = frames.iter().position(|f| f.starts_with("ip_local_deliver") || f.starts_with("ip_protocol_deliver_rcu")).expect("an IP frame");
    assert!(udp < ip, "stack is not innermost first:\n{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn field_access_through_btf_filters_large_packets() {
    let _k = kernel_lock();
    let port = 39_423;
    let script = format!(
        "on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) && skb.len > 1000 {{ @big = count(); }}
         on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) {{ @all = count(); }}"
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        udp_to_closed_port(port, 40, 1400);
        udp_to_closed_port(port, 60, 100);
    });
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@big:"]), Some(40), "{}", run.stdout);
    assert_eq!(row_value(&run.stdout, &["@all:"]), Some(100), "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn begin_printf_and_end() {
    let _k = kernel_lock();
    let script = r#"begin { printf("[%5d][%-4s][%x][%s]\n", 42, "ab", 255, "x"); }
                    end { printf("bye %d\n", 7); }"#;
    let run = Run::from(ntr().args(["-e", script, "--duration", "300ms"]).output().unwrap());
    run.ok();
    assert!(run.stdout.contains("[   42][ab  ][ff][x]"), "{}", run.stdout);
    let hello = run.stdout.find("[   42]").unwrap();
    let bye = run.stdout.find("bye 7").expect("end block ran");
    assert!(hello < bye, "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn begin_exit_stops_at_once() {
    let _k = kernel_lock();
    let started = Instant::now();
    let run = Run::from(ntr().args(["-e", "on kfree_skb { @c = count(); } begin { exit(); }", "--duration", "60s"]).output().unwrap());
    run.ok();
    // Far sooner than the duration, even on an emulated guest.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_nothing_left();
}

#[test]
fn every_fires_periodically() {
    let _k = kernel_lock();
    let run = Run::from(ntr().args(["-e", "every 200ms { @ticks = count(); }", "--duration", "1100ms"]).output().unwrap());
    run.ok();
    let ticks = row_value(&run.stdout, &["@ticks:"]).unwrap_or_else(|| panic!("{}", run.stdout));
    assert!((4..=6).contains(&ticks), "{ticks} ticks in 1.1s at 200ms:\n{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn hist_and_lhist_buckets() {
    let _k = kernel_lock();
    let port = 39_424;
    let script = format!("on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) {{ @h = hist(skb.len); @l = lhist(skb.len, 0, 2000, 500); }}");
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        udp_to_closed_port(port, 30, 100); // skb.len = 108 (UDP header + payload)
        udp_to_closed_port(port, 20, 1100); // 1108
    });
    run.ok();
    let bucket = |label: &str| -> Option<u64> {
        run.stdout.lines().find(|l| l.trim_start().starts_with(label)).and_then(|l| l[label.len()..].split_whitespace().next()?.parse().ok())
    };
    assert_eq!(bucket("[64, 128)"), Some(30), "{}", run.stdout);
    assert_eq!(bucket("[1K, 2K)"), Some(20), "{}", run.stdout);
    assert_eq!(bucket("[0, 500)"), Some(30), "{}", run.stdout);
    assert_eq!(bucket("[1000, 1500)"), Some(20), "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn print_top_n_then_clear() {
    let _k = kernel_lock();
    let port = 39_425;
    let script = format!(
        "on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) {{ @bysize[skb.len] = count(); }}
         end {{ print(@bysize, 2); clear(@bysize); }}"
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        udp_to_closed_port(port, 5, 10);
        udp_to_closed_port(port, 9, 20);
        udp_to_closed_port(port, 7, 30);
    });
    run.ok();
    let rows: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("@bysize[")).collect();
    assert_eq!(rows.len(), 2, "top 2 only, and nothing after clear:\n{}", run.stdout);
    assert!(rows.iter().any(|r| r.starts_with("@bysize[28]: 9")), "{}", run.stdout);
    assert!(rows.iter().any(|r| r.starts_with("@bysize[38]: 7")), "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn params_and_fns() {
    let _k = kernel_lock();
    let script = "param min: u32 = 0
                  param port: u16 = 0
                  fn big(n) { return n > min; }
                  on kfree_skb if reason == NO_SOCKET && tuple(dport=port) && big(skb.len) { @n = count(); }";
    let run = run_with(&["-e", script, "-p", "min=500", "-p", "port=39426", "--duration", "60s"], || {
        udp_to_closed_port(39_426, 12, 900);
        udp_to_closed_port(39_426, 30, 50);
    });
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@n:"]), Some(12), "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn use_a_module_file() {
    let _k = kernel_lock();
    let dir = std::env::temp_dir().join(format!("ntr-use-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sizes.ntr"), "fn bucket(n) { if n > 500 { return 1; } return 0; }\n").unwrap();
    std::fs::write(
        dir.join("main.ntr"),
        "use \"sizes.ntr\"\non kfree_skb if reason == NO_SOCKET && tuple(dport=39427) { @b[bucket(skb.len)] = count(); }\n",
    )
    .unwrap();
    let main = dir.join("main.ntr");
    let run = run_with(&["run", main.to_str().unwrap(), "--duration", "60s"], || {
        udp_to_closed_port(39_427, 6, 800);
        udp_to_closed_port(39_427, 4, 80);
    });
    std::fs::remove_dir_all(&dir).ok();
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@b[1]:"]), Some(6), "{}", run.stdout);
    assert_eq!(row_value(&run.stdout, &["@b[0]:"]), Some(4), "{}", run.stdout);
    assert_nothing_left();
}

fn signal_stops_and_prints(sig: i32, port: u16) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let script = format!(r#"on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) {{ @c = count(); }} end {{ printf("end ran\n"); }}"#);
    let mut child = ntr().args(["-e", &script]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("Attached") {}
    udp_to_closed_port(port, 8, 10);
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, sig) };
    let mut rest = String::new();
    err.read_to_string(&mut rest).ok();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "signal {sig}: {stdout}\n{line}{rest}");
    assert_eq!(row_value(&stdout, &["@c:"]), Some(8), "maps printed on signal {sig}:\n{stdout}");
    assert!(stdout.contains("end ran\n"), "`end` ran on signal {sig}:\n{stdout}");
    assert_nothing_left();
}

#[test]
fn sigint_prints_maps_and_detaches() {
    let _k = kernel_lock();
    signal_stops_and_prints(libc::SIGINT, 39_428);
}

#[test]
fn sigterm_prints_maps_and_detaches() {
    let _k = kernel_lock();
    signal_stops_and_prints(libc::SIGTERM, 39_429);
}

#[test]
fn sighup_prints_maps_and_detaches() {
    let _k = kernel_lock();
    signal_stops_and_prints(libc::SIGHUP, 39_430);
}

#[test]
fn json_output_is_json_lines() {
    let _k = kernel_lock();
    let script = r#"begin { printf("x %d\n", 1); print(2, "a"); }
                    on kfree_skb if reason == NO_SOCKET && tuple(dport=39431) { @c[reason] = count(); @h = hist(skb.len); }"#;
    let run = run_with(&["--json", "-e", script, "--duration", "60s"], || udp_to_closed_port(39_431, 3, 10));
    run.ok();
    let mut kinds = Vec::new();
    for line in run.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        kinds.push(v["type"].as_str().unwrap_or("").to_string());
        if v["type"] == "map" {
            assert_eq!(v["value"], 3, "{line}");
            assert_eq!(v["key"][0], "NO_SOCKET", "{line}");
        }
    }
    for k in ["printf", "print", "map", "hist"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} line in:\n{}", run.stdout);
    }
    assert_nothing_left();
}

/// `emit` records: `key value` text, or the format's; JSON objects with the
/// keys in order. Internal maps (`@_name`) print only when asked.
#[test]
fn emit_records_and_internal_maps() {
    let _k = kernel_lock();
    let script = r#"begin {
        let n = 7;
        emit(n, word="x", ok=n > 1);
        emit("%d-%s%.0s\n", a=2, b="y", hidden=3);
        @_seen = 1;
        @_left = 5;
        @shown = 2;
        print(@_seen);
        exit();
    }"#;
    let run = run_until_it_ends(&["-e", script, "--duration", "60s"], || {});
    run.ok();
    assert_eq!(run.stdout, "n 7 word x ok true\n2-y\n@_seen: 1\n\n@shown: 2\n\n", "{}", run.stdout);
    let run = run_until_it_ends(&["--json", "-e", script, "--duration", "60s"], || {});
    run.ok();
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(lines[0], serde_json::json!({"type": "record", "n": 7, "word": "x", "ok": true}));
    assert_eq!(keys(&lines[0]), ["type", "n", "word", "ok"]);
    assert_eq!(lines[1], serde_json::json!({"type": "record", "a": 2, "b": "y", "hidden": 3}));
    let maps: Vec<&str> = lines.iter().filter(|l| l["type"] == "map").map(|l| l["map"].as_str().unwrap()).collect();
    assert_eq!(maps, ["@_seen", "@shown"], "asked-for and public maps only: {}", run.stdout);
    assert_nothing_left();
}

/// `walltime` is the wall clock: UTC with --utc, within the run's window.
#[test]
fn walltime_is_the_wall_clock() {
    let _k = kernel_lock();
    let script = r#"begin { let t = walltime; emit(t, since=walltime - t); @first = min(t); @last = max(walltime); exit(); }"#;
    let before = common::walltime::now_us();
    let run = run_until_it_ends(&["--json", "--utc", "-e", script, "--duration", "60s"], || {});
    let after = common::walltime::now_us();
    run.ok();
    let v: serde_json::Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    let (t, offset) = common::walltime::parse_rfc3339(v["t"].as_str().unwrap()).unwrap_or_else(|| panic!("{v}"));
    assert_eq!(offset, 0, "{v}");
    assert!(common::walltime::within(t, before, after), "{t} not in [{before}, {after}]: {v}");
    assert!(v["since"].as_u64().is_some_and(|ns| ns < 1_000_000_000), "a duration in ns: {v}");
    // The first and last moments of a map print as times.
    let mut moments = Vec::new();
    for l in run.stdout.lines().skip(1) {
        let m: serde_json::Value = serde_json::from_str(l).unwrap();
        if m["type"] == "map" {
            let (at, _) = common::walltime::parse_rfc3339(m["value"].as_str().unwrap_or_else(|| panic!("{m}"))).unwrap();
            assert!(common::walltime::within(at, before, after), "{m}");
            moments.push((m["map"].as_str().unwrap().to_string(), at));
        }
    }
    assert_eq!(moments.len(), 2, "{}", run.stdout);
    assert_eq!(moments.iter().find(|m| m.0 == "@first").unwrap().1, t, "min(t) is t");
    assert!(moments.iter().find(|m| m.0 == "@last").unwrap().1 >= t, "{moments:?}");
    // A zone ntr cannot tell: UTC, and it says so.
    let run = run_with_env(&["--json", "-e", script, "--duration", "60s"], &[("TZ", "Nowhere/Ntr")], || {});
    run.ok();
    let v: serde_json::Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert!(v["t"].as_str().unwrap().ends_with("+00:00"), "{v}");
    assert!(run.stderr.contains("cannot tell the local time zone") && run.stderr.contains("times are shown in UTC"), "{}", run.stderr);
    assert_nothing_left();
}

/// `time(FMT)` and `strftime(FMT, t)` show the moment with the format: the
/// epoch seconds (`%s`) and the UTC date and time agree with the test's own
/// clock around the run, and a zone's offset (`%z`) follows `TZ`.
#[test]
fn strftime_and_time_show_the_moment_with_the_format() {
    let _k = kernel_lock();
    let script = r#"begin { time("%Y-%m-%dT%H:%M:%S.%6f|"); printf("%s|%s\n", strftime("%s.%6f", walltime), time("%z")); exit(); }"#;
    let before = common::walltime::now_us();
    let run = run_until_it_ends(&["--utc", "-e", script, "--duration", "60s"], || {});
    let after = common::walltime::now_us();
    run.ok();
    let line = run.stdout.lines().next().unwrap_or_else(|| panic!("no output: {}", run.stderr));
    let parts: Vec<&str> = line.split('|').collect();
    assert_eq!(parts.len(), 3, "{line}");
    // %s.%6f: microseconds since the epoch.
    let (secs, micros) = parts[1].split_once('.').unwrap_or_else(|| panic!("{line}"));
    let us = secs.parse::<i64>().unwrap() * 1_000_000 + micros.parse::<i64>().unwrap();
    assert!(common::walltime::within(us, before, after), "{us} not in [{before}, {after}]: {line}");
    // The date and time of day, in UTC.
    let (t, _) = common::walltime::parse_rfc3339(&format!("{}+00:00", parts[0])).unwrap_or_else(|| panic!("{line}"));
    assert!(common::walltime::within(t, before, after), "{t} not in [{before}, {after}]: {line}");
    assert_eq!(parts[2], "+0000", "--utc: {line}");
    // Without --utc, the zone of TZ.
    let run = run_with_env(&["-e", script, "--duration", "60s"], &[("TZ", "IST-5:30")], || {});
    run.ok();
    assert!(run.stdout.trim_end().ends_with("|+0530"), "{}", run.stdout);
    assert_nothing_left();
}

/// `elapsed` is the time since the run started: an `every 300ms` probe
/// first fires 300 ms after it is attached, so it reads at least that, and
/// at most what the test measured from starting ntr to its end.
#[test]
fn elapsed_counts_from_the_start_of_the_run() {
    let _k = kernel_lock();
    let started = std::time::Instant::now();
    let run = run_until_it_ends(&["-e", "every 300ms { printf(\"%d\\n\", elapsed); exit(); }", "--duration", "60s"], || {});
    let wall = started.elapsed().as_nanos() as u64;
    run.ok();
    let ns: u64 = run.stdout.trim().parse().unwrap_or_else(|_| panic!("{}", run.stdout));
    assert!((300_000_000..=wall).contains(&ns), "elapsed {ns} ns, not in [300 ms, {wall} ns]");
    assert_nothing_left();
}

/// A cgroup v2 directory of its own for one test, removed when dropped
/// (with the cgroup2 mount made for it, where none was mounted).
struct OwnCgroup {
    dir: std::path::PathBuf,
    mounted: Option<std::path::PathBuf>,
}

impl OwnCgroup {
    fn new() -> OwnCgroup {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        // `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS… - FSTYPE …`
        let existing =
            mountinfo.lines().find(|l| l.split(" - ").nth(1).is_some_and(|t| t.starts_with("cgroup2 "))).map(|l| l.split(' ').nth(4).unwrap().into());
        let (root, mounted) = match existing {
            Some(root) => (root, None),
            None => {
                let at = std::env::temp_dir().join(format!("ntr-cgroup2-{}", std::process::id()));
                std::fs::create_dir_all(&at).unwrap();
                let ok = std::process::Command::new("mount").args(["-t", "cgroup2", "none"]).arg(&at).status().unwrap().success();
                assert!(ok, "cannot mount cgroup2 at {at:?}");
                (at.clone(), Some(at))
            }
        };
        let root: std::path::PathBuf = root;
        let dir = root.join(format!("ntr-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        OwnCgroup { dir, mounted }
    }
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(at) = &self.mounted {
            let _ = std::process::Command::new("umount").arg(at).status();
            let _ = std::fs::remove_dir(at);
        }
    }
}

/// `curtask` is the current task (ntr itself, in `begin`: its pid, its name
/// and its parent, this test) and `cgroup` the id of its cgroup v2: the
/// inode of a directory the test made and put ntr in before it ran.
#[test]
fn curtask_and_cgroup_are_the_running_task_s() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let _k = kernel_lock();
    let cgroup = OwnCgroup::new();
    let procs = cgroup.dir.join("cgroup.procs");
    let script = r#"begin { printf("%d %d %s %d\n", curtask.tgid, curtask.real_parent.tgid, curtask.comm, cgroup); exit(); }"#;
    let mut cmd = ntr();
    cmd.args(["-e", script, "--duration", "60s"]);
    // SAFETY: between fork and exec only a write(2) of a fixed string.
    unsafe {
        cmd.pre_exec(move || std::fs::write(&procs, "0"));
    }
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let run = Run::from(child.wait_with_output().unwrap());
    run.ok();
    let fields: Vec<&str> = run.stdout.split_whitespace().collect();
    let expected = [pid.to_string(), std::process::id().to_string(), "ntr".into(), std::fs::metadata(&cgroup.dir).unwrap().ino().to_string()];
    assert_eq!(fields, expected.iter().map(String::as_str).collect::<Vec<_>>(), "tgid, parent, comm, cgroup: {}", run.stdout);
    assert_nothing_left();
}

/// `kaddr("sym")` is the address /proc/kallsyms gives the symbol, all 64
/// bits of it through the program, and `sym()` names it back.
#[test]
fn kaddr_is_the_symbol_s_address() {
    let _k = kernel_lock();
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let line = kallsyms.lines().find(|l| l.ends_with(" T tcp_v4_rcv")).expect("tcp_v4_rcv in /proc/kallsyms");
    let addr = u64::from_str_radix(line.split(' ').next().unwrap(), 16).unwrap();
    let run = run_until_it_ends(&["-e", r#"begin { printf("%x %s\n", kaddr("tcp_v4_rcv"), sym(kaddr("tcp_v4_rcv"))); exit(); }"#], || {});
    run.ok();
    assert_eq!(run.stdout.trim(), format!("{addr:x} tcp_v4_rcv+0x0"));
    let run = Run::from(ntr().args(["-e", r#"begin { printf("%x\n", kaddr("ntr_no_such_symbol")); }"#]).output().unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no kernel symbol `ntr_no_such_symbol`"), "{}", run.stderr);
}

/// Records wake the reader only in bulk (a wake-up per event costs more
/// than the event), so a lone record waits for the reader's poll tick: each
/// line still reaches the terminal within the tick (100 ms) of the moment
/// the probe ran, with slack for a busy machine.
#[test]
fn a_lone_event_is_printed_within_the_poll_tick() {
    use std::io::{BufRead, BufReader};
    let _k = kernel_lock();
    let script = r#"every 150ms { printf("%s\n", strftime("%s.%6f", walltime)); }"#;
    let mut child = ntr()
        .args(["--utc", "-e", script, "--duration", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut delays = Vec::new();
    for _ in 0..8 {
        let line = lines.next().unwrap().unwrap();
        let arrived = common::walltime::now_us();
        let (secs, micros) = line.split_once('.').unwrap_or_else(|| panic!("{line}"));
        let fired = secs.parse::<i64>().unwrap() * 1_000_000 + micros.parse::<i64>().unwrap();
        delays.push(arrived - fired);
    }
    // SAFETY: signalling our own child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait().unwrap();
    assert!(delays.iter().all(|d| (0..400_000).contains(d)), "µs from probe to terminal: {delays:?}");
    assert_nothing_left();
}

/// `const` and the stdlib's socket module: a TCP connection the test makes
/// over ::1 is AF_INET6 and IPPROTO_TCP by its sockets' own fields, and
/// only its states are seen (the ports are the test's).
#[test]
fn socket_constants_name_a_connection_s_family_and_protocol() {
    let _k = kernel_lock();
    let script = "use socket
        const PORT = 47301
        on inet_sock_set_state if sk.__sk_common.skc_num == PORT || sk.__sk_common.skc_dport == htons(PORT) {
            @[afname(sk.__sk_common.skc_family), ipproto(sk.sk_protocol), sk.__sk_common.skc_family == AF_INET6 && sk.sk_protocol == IPPROTO_TCP] = count();
        }";
    let run = run_with(&["-e", script, "--duration", "60s"], || {
        let listener = std::net::TcpListener::bind("[::1]:47301").unwrap();
        let client = std::net::TcpStream::connect("[::1]:47301").unwrap();
        let (server, _) = listener.accept().unwrap();
        drop((client, server));
        std::thread::sleep(std::time::Duration::from_millis(200));
    });
    run.ok();
    let rows: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('@')).collect();
    assert!(!rows.is_empty(), "{}", run.stdout);
    assert!(rows.iter().all(|r| r.starts_with("@[AF_INET6, IPPROTO_TCP, true]: ")), "{}", run.stdout);
    assert_nothing_left();
}

/// `*p` reads what a typed pointer points to, in user memory too: glibc
/// gives the kernel the address of the thread's own tid word
/// (`set_tid_address`), so `*curtask.clear_child_tid` is the tid.
#[test]
fn a_pointer_dereference_reads_the_pointed_value() {
    let _k = kernel_lock();
    let command = format!("{} getppid 1", common::programs::toolbox_helper().display());
    let script = r#"on sys_enter_getppid if pid == cpid { printf("%d %d\n", *curtask.clear_child_tid, tid); }"#;
    let run = Run::from(ntr().args(["-c", &command, "--duration", "60s", "-e", script]).output().unwrap());
    run.ok();
    let line = run.stdout.lines().next().unwrap_or_else(|| panic!("{}", run.stderr));
    let (read, tid) = line.split_once(' ').unwrap();
    assert_eq!(read, tid, "{line}");
    assert!(tid.parse::<u32>().is_ok_and(|t| t > 0), "{line}");
    assert_nothing_left();
}

#[test]
fn nested_fields_nullable_pointers_and_bitfields() {
    let _k = kernel_lock();
    // skb.sk is NULL for a datagram nobody receives: the read behind it
    // yields 0 rather than a verifier rejection. pkt_type is a bitfield.
    let script = "on kfree_skb if reason == NO_SOCKET && tuple(dport=39432) {
                  @x[skb.dev.ifindex, skb.dev.name, skb.sk.__sk_common.skc_family, skb.pkt_type] = count(); }";
    let run = run_with(&["-e", script, "--duration", "60s"], || udp_to_closed_port(39_432, 7, 10));
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@x[1, lo, 0, 0]:"]), Some(7), "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn str_reads_user_space_pointers_of_syscall_arguments() {
    let _k = kernel_lock();
    // `filename` is a user-space pointer: a kernel read of it fails.
    let script = r#"on sys_enter_openat if str(filename) == "/nonexistent/ntr-user-str" { @opens = count(); }"#;
    let run = run_with(&["-e", script, "--duration", "60s"], || {
        for _ in 0..3 {
            assert!(std::fs::File::open("/nonexistent/ntr-user-str").is_err());
        }
    });
    run.ok();
    assert!(run.stdout.contains("@opens: 3"), "{}", run.stdout);
    assert_nothing_left();
}

/// A syscall's struct argument lives in user memory: its fields read what
/// the caller passed (nanosleep's request), not zeros, through the pointer
/// the record declares (`rqtp.tv_sec`) or cast (`(struct … *)rqtp`).
#[test]
fn struct_fields_behind_user_space_pointers_read_what_was_passed() {
    let _k = kernel_lock();
    let tid = unsafe { libc::gettid() };
    let script = format!(
        "on syscalls:sys_enter_clock_nanosleep if tid == {tid} {{
             @[((struct __kernel_timespec *)rqtp).tv_sec, ((struct __kernel_timespec *)rqtp).tv_nsec] = count();
             @declared[rqtp.tv_sec, rqtp.tv_nsec] = count(); }}"
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        // std's sleep passes the duration as it is: { 0, 123456789 }, then { 1, 5 }.
        std::thread::sleep(std::time::Duration::new(0, 123_456_789));
        std::thread::sleep(std::time::Duration::new(1, 5));
    });
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@[0, 123456789]:"]), Some(1), "{}", run.stdout);
    assert_eq!(row_value(&run.stdout, &["@[1, 5]:"]), Some(1), "{}", run.stdout);
    assert_eq!(row_value(&run.stdout, &["@declared[0, 123456789]:"]), Some(1), "{}", run.stdout);
    assert_eq!(row_value(&run.stdout, &["@declared[1, 5]:"]), Some(1), "{}", run.stdout);
    assert_nothing_left();
}

/// Char arrays in a user-space struct read as the caller wrote them: the path
/// of a unix socket address given to connect(2), not an empty string.
#[test]
fn char_arrays_behind_user_space_pointers_read_what_was_passed() {
    let _k = kernel_lock();
    let tid = unsafe { libc::gettid() };
    let path = std::env::temp_dir().join(format!("ntr-sun-path-{}", std::process::id()));
    let script = format!(
        "on syscalls:sys_enter_connect if tid == {tid} {{
             let a = (struct sockaddr_un *)uservaddr;
             printf(\"family %d path [%s]\\n\", a.sun_family, a.sun_path); }}"
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        // Nothing listens there: connect(2) fails, after the probe saw its argument.
        assert!(std::os::unix::net::UnixStream::connect(&path).is_err());
    });
    run.ok();
    let expected = format!("family {} path [{}]", libc::AF_UNIX, path.display());
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("family")).collect::<Vec<_>>(), [expected.as_str()], "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn raw_tracepoints_count_events() {
    let _k = kernel_lock();
    // arg0 is the skb: its flow selects this test's drops.
    let script = "on raw_tracepoint:kfree_skb if tuple((struct sk_buff *)arg0, dport=39433) { @n = count(); }";
    let run = run_with(&["-e", script, "--duration", "60s"], || udp_to_closed_port(39_433, 5, 8));
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@n:"]), Some(5), "one event per datagram dropped: {}", run.stdout);
    assert_nothing_left();
}

/// `sys_enter_kill`'s argument `pid` hides the builtin: there `pid` is the
/// target and `builtin.pid` the calling task, as the test process knows them.
#[test]
fn builtin_names_a_builtin_an_argument_hides() {
    let _k = kernel_lock();
    let me = std::process::id();
    let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
    let target = child.id();
    let script = format!(r#"on syscalls:sys_enter_kill if builtin.pid == {me} && sig == 0 {{ @[pid, builtin.pid, builtin.comm != ""] = count(); }}"#);
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        for _ in 0..3 {
            // SAFETY: signal 0 only checks that our own child exists.
            assert_eq!(unsafe { libc::kill(target as i32, 0) }, 0);
        }
    });
    child.kill().ok();
    child.wait().ok();
    run.ok();
    assert_eq!(row_value(&run.stdout, &[&format!("@[{target}, {me}, true]:")]), Some(3), "{}", run.stdout);
    assert!(run.stderr.contains("warning: `pid` is `tracepoint:syscalls:sys_enter_kill`'s argument here, not the builtin"), "{}", run.stderr);
    assert!(run.stderr.contains("`builtin.pid` is the builtin"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("warning:").count(), 1, "one warning per hidden name: {}", run.stderr);
    // `args.pid` names the argument, and says nothing.
    let script = script.replace("@[pid,", "@[args.pid,");
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        // SAFETY: as above; the child is gone, so kill answers ESRCH, but
        // the probe sees the call at its entry.
        for _ in 0..2 {
            unsafe { libc::kill(target as i32, 0) };
        }
    });
    run.ok();
    assert_eq!(row_value(&run.stdout, &[&format!("@[{target}, {me}, true]:")]), Some(2), "{}", run.stdout);
    assert!(!run.stderr.contains("warning:"), "{}", run.stderr);
    assert_nothing_left();
}

/// Frames of the tracing machinery, which no stack may show.
fn is_tracing_frame(f: &str) -> bool {
    ["bpf_", "__bpf_trace_", "__traceiter_", "perf_trace_", "trace_event_raw_event_"].iter().any(|m| f.starts_with(m))
}

/// `kstack(N)` is the innermost N frames of the full `kstack` taken by the
/// same run of the probe: no tracing frames, none missing.
#[test]
fn kstack_n_is_the_innermost_n_frames_of_the_full_stack() {
    let _k = kernel_lock();
    let port = 39_501;
    let script =
        format!("on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) {{ @full[kstack] = count(); @three[kstack(3)] = count(); @one[kstack(1)] = count(); }}");
    let run = run_with(&["-e", &script, "--duration", "60s"], || udp_to_closed_port(port, 5, 16));
    run.ok();
    let full = stack_rows(&run.stdout, "@full");
    assert_eq!(full.iter().map(|r| r.1).sum::<u64>(), 5, "{}", run.stdout);
    for (frames, _) in &full {
        assert!(frames.len() > 3 && !frames.iter().any(|f| is_tracing_frame(f)), "{}", run.stdout);
        assert!(frames[..3].iter().any(|f| f.starts_with("__udp4_lib_rcv+0x")), "the drop is in UDP's receive: {}", run.stdout);
    }
    for (map, n) in [("@three", 3), ("@one", 1)] {
        let rows = stack_rows(&run.stdout, map);
        assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 5, "{map}: {}", run.stdout);
        for (frames, _) in rows {
            assert_eq!(frames.len(), n, "{map}: {}", run.stdout);
            assert!(full.iter().any(|(f, _)| f[..n] == frames[..]), "{map} {frames:?} is not the start of a full stack: {}", run.stdout);
        }
    }
    assert_nothing_left();
}

/// A tracepoint's stack is where it fires, however the probe is attached:
/// the classic `sys_enter_getppid` and the raw `sys_enter` of the same
/// syscalls, and `kfree_skb` as tp_btf and raw tracepoint for the same drops,
/// give the same frames, entered from the syscall entry; `kstack(1)` and
/// `kstack(2)` are their first frames.
#[test]
fn kstack_is_the_same_however_a_tracepoint_is_attached() {
    let _k = kernel_lock();
    let tid = unsafe { libc::gettid() };
    let port = 47_405;
    let script = format!(
        "on syscalls:sys_enter_getppid if tid == {tid} {{ @tp[kstack] = count(); @tp1[kstack(1)] = count(); @tp2[kstack(2)] = count(); }}
         on raw_tracepoint:sys_enter if tid == {tid} && arg1 == {nr} {{ @raw[kstack] = count(); @raw1[kstack(1)] = count(); }}
         on kfree_skb if tuple(dport={port}) {{ @btf[kstack(4)] = count(); }}
         on raw_tracepoint:kfree_skb if tuple((struct sk_buff *)arg0, dport={port}) {{ @rawskb[kstack(4)] = count(); }}",
        nr = libc::SYS_getppid
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        for _ in 0..3 {
            // SAFETY: getppid has no preconditions (and glibc does not cache it).
            unsafe { libc::getppid() };
        }
        udp_to_closed_port(port, 2, 16);
    });
    run.ok();
    let rows = |map: &str| stack_rows(&run.stdout, map);
    let tp = rows("@tp");
    assert_eq!(tp.len(), 1, "{}", run.stdout);
    let (frames, n) = &tp[0];
    assert_eq!(*n, 3, "{}", run.stdout);
    if frames.len() == 1 && frames[0].starts_with("[no kernel stack: the kernel gave this probe user-space registers") {
        // Older kernels (6.1) hand a syscall tracepoint's program the user
        // registers: its stack cannot be taken, and ntr says so, while the
        // raw tracepoint of the same syscalls has it.
        assert_eq!(rows("@tp1"), tp, "{}", run.stdout);
        assert_eq!(rows("@tp2"), tp, "{}", run.stdout);
        let raw = rows("@raw");
        assert_eq!(raw.len(), 1, "{}", run.stdout);
        assert!(raw[0].0.last().is_some_and(|f| f.starts_with("entry_SYSCALL_64")) && raw[0].1 == 3, "{}", run.stdout);
        assert_nothing_left();
        return;
    }
    assert!(frames.last().is_some_and(|f| f.starts_with("entry_SYSCALL_64")), "from the syscall entry: {}", run.stdout);
    assert!(!frames.iter().any(|f| is_tracing_frame(f)), "{}", run.stdout);
    assert_eq!(rows("@raw"), tp, "{}", run.stdout);
    assert_eq!(rows("@tp1"), [(frames[..1].to_vec(), 3)], "{}", run.stdout);
    assert_eq!(rows("@raw1"), [(frames[..1].to_vec(), 3)], "{}", run.stdout);
    assert_eq!(rows("@tp2"), [(frames[..2].to_vec(), 3)], "{}", run.stdout);
    let btf = rows("@btf");
    assert_eq!(btf.iter().map(|r| r.1).sum::<u64>(), 2, "{}", run.stdout);
    assert!(btf.iter().all(|(f, _)| f.len() == 4 && !f.iter().any(|f| is_tracing_frame(f))), "{}", run.stdout);
    assert_eq!(rows("@rawskb"), btf, "{}", run.stdout);
    assert_nothing_left();
}

/// After `exit()` nothing more is printed: the stacks of the drops queued
/// behind the first are counted (the probe ran `@runs` times) and said once.
#[test]
fn nothing_is_printed_after_exit() {
    let _k = kernel_lock();
    let port = 39_502;
    let script = format!("on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) {{ @runs = count(); stack(); exit(); }}");
    let run = run_until_it_ends(&["-e", &script, "--duration", "60s"], || {
        // As fast as the socket goes: many drops are queued before ntr reads the first.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        for _ in 0..50 {
            sock.send_to(b"x", ("127.0.0.1", port)).expect("send");
        }
    });
    run.ok();
    let stacks = run.stdout.lines().filter(|l| l.trim_start().starts_with("__udp4_lib_rcv+0x")).count();
    assert_eq!(stacks, 1, "{}", run.stdout);
    let runs = row_value(&run.stdout, &["@runs:"]).unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(runs > 1, "more than one drop was queued: {}", run.stdout);
    assert!(!run.stderr.contains("lost"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("ntr: {} events after exit() not printed", runs - 1)), "{runs} runs: {}", run.stderr);
    assert_eq!(run.stderr.matches("after exit()").count(), 1, "{}", run.stderr);
    assert_nothing_left();
}

/// With `--json`, one stack object is written after `exit()` and the
/// summary's `after_exit` counts the events of the later runs.
#[test]
fn the_json_summary_counts_what_was_not_printed_after_exit() {
    let _k = kernel_lock();
    let port = 47_404;
    let script = format!("on kfree_skb if reason == NO_SOCKET && tuple(dport={port}) {{ @runs = count(); stack(); exit(); }}");
    let run = run_until_it_ends(&["-e", &script, "--duration", "60s", "--json"], || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        for _ in 0..50 {
            sock.send_to(b"x", ("127.0.0.1", port)).expect("send");
        }
    });
    run.ok();
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |ty: &str| lines.iter().filter(|v| v["type"] == ty).collect::<Vec<_>>();
    assert_eq!(of("stack").len(), 1, "{}", run.stdout);
    let runs = of("map").iter().find(|v| v["map"] == "@runs").and_then(|v| v["value"].as_u64()).unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(runs > 1, "more than one drop was queued: {}", run.stdout);
    let summary = of("summary");
    assert_eq!(summary.len(), 1, "{}", run.stdout);
    assert_eq!(summary[0]["after_exit"].as_u64(), Some(runs - 1), "{}", run.stdout);
    assert_eq!(summary[0]["lost_events"].as_u64(), Some(0), "{}", run.stdout);
    assert_nothing_left();
}

/// UDP and TCP drops for want of a socket share their innermost frame and
/// differ below it: keyed by `kstack(1)`, each aggregation has one row per
/// innermost frame of the full stacks, holding every drop.
#[test]
fn stacks_alike_in_their_printed_frames_are_one_row() {
    let _k = kernel_lock();
    let port = 39_503;
    let script = format!(
        "on kfree_skb if reason == NO_SOCKET && tuple(port={port}) {{
             @full[kstack] = count(); @n[kstack(1)] = count(); @h[kstack(1)] = hist(skb.len); @x[kstack(1)] = max(skb.len); @a[kstack(1)] = avg(skb.len); }}"
    );
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        udp_to_closed_port(port, 3, 100);
        for _ in 0..3 {
            assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on {port}");
        }
    });
    run.ok();
    let full = stack_rows(&run.stdout, "@full");
    assert_eq!(full.iter().map(|r| r.1).sum::<u64>(), 6, "3 datagrams and 3 SYNs: {}", run.stdout);
    let mut leaves: Vec<&String> = full.iter().map(|(f, _)| &f[0]).collect();
    leaves.sort();
    leaves.dedup();
    assert!(full.len() > leaves.len(), "UDP and TCP stacks differ below a shared innermost frame: {}", run.stdout);
    let n = stack_rows(&run.stdout, "@n");
    assert_eq!(n.len(), leaves.len(), "{}", run.stdout);
    assert_eq!(n.iter().map(|r| r.1).sum::<u64>(), 6, "{}", run.stdout);
    for map in ["@h", "@x", "@a"] {
        assert_eq!(run.stdout.lines().filter(|l| *l == format!("{map}[")).count(), leaves.len(), "{map}: {}", run.stdout);
    }
    let bars: u64 =
        run.stdout.lines().filter(|l| l.starts_with('[')).filter_map(|l| l.split('|').next()?.split_whitespace().last()?.parse::<u64>().ok()).sum();
    assert_eq!(bars, 6, "one histogram holds every drop: {}", run.stdout);
    // A datagram's skb starts at its UDP header: 8 + 100 bytes, more than a SYN.
    assert!(stack_rows(&run.stdout, "@x").iter().all(|r| r.1 == 108), "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn control_characters_in_process_names_are_escaped() {
    let _k = kernel_lock();
    // Any local process can name itself so; its drops must not drive the terminal.
    let traffic = || {
        let sender = r#"open("/proc/self/comm", "w").write("a\x1b[31mb")
import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 39601))"#;
        let status = std::process::Command::new("python3").args(["-c", sender]).status().expect("python3 is installed (.ci/run installs it)");
        assert!(status.success());
    };
    let script = r#"on kfree_skb if reason == NO_SOCKET && tuple(dport=39601) { printf("%s\n", comm); @c[comm] = count(); }"#;
    let run = run_with(&["-e", script, "--duration", "60s"], traffic);
    run.ok();
    assert!(run.stdout.lines().any(|l| l == r"a\x1b[31mb"), "no escaped name printed:\n{}", run.stdout);
    assert_eq!(row_value(&run.stdout, &[r"@c[a\x1b[31mb]:"]), Some(1), "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'), "a raw ESC reached the output:\n{:?}", run.stdout);
    assert_nothing_left();
}

/// `@[probe]` on a block of probes whose names differ in length: one map,
/// each name whole with its own count (the syscalls this thread made).
#[test]
fn probe_names_of_different_lengths_key_one_map() {
    let _k = kernel_lock();
    let tid = unsafe { libc::gettid() };
    let script = format!("on syscalls:sys_enter_getuid, syscalls:sys_enter_getppid if tid == {tid} {{ @[probe] = count(); }}");
    let run = run_with(&["-e", &script, "--duration", "60s"], || {
        for _ in 0..2 {
            // SAFETY: neither call has preconditions (and glibc caches neither).
            unsafe { libc::getuid() };
        }
        for _ in 0..3 {
            unsafe { libc::getppid() };
        }
    });
    run.ok();
    assert_eq!(row_value(&run.stdout, &["@[tracepoint:syscalls:sys_enter_getuid]:"]), Some(2), "{}", run.stdout);
    assert_eq!(row_value(&run.stdout, &["@[tracepoint:syscalls:sys_enter_getppid]:"]), Some(3), "{}", run.stdout);
    assert_nothing_left();
}

/// A local given a longer string than it was declared with holds it whole;
/// reads above the assignment see the shorter one.
#[test]
fn a_local_holds_the_longest_string_assigned() {
    let _k = kernel_lock();
    let script = r#"begin { let x = "a"; printf("[%s]\n", x); x = "a much longer string"; printf("[%s]\n", x);
                let c = comm; if 1 > 0 { c = "longer than any sixteen-byte comm"; } printf("[%s]\n", c); exit(); }"#;
    let run = Run::from(ntr().args(["-e", script, "--duration", "60s"]).output().unwrap());
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines, ["[a]", "[a much longer string]", "[longer than any sixteen-byte comm]"], "{}", run.stdout);
    assert_nothing_left();
}

/// Strings of different lengths in one map or from one fn: each prints
/// whole, also when read before the longer one was stored.
#[test]
fn strings_of_different_lengths_share_a_map() {
    let _k = kernel_lock();
    let script = r#"fn name(x) { if x > 1 { return "big"; } return "a much longer name"; }
        begin { @cap[0] = "CAP_CHOWN"; printf("[%s]\n", @cap[0]); @cap[1] = "CAP_DAC_OVERRIDE"; printf("[%s]\n", @cap[1]);
                printf("[%s][%s]\n", name(5), name(0)); exit(); }"#;
    let run = Run::from(ntr().args(["-e", script, "--duration", "60s"]).output().unwrap());
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines, ["[CAP_CHOWN]", "[CAP_DAC_OVERRIDE]", "[big][a much longer name]"], "{}", run.stdout);
    assert!(run.stdout.contains("@cap[1]: CAP_DAC_OVERRIDE") && run.stdout.contains("@cap[0]: CAP_CHOWN"), "{}", run.stdout);
    assert_nothing_left();
}

/// Byte order: `skb->protocol` is the ethertype in network order (IPv4's
/// 0x0800 for a datagram to 127.0.0.1); constants swap as C's ntohl does.
#[test]
fn byte_order_builtins_swap_as_the_network_expects() {
    let _k = kernel_lock();
    let script = r#"on kfree_skb if reason == NO_SOCKET && tuple(dport=39434) {
                    printf("%x %x %x %x %x %x\n", ntohs(skb.protocol), skb.protocol, ntohl(0x01020304), htons(0x1234), skb.len, bswap(skb.len));
                    exit(); }"#;
    let run = run_until_it_ends(&["-e", script, "--duration", "60s"], || udp_to_closed_port(39_434, 1, 10));
    run.ok();
    // UDP has pulled the IP header when it finds no socket: skb->len (a u32)
    // is the 8-byte UDP header and the 10 bytes sent.
    let want = format!("800 8 4030201 3412 12 {:x}", 18u32.swap_bytes());
    assert_eq!(run.stdout.lines().next(), Some(want.as_str()), "{}", run.stdout);
    assert_nothing_left();
}

/// `ntop` and `ntohs` on a socket's own fields: the address and port a
/// connect went to.
#[test]
fn socket_fields_read_as_the_address_and_port_connected_to() {
    let _k = kernel_lock();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        r#"on tracepoint:sock:inet_sock_set_state if newstate == 2 && ntohs(sk.__sk_common.skc_dport) == {port} {{
               printf("%s %d\n", ntop(sk.__sk_common.skc_daddr), ntohs(sk.__sk_common.skc_dport)); exit(); }}"#
    );
    // newstate 2: TCP_SYN_SENT, the connect's first step.
    let run = run_until_it_ends(&["-e", &script, "--duration", "60s"], || {
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    });
    run.ok();
    assert_eq!(run.stdout.lines().next(), Some(format!("127.0.0.1 {port}").as_str()), "{}", run.stdout);
    assert_nothing_left();
}

/// The `max_entries` of every ring buffer the running ntr child of this
/// test holds, as the kernel reports its map fds (`/proc/PID/fdinfo`).
fn ring_buffers_of_child() -> Vec<u64> {
    const RINGBUF: &str = "27"; // BPF_MAP_TYPE_RINGBUF
    let me = std::process::id().to_string();
    let child = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `PID (COMM) STATE PPID …`
            let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
            stat.contains(" (ntr) ") && after.split_whitespace().nth(1) == Some(me.as_str())
        })
        .expect("the ntr this test started");
    let mut sizes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{child}/fd")).unwrap().filter_map(|e| e.ok()) {
        if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == "anon_inode:bpf-map") {
            let info = std::fs::read_to_string(format!("/proc/{child}/fdinfo/{}", fd.file_name().to_string_lossy())).unwrap_or_default();
            let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
            if field("map_type:").as_deref() == Some(RINGBUF) {
                sizes.push(field("max_entries:").unwrap().parse().unwrap());
            }
        }
    }
    sizes
}

/// A script that prints nothing gets a one-page ring buffer, one that
/// prints 512K, and `--buffer-size` what it asks for: as the kernel reports
/// the maps ntr holds.
#[test]
fn the_ring_buffer_is_sized_by_what_the_script_prints() {
    let _k = kernel_lock();
    for (script, extra, expected) in [
        ("on kfree_skb { @n = count(); }", None, 4096),
        ("on kfree_skb { printf(\"%d\\n\", reason); }", None, 512 << 10),
        ("on kfree_skb { printf(\"%d\\n\", reason); }", Some("8M"), 8 << 20),
    ] {
        let mut args = vec!["-e", script, "--duration", "60s"];
        if let Some(size) = extra {
            args.extend(["--buffer-size", size]);
        }
        let mut seen = Vec::new();
        run_with(&args, || seen = ring_buffers_of_child()).ok();
        assert_eq!(seen, [expected], "{script} {extra:?}");
    }
    let refused = Run::from(ntr().args(["-e", "on kfree_skb { @n = count(); }", "--buffer-size", "1000"]).output().unwrap());
    assert_eq!(refused.status, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("a power of two from 4K to 1G"), "{}", refused.stderr);
    assert_nothing_left();
}

/// `--map-size N`: each map holds N entries; updates past them are counted
/// per map and said at exit, with how to raise the size. Ten drops, each
/// its own key, into maps of four.
#[test]
fn a_full_map_is_named_with_the_updates_it_dropped() {
    const PORT: u16 = 39_431;
    let _k = kernel_lock();
    let script = format!("on kfree_skb if tuple(dport={PORT}) {{ @seen[nsecs] = count(); @last[nsecs] = 1; }}");
    let run = run_with(&["-e", &script, "--map-size", "4", "--duration", "60s"], || udp_to_closed_port(PORT, 10, 16));
    run.ok();
    for map in ["@seen", "@last"] {
        assert_eq!(run.stdout.lines().filter(|l| l.starts_with(&format!("{map}["))).count(), 4, "{}", run.stdout);
        assert!(
            run.stderr.contains(&format!("ntr: 6 updates to {map} dropped: it was full at 4 entries (raise the size of every map with --map-size")),
            "{}",
            run.stderr
        );
    }
    let json = run_with(&["-e", &script, "--map-size", "4", "--json", "--duration", "60s"], || udp_to_closed_port(PORT, 10, 16));
    json.ok();
    let summary: serde_json::Value = serde_json::from_str(json.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["map_full"], 12, "{summary}");
    assert_eq!(summary["map_full_by_map"], serde_json::json!({"@seen": 6, "@last": 6}), "{summary}");
    assert_nothing_left();
}

/// A map of 100,000 keys prints every row once, with its value, keys that
/// print alike merged: datagrams from 5,000 source ports to 10 closed
/// ports, over IPv4 and IPv6, keyed by the two ports and the innermost
/// frame. The two families' stacks differ below the frame that frees the
/// packet, so the kernel holds a key for each (ports, family): each row
/// adds both.
#[test]
fn a_map_of_a_hundred_thousand_keys_prints_every_row_once_with_duplicates_merged() {
    const CLOSED: std::ops::Range<u16> = 39_770..39_780;
    const FROM: std::ops::Range<u16> = 20_000..25_000;
    let _k = kernel_lock();
    let script = format!(
        "on kfree_skb if reason == NO_SOCKET && tuple(proto=udp) && tuple(skb).dport >= {} && tuple(skb).dport < {} {{
             @at[tuple(skb).sport, tuple(skb).dport, kstack(1)] = count(); }}",
        CLOSED.start, CLOSED.end
    );
    // Ground truth: the datagrams sent for each pair of ports (a source
    // port another program holds is passed over).
    let mut sent: std::collections::HashMap<(u64, u64), u64> = std::collections::HashMap::new();
    let run = run_with(&["-e", &script, "--map-size", "131072", "--json", "--duration", "300s"], || {
        for (i, port) in FROM.enumerate() {
            for (from, to) in [("127.0.0.1", "127.0.0.1"), ("::1", "::1")] {
                let Ok(sock) = std::net::UdpSocket::bind((from, port)) else { continue };
                for closed in CLOSED {
                    sock.send_to(b"x", (to, closed)).expect("send");
                    *sent.entry((port as u64, closed as u64)).or_default() += 1;
                }
            }
            // Let the receiving softirq keep up: a backlog overflow would
            // drop datagrams for another reason.
            if i % 10 == 9 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    run.ok();
    let raw_keys: u64 = sent.values().sum();
    assert!(raw_keys >= 95_000, "only {raw_keys} datagrams sent: too many ports in use");
    let mut printed: std::collections::HashMap<(u64, u64), u64> = std::collections::HashMap::new();
    for line in run.stdout.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["type"] != "map" {
            continue;
        }
        let ports = (v["key"][0].as_u64().unwrap_or_else(|| panic!("{line}")), v["key"][1].as_u64().unwrap_or_else(|| panic!("{line}")));
        assert!(printed.insert(ports, v["value"].as_u64().unwrap()).is_none(), "ports {ports:?} printed twice");
    }
    assert_eq!(printed.len(), sent.len(), "rows printed for {} of {} pairs of ports", printed.len(), sent.len());
    for (ports, n) in &sent {
        assert_eq!(printed.get(ports), Some(n), "ports {ports:?}");
    }
    // Merged: most pairs were sent over both families, two keys in the kernel.
    assert!(sent.values().filter(|n| **n == 2).count() >= 45_000, "{raw_keys} datagrams for {} pairs", sent.len());
    assert!(!run.stderr.contains("dropped"), "{}", run.stderr);
    assert_nothing_left();
}
