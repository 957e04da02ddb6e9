//! Addresses of kernel symbols from /proc/kallsyms, for the few values
//! ntr compares against in BPF (e.g. conntrack's netfilter hook function),
//! and the module that defines a function.
//! The file lists every symbol, modules included; reading it costs tens of
//! milliseconds, so it is read only by scripts that need an address, once
//! per set of names.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};

/// The address of each name found (the first listed, for names that occur
/// in several modules). Absent names, or no readable file, give nothing.
pub fn addresses(names: &[&str]) -> HashMap<String, u64> {
    let mut found = HashMap::new();
    let Ok(file) = std::fs::File::open("/proc/kallsyms") else { return found };
    for line in BufReader::new(file).lines().map_while(|l| l.ok()) {
        let mut parts = line.split_ascii_whitespace();
        let (Some(addr), Some(_kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if names.contains(&name) && !found.contains_key(name) {
            // Without CAP_SYSLOG (or under kptr_restrict) every address reads 0.
            if let Ok(a) = u64::from_str_radix(addr, 16).map_err(drop).and_then(|a| if a == 0 { Err(()) } else { Ok(a) }) {
                found.insert(name.to_string(), a);
            }
        }
        if found.len() == names.len() {
            break;
        }
    }
    found
}

/// The loaded module that defines function `name`, from /proc/kallsyms
/// (`ADDR t NAME\t[MODULE]`). Built-in functions and unknown names give
/// `None`.
pub fn module_of(name: &str) -> Option<String> {
    let file = std::fs::File::open("/proc/kallsyms").ok()?;
    for line in BufReader::new(file).lines().map_while(|l| l.ok()) {
        let mut parts = line.split_ascii_whitespace();
        let (Some(_), Some(kind), Some(sym)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if sym == name && matches!(kind, "t" | "T") {
            return parts.next().and_then(|m| m.strip_prefix('[')?.strip_suffix(']')).map(String::from);
        }
    }
    None
}
