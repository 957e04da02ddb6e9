//! What an installed ntr offers around its commands, each checked against
//! another source: `--version` against git, the man pages against
//! `--help`, shell completion (driven through bash as the shell does)
//! against `ntr list scripts` and the scripts' own `param` lines, a script
//! file's help, and the privileges message against what a process with
//! those privileges can really read.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A fresh directory under the target's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn version_names_the_commit_git_has() {
    let run = Run::from(ntr().arg("--version").output().unwrap());
    run.ok();
    let commit = match (git(&["rev-parse", "--short", "HEAD"]), git(&["log", "-1", "--format=%cs", "HEAD"])) {
        (Some(hash), Some(date)) => format!("{hash} {date}"),
        _ => "unknown commit".into(),
    };
    assert_eq!(run.stdout.trim_end(), format!("ntr {} ({commit})", env!("CARGO_PKG_VERSION")));
}

/// The subcommands (`Commands:`) and option names (`Options:`) a `--help`
/// lists.
fn help_names(args: &[&str]) -> (Vec<String>, Vec<String>) {
    let run = Run::from(ntr().args(args).arg("--help").output().unwrap());
    run.ok();
    let (mut commands, mut options, mut section) = (Vec::new(), Vec::new(), "");
    for line in run.stdout.lines() {
        if !line.starts_with(' ') {
            section = line;
            continue;
        }
        let entry = line.trim_start();
        if section == "Commands:" && line.starts_with("  ") && !line.starts_with("   ") {
            commands.push(entry.split_whitespace().next().unwrap().to_string());
        }
        if section == "Options:" && entry.starts_with('-') {
            let flags = entry.split("  ").next().unwrap();
            options.extend(flags.split(", ").map(|f| f.split([' ', '=']).next().unwrap().to_string()));
        }
    }
    (commands, options)
}

#[test]
fn man_pages_name_every_command_and_option_help_does() {
    let dir = scratch("ntr-man");
    let run = Run::from(ntr().arg("man").arg(&dir).output().unwrap());
    run.ok();
    // roff writes a hyphen as `\-`.
    let page = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")).replace("\\-", "-");
    let (commands, options) = help_names(&[]);
    assert!(commands.len() >= 9 && options.contains(&"--param".to_string()), "{commands:?} {options:?}");
    let main = page("ntr.1");
    assert!(main.starts_with(".ie") && main.contains(".TH ntr 1"), "{main}");
    for o in &options {
        assert!(main.contains(&format!("\\fB{o}\\fR")), "ntr.1 lacks {o}");
    }
    let mut written: Vec<String> = run.stdout.lines().map(str::to_string).collect();
    written.sort();
    let mut expected: Vec<String> = std::iter::once("ntr.1".to_string())
        .chain(commands.iter().map(|c| format!("ntr-{c}.1")))
        .map(|f| dir.join(f).display().to_string())
        .collect();
    expected.sort();
    assert_eq!(written, expected, "one page per command, each named on stdout");
    for c in &commands {
        assert!(main.contains(&format!("ntr-{c}(1)")), "ntr.1 does not refer to ntr-{c}(1)");
        let sub = page(&format!("ntr-{c}.1"));
        let (_, sub_options) = help_names(&[c]);
        for o in &sub_options {
            assert!(sub.contains(&format!("\\fB{o}\\fR")), "ntr-{c}.1 lacks {o}:\n{sub}");
        }
    }
    // Without a directory, ntr.1 on stdout.
    let run = Run::from(ntr().arg("man").output().unwrap());
    run.ok();
    assert_eq!(run.stdout.replace("\\-", "-"), main);
    // A directory that is not there yet is made.
    let run = Run::from(ntr().arg("man").arg(dir.join("share/man1")).output().unwrap());
    run.ok();
    assert_eq!(std::fs::read_to_string(dir.join("share/man1/ntr.1")).unwrap().replace("\\-", "-"), main);
    // A file where the directory should be: said, naming it.
    let run = Run::from(ntr().arg("man").arg(dir.join("ntr.1")).output().unwrap());
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("cannot write the manual pages to") && run.stderr.contains("ntr.1`"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).ok();
}

