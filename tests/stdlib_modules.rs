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

/// The value of each `const NAME = V` of a module (hex or decimal).
fn consts(module: &str) -> Vec<(String, u64)> {
    module
        .lines()
        .filter_map(|l| {
            let (name, v) = l.strip_prefix("const ")?.split_once(" = ")?;
            let v = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok()?,
                None => v.parse().ok()?,
            };
            Some((name.to_string(), v))
        })
        .collect()
}

/// `#define NAME VALUE` (C integer syntax: a leading 0 is octal) and
/// `NAME = VALUE,` enumerators of a header, with the prefix given.
fn header_numbers(path: &str, prefix: &str) -> Vec<(String, u64)> {
    let c_int = |v: &str| {
        let v = v.trim_end_matches(',');
        if v.len() > 1 && v.starts_with('0') {
            u64::from_str_radix(&v[1..], 8).ok()
        } else {
            v.parse().ok()
        }
    };
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["#define", name, v, ..] if name.starts_with(prefix) => Some((name.to_string(), c_int(v)?)),
            [name, "=", v, ..] if name.starts_with(prefix) => Some((name.to_string(), c_int(v)?)),
            _ => None,
        })
        .collect()
}

/// The socket module's constants and names are the C library's headers':
/// address families (each AF_ as its PF_), socket types, IP protocols.
#[test]
fn the_socket_module_is_the_headers_numbers() {
    let module = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/modules/socket.ntr")).unwrap();
    let pf = header_numbers("/usr/include/x86_64-linux-gnu/bits/socket.h", "PF_");
    let af: Vec<(String, u64)> = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/bits/socket.h")
        .unwrap()
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            ["#define", name, v] if name.starts_with("AF_") => Some((name.to_string(), pf.iter().find(|(p, _)| p == v)?.1)),
            _ => None,
        })
        .collect();
    let sock = header_numbers("/usr/include/x86_64-linux-gnu/bits/socket_type.h", "SOCK_");
    let proto = header_numbers("/usr/include/netinet/in.h", "IPPROTO_");
    let expected: Vec<(String, u64)> = af.iter().chain(&sock).chain(&proto).cloned().collect();
    assert!(expected.len() > 80, "{expected:?}");
    assert_eq!(consts(&module), expected);
    // Each name function: the first name of each number, in header order.
    let table = |fname: &str| -> Vec<(u64, String)> {
        let body = module.split(&format!("fn {fname}(n) {{\n")).nth(1).unwrap().split("\n}").next().unwrap();
        body.lines()
            .filter_map(|l| {
                let (n, rest) = l.trim().strip_prefix("if n == ")?.split_once(" { return \"")?;
                Some((n.parse().unwrap(), rest.strip_suffix("\"; }")?.to_string()))
            })
            .collect()
    };
    let firsts = |items: &[(String, u64)]| -> Vec<(u64, String)> {
        let mut out: Vec<(u64, String)> = Vec::new();
        for (name, v) in items {
            if !out.iter().any(|(n, _)| n == v) {
                out.push((*v, name.clone()));
            }
        }
        out
    };
    assert_eq!(table("afname"), firsts(&af));
    assert_eq!(table("ipproto"), firsts(&proto));
    let types: Vec<(String, u64)> = sock.iter().filter(|(_, v)| *v < 0x800).cloned().collect();
    assert_eq!(table("socktype"), firsts(&types));
}
