//! The checker: resolves names and probes against the kernel, types every
//! expression, inlines `fn`s, substitutes parameters, and produces the typed
//! program (`tir::Program`) the compiler lowers.

mod calls;
mod expr;
mod format;
mod ktypes;
mod labels;
mod libpcap;
mod maps;
mod net;
mod params;
mod pcap_filter;
mod probes;
mod scope;
mod stmt;
mod wildcards;

use std::collections::HashMap;

use crate::ast::{self, FnDecl, Item, ProbeBlock, ProbeSpec, ProbeSpecKind, Script};
use crate::diag::Diagnostic;
use crate::kernel::{AttachSupport, KernelTypes};
use crate::source::Span;
use crate::tir;
use crate::types::EnumDef;

pub use expr::near_misses;
pub use ktypes::printed_names;
pub use net::{CT_FIELDS, TUPLE_FIELDS};
pub use params::{parse_duration, DurationError, ParamValue};
pub(crate) use probes::quote_list;
pub use probes::{parse_probe, ProbeTarget};

pub struct CheckOptions<'a> {
    /// `-p NAME=VALUE` pairs, as given.
    pub params: &'a [(String, String)],
    pub attach: &'a dyn AttachSupport,
    /// Looks up namespaces and devices that parameters name; without it,
    /// such parameters can only be left at their defaults.
    pub host: Option<&'a dyn crate::host::Host>,
    /// The pid of the command `ntr run -c CMD` runs (`cpid`).
    pub cpid: Option<u32>,
    /// `pcap(skb)` statements capture up to this many bytes of each packet;
    /// `None`: they are checked, then left out (no capture file was asked for).
    pub snaplen: Option<u16>,
}

/// Check a script and the modules it uses (`scripts` in dependency order,
/// root last, as `modules::load` returns them). Probe blocks come from the
/// root; params and fns from every module.
pub fn check(scripts: &[&Script], kernel: &dyn KernelTypes, options: &CheckOptions) -> Result<tir::Program, Vec<Diagnostic>> {
    let first = check_pass(scripts, kernel, options, None);
    match first {
        // A map was read above the assignment that types it, or a later use
        // widened its strings: check again with every map's type known from
        // the first pass.
        Err((_, Some(maps))) => {
            let mut maps = maps;
            maps.widened = false;
            check_pass(scripts, kernel, options, Some(maps)).map_err(|(d, _)| d)
        }
        other => other.map_err(|(d, _)| d),
    }
}

type PassResult = Result<tir::Program, (Vec<Diagnostic>, Option<maps::MapTable>)>;

fn check_pass(scripts: &[&Script], kernel: &dyn KernelTypes, options: &CheckOptions, seed: Option<maps::MapTable>) -> PassResult {
    let mut checker = Checker::new(kernel, options.attach, options.host);
    checker.cpid = options.cpid;
    checker.snaplen = options.snaplen;
    let seeded = seed.is_some();
    if let Some(maps) = seed {
        checker.maps = maps;
    }
    checker.declare_items(scripts, options.params);
    if !checker.diags.is_empty() {
        return Err((checker.diags, None));
    }
    let mut probes = Vec::new();
    if let Some(root) = scripts.last() {
        for item in &root.items {
            if let Item::Probe(block) = item {
                probes.extend(checker.check_block(block));
            }
        }
    }
    let retry = !seeded && (checker.read_before_assign || checker.maps.widened);
    if !seeded && checker.maps.widened && checker.diags.is_empty() {
        // Typed with narrower strings than the maps now hold: check again.
        return Err((Vec::new(), Some(checker.maps)));
    }
    checker.finish(probes).map_err(|(d, maps)| (d, if retry { Some(maps) } else { None }))
}

pub(crate) struct Checker<'a> {
    pub(crate) kernel: &'a dyn KernelTypes,
    pub(crate) attach: &'a dyn AttachSupport,
    pub(crate) host: Option<&'a dyn crate::host::Host>,
    pub(crate) cpid: Option<u32>,
    pub(crate) params: HashMap<String, ParamValue>,
    /// `const NAME = VALUE` of the script and its modules, with where each was declared.
    pub(crate) consts: HashMap<String, (i64, Span)>,
    pub(crate) fns: HashMap<String, &'a FnDecl>,
    pub(crate) maps: maps::MapTable,
    pub(crate) enums: Vec<EnumDef>,
    pub(crate) enum_ids: HashMap<crate::kernel::TypeId, usize>,
    pub(crate) diags: Vec<Diagnostic>,
    /// Why each optional probe this kernel lacks was skipped.
    pub(crate) skipped: Vec<Diagnostic>,
    /// The last probe refused only because this kernel cannot attach it
    /// (its function and arguments are known): an optional one's body is
    /// still checked, and types its maps.
    pub(crate) unattachable: Option<probes::Resolved>,
    pub(crate) warnings: Vec<Diagnostic>,
    /// A map was read before any assignment gave it a type.
    pub(crate) read_before_assign: bool,
    /// `CheckOptions::snaplen`.
    pub(crate) snaplen: Option<u16>,
    /// A `pcap()` was left out (no snap length: no capture file).
    pub(crate) pcap_left_out: bool,
}

