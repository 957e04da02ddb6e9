//! C programs the tests probe, built with gcc where it is installed. A guest
//! kernel in qemu has no compiler: tests/distro_kernel.rs builds them here and
//! ships the binaries at the same paths, and the guest uses those.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A function to probe (`ntr_target`, called N times with 40+i and "hello",
/// returning 2x+5), a loop to sample (`spin SECONDS`), a function whose
/// symbol has no size (`ntr_unsized`, so any offset passes the check), and
/// one whose instructions are known (`ntr_insns`: a 5-byte `mov`, a 1-byte
/// `nop`, a 1-byte `ret`, at offsets 0, 5 and 6); `bytes` calls
/// `consume_buffer(p, n)` with `BYTES` and 12, then with the unmapped address 16
/// and 4; `sort` calls libc's `qsort` with the comparator `cmp_ints`, then
/// sleeps a second.
/// The bytes `consume_buffer` is called with (its first 12).
pub const BYTES: [u8; 16] = [b'h', b'i', 0, 1, 0x7f, 0xff, b'\\', b'"', b'\n', b' ', b'o', b'k', b'~', 0x80, b'A', b'B'];
const PROBE_TARGET: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
__attribute__((noinline)) int ntr_target(int x, const char *s) { __asm__ volatile(""); return x * 2 + (int)strlen(s); }
__attribute__((noinline)) int consume_buffer(const unsigned char *p, int n) { __asm__ volatile(""); return n + (int)((long)p & 1); }
static const unsigned char bytes[16] = {'h', 'i', 0, 1, 0x7f, 0xff, '\\', '"', '\n', ' ', 'o', 'k', '~', 0x80, 'A', 'B'};
__attribute__((noinline)) int cmp_ints(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
__attribute__((noinline)) unsigned long ntr_spin(unsigned long n) { unsigned long x = 0; for (unsigned long i = 0; i < n; i++) x += i * i ^ (x >> 3); return x; }
__asm__(".text\n.globl ntr_unsized\n.type ntr_unsized,@function\nntr_unsized:\n ret\n");
__asm__(".text\n.globl ntr_insns\n.type ntr_insns,@function\nntr_insns:\n .byte 0xb8, 0x78, 0x56, 0x34, 0x12\n nop\n ret\n.size ntr_insns, 7\n");
int main(int argc, char **argv) {
    const char *word = "hello";
    if (argc > 1 && strcmp(argv[1], "spin") == 0) {
        time_t end = time(0) + atoi(argv[2]); unsigned long s = 0;
        while (time(0) < end) s += ntr_spin(1000000);
        return (int)(s & 1);
    }
    if (argc > 1 && strcmp(argv[1], "sort") == 0) {
        int v[3] = {3, 1, 2};
        qsort(v, 3, sizeof v[0], cmp_ints);
        /* Alive a while: its addresses are named from its mappings. */
        sleep(1);
        return v[0] - 1;
    }
    if (argc > 1 && strcmp(argv[1], "bytes") == 0) {
        printf("%d\n", bytes[0]); /* the page is in memory before the probe reads it */
        printf("%d\n", consume_buffer(bytes, 12) + consume_buffer((const unsigned char *)16, 4));
        return 0;
    }
    int n = atoi(argv[1]), sum = 0;
    printf("%s\n", word); /* the string's page is in memory before the probe reads it */
    for (int i = 0; i < n; i++) sum += ntr_target(40 + i, word);
    printf("%d\n", sum);
    return 0;
}
"#;

/// The workloads of the toolbox tests, each printing what it did (the
/// ground truth the scripts are checked against):
/// `exec PATH ARGV0 ARG…` execs PATH with that argv, printing -errno where
/// that fails;
/// `open PATH FLAGS` opens with those (hex) flags, printing the fd or -errno
/// (`openat2 PATH FLAGS` the same through openat2);
/// `kill PID SIG` prints kill's result, 0 or -errno, `tgkill TGID TID SIG`
/// tgkill's;
/// `getppid N` calls getppid N times;
/// `connect PORT [BIND]` connects to 127.0.0.1:PORT (from port BIND),
/// printing the local port, connect's result (0 or -errno) and how long
/// connect took in microseconds;
/// `chown PATH UID [nocap]` chowns (without CAP_CHOWN in its effective set
/// with `nocap`), printing 0 or -errno;
/// `alloc MB` waits for a line on stdin, then fills MB megabytes;
/// `sleeps N` waits for a line on stdin, sleeps 1 ms N times, prints
/// `done` and waits for another line.
const TOOLBOX_HELPER: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/capability.h>
#include <linux/openat2.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(argv[1], "exec") == 0 && argc > 3) {
        execv(argv[2], argv + 3);
        printf("%d\n", -errno);
        return 1;
    }
    if (strcmp(argv[1], "open") == 0 && argc == 4) {
        long fd = syscall(SYS_openat, AT_FDCWD, argv[2], (int)strtol(argv[3], NULL, 16), 0600);
        printf("%ld\n", fd < 0 ? (long)-errno : fd);
        return 0;
    }
    if (strcmp(argv[1], "openat2") == 0 && argc == 4) {
        struct open_how how = {.flags = strtoul(argv[3], NULL, 16), .mode = 0600};
        long fd = syscall(SYS_openat2, AT_FDCWD, argv[2], &how, sizeof how);
        printf("%ld\n", fd < 0 ? (long)-errno : fd);
        return 0;
    }
    if (strcmp(argv[1], "kill") == 0 && argc == 4) {
        int r = kill(atoi(argv[2]), atoi(argv[3]));
        printf("%d\n", r < 0 ? -errno : 0);
        return 0;
    }
    if (strcmp(argv[1], "tgkill") == 0 && argc == 5) {
        long r = syscall(SYS_tgkill, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
        printf("%d\n", r < 0 ? -errno : 0);
        return 0;
    }
    if (strcmp(argv[1], "connect") == 0 && argc >= 3) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (argc == 4) {
            a.sin_port = htons(atoi(argv[3]));
            if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) return 3;
        }
        a.sin_port = htons(atoi(argv[2]));
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = connect(s, (struct sockaddr *)&a, sizeof a) < 0 ? -errno : 0;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        struct sockaddr_in l;
        socklen_t len = sizeof l;
        getsockname(s, (struct sockaddr *)&l, &len);
        long us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
        printf("%d %d %ld\n", argc == 4 ? atoi(argv[3]) : ntohs(l.sin_port), r, us);
        close(s);
        return 0;
    }
    if (strcmp(argv[1], "chown") == 0 && argc >= 4) {
        if (argc == 5) {
            struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
            struct __user_cap_data_struct d[2];
            if (syscall(SYS_capget, &h, d) < 0) return 3;
            d[0].effective &= ~(1u << CAP_CHOWN);
            if (syscall(SYS_capset, &h, d) < 0) return 3;
        }
        printf("%d\n", chown(argv[2], atoi(argv[3]), -1) < 0 ? -errno : 0);
        return 0;
    }
    if (strcmp(argv[1], "alloc") == 0 && argc == 3) {
        char line[8];
        if (!fgets(line, sizeof line, stdin)) return 3;
        for (long i = 0; i < atol(argv[2]); i++) memset(malloc(1 << 20), 1, 1 << 20);
        printf("survived\n");
        return 0;
    }
    if (strcmp(argv[1], "sleeps") == 0 && argc == 3) {
        char line[8];
        if (!fgets(line, sizeof line, stdin)) return 3;
        for (int i = atoi(argv[2]); i > 0; i--) usleep(1000);
        printf("done\n");
        if (!fgets(line, sizeof line, stdin)) return 0;
        return 0;
    }
    if (strcmp(argv[1], "getppid") == 0 && argc == 3) {
        for (int i = atoi(argv[2]); i > 0; i--) syscall(SYS_getppid);
        return 0;
    }
    return 2;
}
"#;

