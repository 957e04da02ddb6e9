//! The stdlib's name modules (`errno`, `signals`, `syscalls`,
//! `capabilities`) against the kernel headers they were generated from
//! (`/usr/include`): files only, no kernel, so not part of the guest stage.

/// The errno module's names are the kernel headers' (asm-generic).
#[test]
fn the_errno_module_names_every_error_number() {
    let module = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/modules/errno.ntr")).unwrap();
    let mut expected = Vec::new();
    for header in ["/usr/include/asm-generic/errno-base.h", "/usr/include/asm-generic/errno.h"] {
        for line in std::fs::read_to_string(header).unwrap().lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["#define", name, n, ..] = words[..] {
                if let Ok(n) = n.parse::<u32>() {
                    expected.push(format!("    if n == {n} {{ return \"{name}\"; }}"));
                }
            }
        }
    }
    let table: Vec<&str> = module.lines().filter(|l| l.starts_with("    if n == ")).collect();
    assert_eq!(table, expected);
}

/// The signals module's names are the kernel headers'.
#[test]
fn the_signals_module_names_every_signal() {
    let module = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/modules/signals.ntr")).unwrap();
    let mut expected: Vec<String> = Vec::new();
    for line in std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/signal.h").unwrap().lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["#define", name, n, ..] = words[..] {
            if let Ok(n @ 1..=31) = n.parse::<u32>() {
                // The first name of a number (SIGABRT, not SIGIOT).
                if !expected.iter().any(|l| l.starts_with(&format!("    if n == {n} "))) {
                    expected.push(format!("    if n == {n} {{ return \"{name}\"; }}"));
                }
            }
        }
    }
    let table: Vec<&str> = module.lines().filter(|l| l.starts_with("    if n == ") && !l.starts_with("    if n == 0 ")).collect();
    assert_eq!(table, expected);
}

/// The syscalls module's names are the x86_64 table of the kernel headers.
#[test]
fn the_syscalls_module_names_every_x86_64_call() {
    let module = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/modules/syscalls.ntr")).unwrap();
    let mut expected: Vec<(u32, String)> = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
        .unwrap()
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["#define", name, n] => Some((n.parse().ok()?, name.strip_prefix("__NR_")?.to_string())),
            _ => None,
        })
        .collect();
    expected.sort();
    let table: Vec<(u32, String)> = module
        .lines()
        .filter_map(|l| {
            let (n, rest) = l.trim().strip_prefix("if n == ")?.split_once(" { return \"")?;
            Some((n.parse().unwrap(), rest.strip_suffix("\"; }")?.to_string()))
        })
        .collect();
    assert_eq!(table, expected);
}

/// The capabilities module's names are the kernel headers'.
#[test]
fn the_capabilities_module_names_every_capability() {
    let module = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/modules/capabilities.ntr")).unwrap();
    let expected: Vec<String> = std::fs::read_to_string("/usr/include/linux/capability.h")
        .unwrap()
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["#define", name, n] if name.starts_with("CAP_") => Some(format!("    if n == {} {{ return \"{name}\"; }}", n.parse::<u32>().ok()?)),
            _ => None,
        })
        .collect();
    let table: Vec<&str> = module.lines().filter(|l| l.starts_with("    if n == ")).collect();
    assert_eq!(table, expected);
}
