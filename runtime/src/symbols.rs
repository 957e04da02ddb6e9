//! Kernel addresses to `function+0xoff` (blazesym over /proc/kallsyms),
//! cached: the first batch pays for reading kallsyms, later ones are cheap.

use std::collections::HashMap;

use std::path::PathBuf;

use blazesym::symbolize::source::{Elf, Kernel, Process, Source};
use blazesym::symbolize::{Input, Symbolizer};
use blazesym::Pid;

#[derive(Default)]
pub struct KernelSymbols {
    symbolizer: Option<Symbolizer>,
    cache: HashMap<u64, String>,
    /// File-backed mappings of processes seen in user stacks, read while
    /// they ran: stacks are often printed after their process exited.
    processes: HashMap<u32, Vec<Mapping>>,
}

/// One line of /proc/PID/maps with a file behind it.
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: PathBuf,
}

fn read_mappings(pid: u32) -> Option<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    Some(
        text.lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                let (range, _perms, offset) = (parts.next()?, parts.next()?, parts.next()?);
                let path = parts.nth(2).filter(|p| p.starts_with('/'))?;
                let (start, end) = range.split_once('-')?;
                Some(Mapping { start: hex(start)?, end: hex(end)?, offset: hex(offset)?, path: PathBuf::from(path) })
            })
            .collect(),
    )
}

impl KernelSymbols {
    /// `function+0xoff` (with ` [module]` for module code), or the address in
    /// hex when no symbol covers it.
    pub fn name(&mut self, addr: u64) -> String {
        self.names(&[addr]).pop().unwrap_or_default()
    }

    pub fn names(&mut self, addrs: &[u64]) -> Vec<String> {
        let missing: Vec<u64> = addrs.iter().copied().filter(|a| !self.cache.contains_key(a)).collect();
        if !missing.is_empty() {
            let symbolizer = self.symbolizer.get_or_insert_with(Symbolizer::new);
            let src = Source::Kernel(Kernel::default());
            let results = symbolizer.symbolize(&src, Input::AbsAddr(&missing)).unwrap_or_default();
            for (i, addr) in missing.iter().enumerate() {
                let text = results
                    .get(i)
                    .and_then(|r| r.as_sym())
                    .map(|s| {
                        let module = s.module.as_ref().map(|m| format!(" [{}]", m.to_string_lossy())).unwrap_or_default();
                        format!("{}+{:#x}{module}", s.name, s.offset)
                    })
                    .unwrap_or_else(|| format!("{addr:#x}"));
                self.cache.insert(*addr, text);
            }
        }
        addrs.iter().map(|a| self.cache.get(a).cloned().unwrap_or_default()).collect()
    }

    /// Read the mappings of process `pid` now, if not yet done.
    pub fn remember(&mut self, pid: u32) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.processes.entry(pid) {
            if let Some(m) = read_mappings(pid) {
                e.insert(m);
            }
        }
    }

    /// User addresses of process `pid` as `function+0xoff (binary)`, or
    /// `[unknown] 0xaddr` when the process is gone or has no symbol there.
    pub fn user_names(&mut self, pid: u32, addrs: &[u64]) -> Vec<String> {
        if let Some(maps) = self.processes.get(&pid) {
            let symbolizer = self.symbolizer.get_or_insert_with(Symbolizer::new);
            return addrs
                .iter()
                .map(|addr| {
                    let found = maps.iter().find(|m| (m.start..m.end).contains(addr)).and_then(|m| {
                        let src = Source::Elf(Elf::new(&m.path));
                        let sym = symbolizer.symbolize_single(&src, Input::FileOffset(addr - m.start + m.offset)).ok()?;
                        let sym = sym.as_sym()?;
                        let file = m.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                        Some(format!("{}+{:#x} ({file})", sym.name, sym.offset))
                    });
                    found.unwrap_or_else(|| format!("[unknown] {addr:#x}"))
                })
                .collect();
        }
        // A process gone before its mappings were read: its addresses
        // cannot be named, and the reason is said.
        // (A zombie's maps are empty.)
        if std::fs::read_to_string(format!("/proc/{pid}/maps")).map_or(true, |m| m.is_empty()) {
            return addrs.iter().map(|a| format!("[pid {pid} exited] {a:#x}")).collect();
        }
        let symbolizer = self.symbolizer.get_or_insert_with(Symbolizer::new);
        let src = Source::Process(Process::new(Pid::from(pid)));
        let results = symbolizer.symbolize(&src, Input::AbsAddr(addrs)).unwrap_or_default();
        addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                results
                    .get(i)
                    .and_then(|r| r.as_sym())
                    .map(|s| {
                        let module = s
                            .module
                            .as_ref()
                            .and_then(|m| std::path::Path::new(m).file_name().map(|f| format!(" ({})", f.to_string_lossy())))
                            .unwrap_or_default();
                        format!("{}+{:#x}{module}", s.name, s.offset)
                    })
                    .unwrap_or_else(|| format!("[unknown] {addr:#x}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    /// A process gone before its mappings were read: the address, and why
    /// it has no name (a pid above any pid_max, which no process has).
    #[test]
    fn an_exited_process_s_addresses_say_so() {
        let mut syms = super::KernelSymbols::default();
        assert_eq!(syms.user_names(4_194_400, &[0x1234]), ["[pid 4194400 exited] 0x1234"]);
    }
}
