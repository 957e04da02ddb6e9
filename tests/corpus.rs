//! The bad-script corpus (`tests/corpus/bad/`, each file's expected error in
//! `tests/corpus/expect.txt`) and pathological files made here (megabytes
//! are not committed): each must exit 2 with its error, pointing into the
//! file unless the error is about the file as a whole, quickly, and never
//! panic.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// CPU time per case (the host may be busy: wall time would measure the
/// other work too). A debug build, what `cargo test` runs, is several times
/// slower than a release one: the release bound of 1 s for megabyte
/// scripts is what `bench/compile.sh` measures.
const SMALL_BOUND: Duration = Duration::from_secs(1);
const BIG_BOUND: Duration = if cfg!(debug_assertions) { Duration::from_secs(10) } else { Duration::from_secs(1) };

/// `ntr check PATH` and the CPU time it took (user and system, from
/// `wait4`).
// The child is reaped by `wait4`, which std's `wait` does not offer.
#[allow(clippy::zombie_processes)]
fn check(path: &Path) -> (Run, Duration) {
    let mut child = ntr().args(["check", path.to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            pipe.read_to_end(&mut buf).unwrap();
            buf
        })
    };
    let (out, err) = (read(Box::new(child.stdout.take().unwrap())), read(Box::new(child.stderr.take().unwrap())));
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    let status = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (Run { status, stdout: text(out.join().unwrap()), stderr: text(err.join().unwrap()) }, cpu)
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// What `ntr check FILE` printed wrong, if anything.
fn problems(path: &Path, spanned: bool, text: &str, bound: Duration) -> Vec<String> {
    let (run, took) = check(path);
    let located = format!("┌─ {}:", path.display());
    [
        (run.status != 2).then(|| format!("exit {} instead of 2", run.status)),
        (!run.stderr.starts_with("error")).then(|| "no error first".to_string()),
        (spanned && !(run.stderr.contains(&located) && run.stderr.contains('^'))).then(|| "no file:line:col and caret".to_string()),
        (!run.stderr.contains(text)).then(|| format!("missing {text:?}")),
        run.stderr.contains("panicked").then(|| "panicked".to_string()),
        (took > bound).then(|| format!("took {took:?} of CPU")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The first lines of a diagnostic (some quote a megabyte-long line).
fn head(path: &Path) -> String {
    let run = Run::from(ntr().args(["check", path.to_str().unwrap()]).output().unwrap());
    run.stderr.lines().take(6).map(|l| l.chars().take(160).collect::<String>()).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_corpus_script_gives_its_error() {
    let expect = std::fs::read_to_string(corpus().join("expect.txt")).unwrap();
    let cases: Vec<(&str, bool, &str)> = expect
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (name, kind, text) = (parts.next().unwrap(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            assert!(kind == "span" || kind == "file", "expect.txt: {l}");
            (name, kind == "span", text)
        })
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(corpus().join("bad"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| f.strip_suffix(".ntr").map(str::to_string))
        .collect();
    files.sort();
    let mut listed: Vec<&str> = cases.iter().map(|c| c.0).collect();
    listed.sort();
    assert_eq!(files, listed, "tests/corpus/bad/ and expect.txt must name the same scripts");
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, spanned, text) in &cases {
        let path = corpus().join("bad").join(format!("{name}.ntr"));
        let p = problems(&path, *spanned, text, SMALL_BOUND);
        if !p.is_empty() {
            failures.push(format!("{name}: {}\n{}", p.join(", "), head(&path)));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

/// Bytes that are not UTF-8, the same on every run.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8 | 0x80
        })
        .collect()
}

/// Megabyte scripts and deep nesting, made here: (name, text, spanned, error).
fn pathological() -> Vec<(&'static str, Vec<u8>, bool, &'static str)> {
    const MB: usize = 1 << 20;
    let repeat = |unit: &str, until: usize| unit.repeat(until / unit.len() + 1);
    let statements = |n: usize| (0..n).map(|i| format!("  let v{i} = skb.len + {i}; @c[v{i}] = count();\n")).collect::<String>();
    let small_probes = |until: usize| {
        let mut s = String::new();
        let mut i = 0;
        while s.len() < until {
            s.push_str(&format!("on kfree_skb if skb.len > {i} {{ @c[reason] = count(); @s = sum(skb.len); }}\n"));
            i += 1;
        }
        s
    };
    vec![
        ("statements_10000", format!("on kfree_skb {{\n{}}}\n", statements(10_000)).into_bytes(), true, "too large for one BPF program"),
        ("one_probe_1mb", format!("on kfree_skb {{\n{}}}\n", statements(19_000)).into_bytes(), true, "too large for one BPF program"),
        ("probes_1mb_then_error", (small_probes(MB) + "on kfree_skb { @x[skb.lenn] = count(); }\n").into_bytes(), true, "no field `lenn`"),
        ("long_line_1mb", format!("begin {{ {}@x = nosuch; }}\n", repeat("let a = 1; ", MB)).into_bytes(), true, "unknown name `nosuch`"),
        ("nul_bytes_1mb", vec![0; MB], true, "unexpected character `\\x00`"),
        ("noise_1mb", noise(MB), false, "valid UTF-8"),
        ("garbage_1mb", repeat("%$~ ", MB).into_bytes(), true, "unexpected"),
        ("parens_100k", format!("begin {{ @x = {}1{}; }}\n", "(".repeat(100_000), ")".repeat(100_000)).into_bytes(), true, "nests deeper"),
        ("braces_100k", format!("begin {}", "{".repeat(100_000)).into_bytes(), true, "unexpected"),
        ("ifs_100k", format!("begin {{ {}exit();{} }}\n", "if pid > 0 { ".repeat(100_000), " }".repeat(100_000)).into_bytes(), true, "nests deeper"),
        ("unclosed_string_1mb", format!("begin {{ printf(\"{}", "x".repeat(MB)).into_bytes(), true, "unterminated string"),
    ]
}

#[test]
fn pathological_files_are_refused_quickly() {
    let dir = std::env::temp_dir().join(format!("ntr-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    let cases = pathological();
    for (name, text, spanned, error) in &cases {
        let path = dir.join(format!("{name}.ntr"));
        std::fs::write(&path, text).unwrap();
        let p = problems(&path, *spanned, error, BIG_BOUND);
        if !p.is_empty() {
            failures.push(format!("{name}: {}\n{}", p.join(", "), head(&path)));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