impl<'a> Checker<'a> {
    fn new(kernel: &'a dyn KernelTypes, attach: &'a dyn AttachSupport, host: Option<&'a dyn crate::host::Host>) -> Checker<'a> {
        Checker {
            kernel,
            attach,
            host,
            cpid: None,
            params: HashMap::new(),
            consts: HashMap::new(),
            fns: HashMap::new(),
            maps: maps::MapTable::default(),
            enums: Vec::new(),
            enum_ids: HashMap::new(),
            diags: Vec::new(),
            skipped: Vec::new(),
            unattachable: None,
            warnings: Vec::new(),
            read_before_assign: false,
            snaplen: None,
            pcap_left_out: false,
        }
    }

    fn declare_items(&mut self, scripts: &[&'a Script], given: &[(String, String)]) {
        let mut decls = Vec::new();
        for script in scripts {
            for item in &script.items {
                match item {
                    Item::Fn(f) => {
                        if let Some(prev) = self.fns.insert(f.name.name.clone(), f) {
                            self.diags.push(
                                Diagnostic::error(format!("function `{}` is defined twice", f.name.name), f.name.span, "second definition")
                                    .with_secondary(prev.name.span, "first definition"),
                            );
                        }
                    }
                    Item::Param(p) => decls.push(p),
                    Item::Const(c) => self.declare_const(c),
                    Item::Probe(_) | Item::Use(_) => {}
                }
            }
        }
        match params::resolve(self, &decls, given) {
            Ok(values) => self.params = values,
            Err(d) => self.diags.push(d),
        }
    }

    fn declare_const(&mut self, c: &ast::ConstDecl) {
        let Some(value) = stmt::const_int(&c.value) else {
            self.diags.push(
                Diagnostic::error("a const is a number", c.value.span, "not a number").with_help("e.g. `const AF_INET6 = 10`, `const MASK = 0xff`"),
            );
            return;
        };
        if let Some((_, prev)) = self.consts.insert(c.name.name.clone(), (value, c.name.span)) {
            self.diags.push(
                Diagnostic::error(format!("const `{}` is defined twice", c.name.name), c.name.span, "second definition")
                    .with_secondary(prev, "first definition"),
            );
        }
    }

    /// One typed probe per probe spec of the block (each has its own arguments).
    /// A probe written with a trailing `?` (as in SystemTap) is optional: one
    /// this kernel lacks is skipped, with the reason kept for the user.
    fn check_block(&mut self, block: &'a ProbeBlock) -> Vec<tir::Probe> {
        let mut out = Vec::new();
        for spec in &block.probes {
            let (spec, optional) = match &spec.kind {
                ProbeSpecKind::Named(text) if text.ends_with('?') => {
                    (ProbeSpec { kind: ProbeSpecKind::Named(text.trim_end_matches('?').to_string()), span: spec.span }, true)
                }
                _ => (spec.clone(), false),
            };
            // A pattern is the probes it matches; the first that fails speaks
            // for all (they fail alike: a kind of probe this kernel lacks).
            let (specs, pattern) = match &spec.kind {
                ProbeSpecKind::Named(text) if wildcards::is_pattern(text) => match wildcards::expand(self, text, spec.span) {
                    Ok(names) => (names.into_iter().map(|n| ProbeSpec { kind: ProbeSpecKind::Named(n), span: spec.span }).collect(), true),
                    Err(d) if optional => {
                        self.skipped.push(d.with_note("the probe is optional (`?`): skipped where nothing matches"));
                        continue;
                    }
                    Err(d) => {
                        self.diags.push(d);
                        continue;
                    }
                },
                _ => (vec![spec], false),
            };
            for spec in specs {
                if !self.check_probe(block, &spec, optional, &mut out) && pattern {
                    break;
                }
            }
        }
        out
    }

    /// Resolve one probe of `block` and check the body for it; false when it
    /// could not be resolved.
    fn check_probe(&mut self, block: &'a ProbeBlock, spec: &ProbeSpec, optional: bool, out: &mut Vec<tir::Probe>) -> bool {
        let resolved = match probes::resolve(self, spec) {
            Ok(r) => r,
            Err(d) if optional => {
                // Left out, but its errors are the script's on every kernel.
                if let Some(r) = self.unattachable.take() {
                    if let Err(e) = stmt::check_probe_body(self, r, block) {
                        self.diags.push(e);
                    }
                }
                self.skipped.push(d.with_note("the probe is optional (`?`): skipped where the kernel cannot attach it"));
                return false;
            }
            Err(d) => {
                self.unattachable = None;
                self.diags.push(d);
                return false;
            }
        };
        match stmt::check_probe_body(self, resolved, block) {
            Ok(probe) => out.push(probe),
            Err(d) => self.diags.push(d),
        }
        true
    }

    fn finish(self, probes: Vec<tir::Probe>) -> Result<tir::Program, (Vec<Diagnostic>, maps::MapTable)> {
        let Checker { maps, mut diags, enums, params, skipped, warnings, pcap_left_out, .. } = self;
        if !diags.is_empty() {
            return Err((diags, maps));
        }
        let decls = match maps.decls() {
            Ok(m) => m,
            Err(d) => {
                diags.push(d);
                return Err((diags, maps));
            }
        };
        if probes.is_empty() {
            if !skipped.is_empty() {
                return Err((skipped, maps));
            }
            let d = Diagnostic::global("the script has no probes").with_help("add a probe block, e.g. `on kfree_skb { @drops[reason] = count(); }`");
            return Err((vec![d], maps));
        }
        let mut params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.clone(), v.display.clone())).collect();
        params.sort();
        Ok(tir::Program { probes, maps: decls, enums, params, skipped, warnings, pcap_left_out })
    }
}
