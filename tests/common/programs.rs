//! C programs the tests probe, built with gcc where it is installed. A guest
//! kernel in qemu has no compiler: tests/distro_kernel.rs builds them here and
//! ships the binaries at the same paths, and the guest uses those.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A function to probe (`ntr_target`, called N times with 40+i and "hello",
/// returning 2x+5), a loop to sample (`spin SECONDS`), and a function whose
/// symbol has no size (`ntr_unsized`, so any offset passes the check).
const PROBE_TARGET: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
__attribute__((noinline)) int ntr_target(int x, const char *s) { __asm__ volatile(""); return x * 2 + (int)strlen(s); }
__attribute__((noinline)) unsigned long ntr_spin(unsigned long n) { unsigned long x = 0; for (unsigned long i = 0; i < n; i++) x += i * i ^ (x >> 3); return x; }
__asm__(".text\n.globl ntr_unsized\n.type ntr_unsized,@function\nntr_unsized:\n ret\n");
int main(int argc, char **argv) {
    const char *word = "hello";
    if (argc > 1 && strcmp(argv[1], "spin") == 0) {
        time_t end = time(0) + atoi(argv[2]); unsigned long s = 0;
        while (time(0) < end) s += ntr_spin(1000000);
        return (int)(s & 1);
    }
    int n = atoi(argv[1]), sum = 0;
    printf("%s\n", word); /* the string's page is in memory before the probe reads it */
    for (int i = 0; i < n; i++) sum += ntr_target(40 + i, word);
    printf("%d\n", sum);
    return 0;
}
"#;

fn build(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = dir.join(name);
    if Command::new("gcc").arg("--version").output().is_err() {
        assert!(bin.exists(), "no gcc to build {name}, and no prebuilt {}", bin.display());
        return bin;
    }
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let ok = Command::new("gcc").args(["-O1", "-g", "-fno-omit-frame-pointer"]).args(flags).arg("-o").arg(&bin).arg(&src).status().expect("gcc");
    assert!(ok.success(), "gcc {name}");
    bin
}

pub fn probe_target() -> PathBuf {
    build("ntr_probe_target", PROBE_TARGET, &[])
}

/// The same, stripped: no `.symtab`, so `ntr_target` is in no table.
pub fn stripped_probe_target() -> PathBuf {
    build("ntr_probe_target_stripped", PROBE_TARGET, &["-s"])
}

/// Every program, built: what a guest without gcc needs.
pub fn all() -> Vec<PathBuf> {
    vec![probe_target(), stripped_probe_target()]
}