/// What bash offers on Tab after `words` (the last one being completed), in
/// `cwd`: the registration `ntr completions bash` prints is sourced and its
/// function called the way bash's programmable completion does.
fn bash_completes(words: &[&str], cwd: &Path) -> Vec<String> {
    let script = r#"source <("$NTR" completions bash) || exit 9
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_TYPE=9
_clap_complete_ntr ntr "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#;
    let out =
        Command::new("bash").arg("-c").arg(script).arg("bash").args(words).env("NTR", env!("CARGO_BIN_EXE_ntr")).current_dir(cwd).output().unwrap();
    let run = Run::from(out);
    run.ok();
    run.stdout.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn stdlib_script_names() -> Vec<String> {
    let run = Run::from(ntr().args(["list", "scripts"]).output().unwrap());
    run.ok();
    run.stdout.lines().map(|l| l.split_whitespace().next().unwrap().to_string()).collect()
}

/// `param NAME: …` lines of a script's source, read as text.
fn declared(source: &str) -> Vec<String> {
    source.lines().filter_map(|l| l.trim_start().strip_prefix("param ")).map(|rest| format!("{}=", rest.split(':').next().unwrap().trim())).collect()
}

#[test]
fn completion_offers_stdlib_scripts_and_script_files() {
    let dir = scratch("ntr-complete");
    let scripts = stdlib_script_names();
    assert!(scripts.contains(&"dropwatch".to_string()), "{scripts:?}");
    let values = |words: &[&str]| bash_completes(words, &dir).into_iter().filter(|c| !c.starts_with('-')).collect::<Vec<_>>();
    assert_eq!(values(&["ntr", "run", ""]), scripts);
    assert_eq!(values(&["ntr", "help", ""]), scripts);
    assert_eq!(values(&["ntr", "run", "dr"]), ["dropwatch"]);
    // Script files and directories that may hold them; other files not.
    std::fs::write(dir.join("mine.ntr"), "begin { exit(); }\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "").unwrap();
    std::fs::create_dir(dir.join("more")).unwrap();
    assert_eq!(values(&["ntr", "check", "m"]), ["mine.ntr", "more/"]);
    assert_eq!(values(&["ntr", "run", "n"]), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn completion_offers_the_params_a_script_declares() {
    let dir = scratch("ntr-complete-params");
    let stdlib = Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib/scripts");
    for name in stdlib_script_names() {
        let source = std::fs::read_to_string(stdlib.join(format!("{name}.ntr"))).unwrap();
        let mut expected = declared(&source);
        assert!(name != "dropwatch" || expected.iter().any(|p| p == "dport="), "{expected:?}");
        expected.sort();
        let mut offered = bash_completes(&["ntr", "run", &name, "-p", ""], &dir);
        offered.sort();
        assert_eq!(offered, expected, "{name}");
    }
    assert_eq!(bash_completes(&["ntr", "run", "dropwatch", "--json", "--param", "dp"], &dir), ["dport="]);
    // A script file's own params, after other options too.
    std::fs::write(dir.join("mine.ntr"), "param limit: u64 = 5\nparam who: str = \"\"\nbegin { exit(); }\n").unwrap();
    assert_eq!(bash_completes(&["ntr", "check", "mine.ntr", "-p", ""], &dir), ["limit=", "who="]);
    assert_eq!(bash_completes(&["ntr", "run", "-d", "1s", "mine.ntr", "-p", "w"], &dir), ["who="]);
    // An `-e` program's params.
    assert_eq!(bash_completes(&["ntr", "-e", "param lim: u64 = 1\nbegin { exit(); }", "-p", ""], &dir), ["lim="]);
    // No script yet, or none by that name: nothing to offer.
    assert_eq!(bash_completes(&["ntr", "run", "nosuch", "-p", ""], &dir), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_shows_a_script_files_doc_lines() {
    let dir = scratch("ntr-help-file");
    let file = dir.join("mine.ntr");
    // Shown even when the script below does not parse.
    std::fs::write(&file, "## mine: count the drops I care about.\n##\n##   -p n=3   how many\n\nparam n: u64 = 3\nbegin { oops\n").unwrap();
    let run = Run::from(ntr().arg("help").arg(&file).output().unwrap());
    run.ok();
    assert_eq!(run.stdout, "mine: count the drops I care about.\n\n  -p n=3   how many\n");
    std::fs::write(&file, "begin { exit(); }\n").unwrap();
    let run = Run::from(ntr().arg("help").arg(&file).output().unwrap());
    run.ok();
    assert!(run.stdout.contains("no help text") && run.stdout.contains("`##`"), "{}", run.stdout);
    let run = Run::from(ntr().arg("help").arg(dir.join("nosuch.ntr")).output().unwrap());
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("no script file or stdlib script named") && run.stderr.contains("ntr list scripts"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).ok();
}

/// A copy of ntr and a script any user may read and run (the target
/// directory may not be reachable by them).
fn world_readable_copy(name: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ntr-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("ntr");
    std::fs::copy(env!("CARGO_BIN_EXE_ntr"), &bin).unwrap();
    std::fs::copy("examples/packet_sizes.ntr", dir.join("s.ntr")).unwrap();
    for (path, mode) in [(&dir, 0o755), (&bin, 0o755), (&dir.join("s.ntr"), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    (dir, bin)
}

/// Run `program args` as user nobody holding exactly `caps` (setpriv's
/// syntax, e.g. `+bpf,+perfmon`; empty for none).
fn as_nobody_with(caps: &str, program: &Path, args: &[&str]) -> Run {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    if !caps.is_empty() {
        c.arg(format!("--inh-caps={caps}")).arg(format!("--ambient-caps={caps}"));
    }
    Run::from(c.arg("--").arg(program).args(args).env("NO_COLOR", "1").stdin(std::process::Stdio::null()).output().expect("setpriv (util-linux)"))
}

#[test]
fn commands_that_read_nothing_from_the_kernel_need_no_privileges() {
    let (dir, bin) = world_readable_copy("noprivs");
    let script = dir.join("s.ntr");
    let commands: [&[&str]; 6] =
        [&["list", "scripts"], &["help", "dropwatch"], &["compile", script.to_str().unwrap()], &["man"], &["completions", "bash"], &["--version"]];
    for args in commands {
        let run = as_nobody_with("", &bin, args);
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("needs root"), "{args:?}: {}", run.stderr);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// CAP_BPF and CAP_PERFMON load programs, but tracefs is root's: without
/// CAP_DAC_READ_SEARCH, tracepoints would look absent, so ntr says what it
/// needs; given that capability, the same commands work.
#[test]
fn unreadable_tracefs_is_named_with_the_capability_that_reads_it() {
    let (dir, bin) = world_readable_copy("tracefs");
    let script = dir.join("s.ntr");
    let ls = Path::new("/bin/ls");
    assert_ne!(as_nobody_with("+bpf,+perfmon", ls, &["/sys/kernel/tracing/events"]).status, 0, "tracefs is readable without privileges here");
    as_nobody_with("+bpf,+perfmon,+dac_read_search", ls, &["/sys/kernel/tracing/events"]).ok();
    let commands: [&[&str]; 4] = [&["list", "sys_enter_openat"], &["check", script.to_str().unwrap()], &["info", "kfree_skb"], &["list", "reasons"]];
    for args in commands {
        let run = as_nobody_with("+bpf,+perfmon", &bin, args);
        assert_eq!(run.status, 1, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("cannot read tracefs") && run.stderr.contains("CAP_DAC_READ_SEARCH"), "{args:?}: {}", run.stderr);
        let run = as_nobody_with("+bpf,+perfmon,+dac_read_search", &bin, args);
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A run with fewer privileges than root says what it does without each,
/// and says nothing once it has them.
#[test]
fn a_run_with_fewer_privileges_says_what_it_does_without() {
    let _k = kernel_lock();
    let (dir, bin) = world_readable_copy("limits");
    let few = "+bpf,+perfmon,+dac_read_search";
    let all = "+bpf,+perfmon,+dac_read_search,+syslog,+sys_admin,+sys_ptrace,+net_admin";
    // Ground truth: what /proc/kallsyms shows such a process.
    let first_address = |caps| as_nobody_with(caps, Path::new("/usr/bin/head"), &["-c", "16", "/proc/kallsyms"]).stdout;
    assert!(first_address(few).bytes().all(|b| b == b'0'), "kallsyms shows addresses to {few}");
    assert!(!first_address(all).bytes().all(|b| b == b'0'), "kallsyms hides addresses from {all}");
    let limits = [
        "without CAP_NET_ADMIN, netfilter rules are not looked up",
        "/proc/kallsyms shows them with CAP_SYSLOG",
        "cannot enter other network namespaces",
    ];
    let run = as_nobody_with(few, &bin, &["-e", "begin { exit(); }"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    for limit in limits {
        assert!(run.stderr.contains(limit), "{limit}: {}", run.stderr);
    }
    let run = as_nobody_with(all, &bin, &["-e", "begin { exit(); }"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    for limit in limits {
        assert!(!run.stderr.contains(limit), "{limit}: {}", run.stderr);
    }
    // CAP_SYS_ADMIN does not read rulesets (nft, the ground truth, fails
    // without CAP_NET_ADMIN): the netfilter limit is said then too.
    let no_net_admin = "+bpf,+perfmon,+dac_read_search,+syslog,+sys_admin,+sys_ptrace";
    assert_ne!(as_nobody_with(no_net_admin, Path::new("/usr/sbin/nft"), &["list", "ruleset"]).status, 0, "nft reads rules without CAP_NET_ADMIN");
    let run = as_nobody_with(no_net_admin, &bin, &["-e", "begin { exit(); }"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stderr.contains(limits[0]), "{}", run.stderr);
    // Listing does not run anything: no such lines.
    let run = as_nobody_with(few, &bin, &["list", "kfree_skb"]);
    assert!(run.status == 0 && !limits.iter().any(|l| run.stderr.contains(l)), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).ok();
}
