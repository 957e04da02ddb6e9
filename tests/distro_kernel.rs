//! The kernels people run: Debian 12's own 6.1 kernel (the
//! `linux-image-cloud-amd64` package), booted under qemu with ntr and the
//! end-to-end test binaries in an initramfs. Inside, the same tests that run
//! here run against 6.1, where kprobes and fentry load; this side reads the
//! guest's console and asserts that every one of them ran and passed.
//!
//! Software emulation only (KVM inside this VM fails), so the guest is slow:
//! the suites run one test at a time and the whole stage is bounded.
//! `NTR_GUEST_TESTS="NAME …"` runs only the guest tests whose names contain
//! one of the NAMEs (while working on them); then only those are asserted.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The test binaries run inside the guest.
const SUITES: &[&str] = &["probes", "network", "core", "cli", "toolbox"];
/// Boot plus suites; past this the guest is killed and the test fails.
const GUEST_LIMIT: Duration = Duration::from_secs(28 * 60);

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Debian's current 6.1 cloud kernel, fetched through apt and unpacked once
/// per target directory. Returns the unpacked package's root.
fn debian_kernel(cache: &Path) -> PathBuf {
    let root = cache.join("kernel");
    if root.join("boot").exists() && root.join("lib/modules").exists() {
        return root;
    }
    let depends = |_: ()| sh(Command::new("apt-cache").args(["depends", "linux-image-cloud-amd64"]));
    let mut listing = depends(());
    if !listing.contains("Depends: linux-image-6.1") {
        // Stale or missing package lists on a fresh machine.
        sh(Command::new("apt-get").arg("update").arg("-qq"));
        listing = depends(());
    }
    let package = listing
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|p| p.starts_with("linux-image-6.1")))
        .unwrap_or_else(|| panic!("no 6.1 kernel behind linux-image-cloud-amd64:\n{listing}"))
        .to_string();
    let download = cache.join("download");
    std::fs::create_dir_all(&download).unwrap();
    sh(Command::new("apt-get").args(["download", "-q", &package]).current_dir(&download));
    let deb = std::fs::read_dir(&download).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|x| x == "deb")).unwrap();
    let unpacking = cache.join("kernel.partial");
    let _ = std::fs::remove_dir_all(&unpacking);
    sh(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacking));
    std::fs::rename(&unpacking, &root).unwrap();
    root
}

/// A test binary cargo built beside this one (`deps/NAME-HASH`), the newest
/// if several builds are there.
fn sibling_test_binary(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let file = p.file_name().unwrap().to_string_lossy();
            file.strip_prefix(name).and_then(|rest| rest.strip_prefix('-')).is_some_and(|hash| hash.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| panic!("no test binary {name} in {}: cargo test builds every test target first", deps.display()))
}

/// The names of a test binary's tests that run by default.
fn test_names(bin: &Path) -> Vec<String> {
    let all = sh(Command::new(bin).args(["--list", "--format", "terse"]));
    let ignored = sh(Command::new(bin).args(["--list", "--format", "terse", "--ignored"]));
    all.lines().filter(|l| !ignored.lines().any(|i| i == *l)).filter_map(|l| l.strip_suffix(": test")).map(String::from).collect()
}

fn filter() -> Option<String> {
    std::env::var("NTR_GUEST_TESTS").ok().filter(|f| !f.is_empty())
}

/// Boot `kernel` with `initrd`; the console's text once the guest powers off.
fn boot(kernel: &Path, initrd: &Path, log: &Path) -> String {
    let vmlinuz = std::fs::read_dir(kernel.join("boot"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("vmlinuz-"))
        .expect("vmlinuz in the package");
    let console = std::fs::File::create(log).unwrap();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-machine", "q35", "-cpu", "max", "-smp", "2", "-m", "2048", "-nographic", "-no-reboot", "-kernel"])
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!("console=ttyS0 panic=-1 quiet random.trust_cpu=on -- {}", filter().unwrap_or_default()))
        .stdin(Stdio::null())
        .stdout(console.try_clone().unwrap())
        .stderr(console)
        .spawn()
        .expect("qemu-system-x86_64 (.ci/run installs qemu-system-x86)");
    let start = Instant::now();
    while qemu.try_wait().unwrap().is_none() {
        if start.elapsed() > GUEST_LIMIT {
            let _ = qemu.kill();
            let _ = qemu.wait();
            panic!("the guest ran past {GUEST_LIMIT:?}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("guest: {:.0?} from boot to power-off", start.elapsed());
    String::from_utf8_lossy(&std::fs::read(log).unwrap()).into_owned()
}

#[test]
fn the_end_to_end_tests_pass_on_debian_6_1() {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-6.1");
    std::fs::create_dir_all(&cache).unwrap();
    let kernel = debian_kernel(&cache);
    let suites: Vec<(String, PathBuf)> = SUITES.iter().map(|s| (s.to_string(), sibling_test_binary(s))).collect();
    let initrd = cache.join("initrd.cpio");
    let mut build = Command::new("bash");
    build.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/distro/build-initramfs.sh")).arg(&kernel).arg(&initrd).arg(env!("CARGO_BIN_EXE_ntr"));
    // Tests read examples/ relative to the package, as under cargo test.
    let examples = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples")).unwrap().map(|e| e.unwrap().path());
    build.args(common::programs::all()).args(examples).arg("--").args(suites.iter().map(|(_, b)| b));
    build.current_dir(env!("CARGO_MANIFEST_DIR"));
    sh(&mut build);

    let log = cache.join("console.log");
    let console = boot(&kernel, &initrd, &log);
    let console = console.replace('\r', "");
    assert!(console.contains("ntr-guest: kernel 6.1."), "the guest runs Debian's 6.1 kernel:\n{console}");

    let mut failures = Vec::new();
    for (name, bin) in &suites {
        let start = format!("ntr-guest: suite {name} start\n");
        let Some(from) = console.find(&start) else {
            failures.push(format!("{name}: never started"));
            continue;
        };
        let text = &console[from + start.len()..];
        let text = &text[..text.find("ntr-guest: suite ").unwrap_or(text.len())];
        for test in test_names(bin).into_iter().filter(|t| filter().is_none_or(|f| f.split_whitespace().any(|f| t.contains(f)))) {
            if !text.contains(&format!("test {test} ... ok\n")) {
                failures.push(format!("{name}::{test} did not pass on 6.1"));
            }
        }
        if !console.contains(&format!("ntr-guest: suite {name} exit 0\n")) {
            failures.push(format!("{name}: exit status not 0"));
        }
    }
    assert!(failures.is_empty(), "{}\n\nguest console ({}):\n{console}", failures.join("\n"), log.display());
}
