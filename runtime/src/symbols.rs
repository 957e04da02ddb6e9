//! Kernel addresses to `function+0xoff` (blazesym over /proc/kallsyms),
//! cached: the first batch pays for reading kallsyms, later ones are cheap.

use std::collections::HashMap;

use blazesym::symbolize::source::{Kernel, Source};
use blazesym::symbolize::{Input, Symbolizer};

pub struct KernelSymbols {
    symbolizer: Option<Symbolizer>,
    cache: HashMap<u64, String>,
}

impl Default for KernelSymbols {
    fn default() -> KernelSymbols {
        KernelSymbols { symbolizer: None, cache: HashMap::new() }
    }
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
}