/// Build `name` once per test process, into a file that appears whole:
/// tests run in parallel, and one must never run a binary another is
/// still writing (it would be empty, not ELF).
fn build(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = built.get(name) {
        return bin.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = dir.join(name);
    if Command::new("gcc").arg("--version").output().is_err() {
        assert!(bin.exists(), "no gcc to build {name}, and no prebuilt {}", bin.display());
        return bin;
    }
    let src = dir.join(format!("{name}.{}.c", std::process::id()));
    let partial = dir.join(format!("{name}.{}.partial", std::process::id()));
    std::fs::write(&src, source).unwrap();
    let ok = Command::new("gcc").args(["-O1", "-g", "-fno-omit-frame-pointer"]).args(flags).arg("-o").arg(&partial).arg(&src).status().expect("gcc");
    assert!(ok.success(), "gcc {name}");
    std::fs::remove_file(&src).ok();
    std::fs::rename(&partial, &bin).unwrap();
    built.insert(name.to_string(), bin.clone());
    bin
}

pub fn probe_target() -> PathBuf {
    build("ntr_probe_target", PROBE_TARGET, &[])
}

/// The same, stripped: no `.symtab`, so `ntr_target` is in no table.
pub fn stripped_probe_target() -> PathBuf {
    build("ntr_probe_target_stripped", PROBE_TARGET, &["-s"])
}

pub fn toolbox_helper() -> PathBuf {
    build("ntr_toolbox", TOOLBOX_HELPER, &[])
}

/// Every program, built: what a guest without gcc needs.
pub fn all() -> Vec<PathBuf> {
    vec![probe_target(), stripped_probe_target(), toolbox_helper()]
}
