//! Finding probes: `ntr list` (what can be probed, and how on this kernel)
//! and `ntr info` (a probe's arguments, a struct's fields); drop reasons are
//! `reasons.rs`'s.

use ntr_lang::check::{parse_probe, ProbeTarget};
use ntr_lang::diag::Diagnostic;
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::kernel::{AttachSupport, KType, KernelTypes, LookupError};
use ntr_runtime::features::Features;

use crate::report;

fn kernel() -> Result<KernelBtf, u8> {
    KernelBtf::from_sys().map_err(|e| {
        eprintln!("ntr: cannot read this kernel's types: {e}");
        1
    })
}

/// How a kernel function can be probed here: `fentry`, `kprobe`, or why not.
fn function_method(features: &Features, module: Option<&str>) -> String {
    match (module, features.fentry(), features.kprobe()) {
        (None, Ok(()), _) => "fentry".into(),
        (None, _, Ok(())) => "kprobe".into(),
        (None, Err(f), Err(k)) => format!("unavailable: {k}; {f}"),
        (Some(m), _, Ok(())) => format!("kprobe (module {m})"),
        (Some(m), _, Err(k)) => format!("unavailable (module {m}): {k}; {}", ntr_lang::kernel::modules::NO_FENTRY),
    }
}

/// What `ntr list KIND:PATTERN` lists.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// No kind given: tracepoints and kernel functions.
    Any,
    Tracepoint,
    RawTracepoint,
    /// Kernel functions, shown with the prefix the user wrote.
    Function(&'static str),
    Uprobe(&'static str),
    Profile,
}

fn kind_of(prefix: &str) -> Option<Kind> {
    Some(match prefix {
        "tracepoint" | "tp" | "t" => Kind::Tracepoint,
        "raw_tracepoint" | "raw_tp" | "rawtracepoint" | "rt" => Kind::RawTracepoint,
        "kprobe" | "k" => Kind::Function("kprobe"),
        "kretprobe" | "kr" => Kind::Function("kretprobe"),
        "fentry" | "f" => Kind::Function("fentry"),
        "fexit" | "fr" => Kind::Function("fexit"),
        "function" => Kind::Function("function"),
        "uprobe" | "u" => Kind::Uprobe("uprobe"),
        "uretprobe" | "ur" => Kind::Uprobe("uretprobe"),
        "profile" | "p" | "every" => Kind::Profile,
        _ => return None,
    })
}

/// `ntr list [PATTERN]`: probes matching a glob, each with the attach
/// method this kernel allows; kernel functions that cannot be probed here
/// are counted in one line with the reason, not listed.
pub fn list(pattern: Option<&str>) -> u8 {
    if pattern == Some("scripts") {
        for (name, text) in ntr_stdlib::scripts() {
            let doc = crate::pipeline::script_doc(text).unwrap_or_default();
            println!("{name:<16} {}", doc.lines().next().unwrap_or(""));
        }
        return 0;
    }
    if pattern == Some("reasons") {
        return crate::reasons::list();
    }
    let pattern = pattern.unwrap_or("*");
    let (kind, bare) = match pattern.split_once(':').and_then(|(k, rest)| Some((kind_of(k)?, rest))) {
        Some(k) => k,
        None => (Kind::Any, pattern),
    };
    let shown = match kind {
        Kind::Profile => list_timed(),
        Kind::Uprobe(prefix) => match list_uprobes(prefix, bare) {
            Ok(n) => n,
            Err(code) => return code,
        },
        _ => {
            let glob = match glob::Pattern::new(bare) {
                Ok(g) => g,
                Err(e) => return report::global(&Diagnostic::global(format!("invalid pattern `{pattern}`: {e}"))),
            };
            let kernel = match kernel() {
                Ok(k) => k,
                Err(code) => return code,
            };
            let mut shown = 0;
            if matches!(kind, Kind::Any | Kind::Tracepoint | Kind::RawTracepoint) {
                shown += list_tracepoints(&kernel, &glob, kind);
            }
            if matches!(kind, Kind::Any | Kind::Function(_)) {
                let prefix = if let Kind::Function(p) = kind { p } else { "function" };
                shown += list_functions(&kernel, &glob, prefix);
            }
            shown
        }
    };
    if shown == 0 {
        eprintln!("ntr: no probe matches `{pattern}`");
        return 1;
    }
    0
}

fn list_tracepoints(kernel: &KernelBtf, glob: &glob::Pattern, kind: Kind) -> usize {
    let mut shown = 0;
    for tp in kernel.tracepoints() {
        let name = tp.rsplit(':').next().unwrap_or(&tp);
        if !(glob.matches(&tp) || glob.matches(name)) {
            continue;
        }
        if kind == Kind::RawTracepoint {
            println!("{:<48} raw_tracepoint (arguments arg0…, and BTF names where BTF has them)", format!("raw_tracepoint:{name}"));
        } else {
            let method = if kernel.has_btf_tracepoint(name) { "tp_btf" } else { "tracepoint (arguments from tracefs)" };
            println!("{:<48} {method}", format!("tracepoint:{tp}"));
        }
        shown += 1;
    }
    shown
}

/// Kernel functions matching `glob`: each with its method where one works;
/// those that cannot be probed here, counted with the reason.
fn list_functions(kernel: &KernelBtf, glob: &glob::Pattern, prefix: &str) -> usize {
    let features = Features::default();
    let mut names: Vec<(String, Option<String>)> = kernel.functions().into_iter().filter(|f| glob.matches(f)).map(|f| (f, None)).collect();
    for module in ntr_lang::kernel::modules::with_btf() {
        names.extend(kernel.module_functions(&module).into_iter().filter(|f| glob.matches(f)).map(|f| (f, Some(module.clone()))));
    }
    names.sort();
    names.dedup();
    let mut builtin_method = None;
    // Reason → how many functions it keeps from being probed.
    let mut unavailable: Vec<(String, usize)> = Vec::new();
    let mut shown = 0;
    for (f, module) in &names {
        let method = match module {
            None => builtin_method.get_or_insert_with(|| function_method(&features, None)).clone(),
            Some(m) => function_method(&features, Some(m)),
        };
        match method.strip_prefix("unavailable") {
            Some(why) => {
                let why = why.trim_start_matches(':').trim().to_string();
                match unavailable.iter_mut().find(|(w, _)| *w == why) {
                    Some((_, n)) => *n += 1,
                    None => unavailable.push((why, 1)),
                }
            }
            None => {
                println!("{:<48} {method}", format!("{prefix}:{f}"));
                shown += 1;
            }
        }
    }
    for (why, n) in unavailable {
        println!("{n} kernel function{} match{} but cannot be probed here: {why}", if n == 1 { "" } else { "s" }, if n == 1 { "es" } else { "" });
        shown += n;
    }
    shown
}

/// `uprobe:FILE:PATTERN`: the functions of an executable or library (a
/// path, or a library's name as the dynamic linker finds it).
fn list_uprobes(prefix: &str, rest: &str) -> Result<usize, u8> {
    let (path, symbols) = rest.rsplit_once(':').unwrap_or((rest, "*"));
    let glob = glob::Pattern::new(symbols).map_err(|e| report::global(&Diagnostic::global(format!("invalid pattern `{symbols}`: {e}"))))?;
    let file = if path.contains('/') {
        std::path::PathBuf::from(path)
    } else {
        match ntr_lang::kernel::ld_cache::find(path) {
            Ok(Some(f)) => f,
            _ => return Err(report::global(&Diagnostic::global(format!("no library `{path}` in the dynamic linker's cache")))),
        }
    };
    let names = ntr_lang::kernel::elf_symbols::function_names(&file).map_err(|r| report::global(&Diagnostic::global(r.message)))?;
    let mut shown = 0;
    for name in names.iter().filter(|n| glob.matches(n)) {
        println!("{prefix}:{path}:{name}");
        shown += 1;
    }
    Ok(shown)
}

/// `profile:` and `every`: not names to list, but their forms and limits.
fn list_timed() -> usize {
    let max = ntr_lang::kernel::max_sample_rate().map(|m| format!(" (this kernel samples at most {m}hz)")).unwrap_or_default();
    println!("{:<48} sampling on every CPU at HZ times a second{max}", "profile:HZ (e.g. profile:99hz)");
    println!("{:<48} a period on one CPU", "every DURATION (e.g. every 1s)");
    2
}

/// `ntr info PROBE` or `ntr info struct NAME`.
pub fn info(what: &[String]) -> u8 {
    match what {
        [kw, name] if kw == "reason" => return crate::reasons::info(name),
        [kw, name] if kw == "builtin" => return builtin_info(name),
        [kw] if kw == "builtins" => {
            for b in ntr_lang::builtins::BUILTINS {
                println!("{:<40} {}", b.signature, b.kind.word());
            }
            return 0;
        }
        _ => {}
    }
    let kernel = match kernel() {
        Ok(k) => k,
        Err(code) => return code,
    };
    match what {
        [kw, name] if kw == "struct" || kw == "union" => struct_info(&kernel, name),
        [kw, name] if kw == "enum" => enum_info(&kernel, name),
        [probe] => probe_info(&kernel, probe),
        _ => report::global(&Diagnostic::global(
            "usage: ntr info PROBE, ntr info struct NAME, ntr info enum NAME, ntr info reason NAME, ntr info builtin NAME, or ntr info builtins",
        )),
    }
}

fn struct_info(kernel: &KernelBtf, name: &str) -> u8 {
    let Some(KType::Struct { id, size, .. } | KType::Union { id, size, .. }) = kernel.struct_by_name(name) else {
        return report::global(&Diagnostic::global(format!("no struct `{name}` in this kernel's BTF")));
    };
    println!("struct {name} ({size} bytes)");
    for m in kernel.members(id) {
        let bits = m.bitfield_bits.filter(|b| *b > 0).map(|b| format!(" : {b}")).unwrap_or_default();
        println!("  {:>6}  {}: {}{bits}", m.offset_bits / 8, if m.name.is_empty() { "(anonymous)" } else { &m.name }, kernel.type_name(&m.ty));
    }
    0
}

/// A builtin's catalogue entries: signature, kind, what it is, an example.
fn builtin_info(name: &str) -> u8 {
    let entries = ntr_lang::builtins::lookup(name);
    if entries.is_empty() {
        let all: Vec<String> = ntr_lang::builtins::all_names().iter().map(|n| n.to_string()).collect();
        let near = ntr_lang::check::near_misses(name, &all);
        let d = Diagnostic::global(format!("no builtin `{name}`"));
        let d = if near.is_empty() {
            d.with_help("`ntr info builtins` lists them")
        } else {
            d.with_help(format!("did you mean `{}`?", near.join("`, `")))
        };
        return report::global(&d);
    }
    for (i, b) in entries.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("{} ({})\n  {}\n  e.g. {}", b.signature, b.kind.word(), b.doc, b.example);
    }
    0
}

/// An enum's values, by value; an anonymous enum is named by one of its
/// constants, as in a cast.
fn enum_info(kernel: &KernelBtf, name: &str) -> u8 {
    let found = kernel.enum_by_name(name).or_else(|| kernel.enum_constant(name).map(|(k, _)| k));
    let Some(KType::Enum { id, .. }) = found else {
        return report::global(
            &Diagnostic::global(format!("no enum `{name}` in this kernel's BTF"))
                .with_help("name an enum (`skb_drop_reason`), or an anonymous one by a constant (`TCP_ESTABLISHED`)"),
        );
    };
    let mut values = kernel.enum_values(id);
    values.sort_by_key(|(n, v)| (*v, n.clone()));
    let shown = if kernel.enum_by_name(name).is_some() { name.to_string() } else { format!("(anonymous, defines {name})") };
    println!("enum {shown} ({} values)", values.len());
    for (n, v) in values {
        println!("  {v:>6}  {n}");
    }
    0
}

fn probe_info(kernel: &KernelBtf, probe: &str) -> u8 {
    // `function:NAME` is how `ntr list` shows kernel functions.
    if let Some(f) = probe.strip_prefix("function:") {
        return function_info(kernel, f);
    }
    let mut record = false;
    let (category, name) = match parse_probe(probe) {
        Ok(ProbeTarget::Tracepoint { category, name }) => (category, name),
        Ok(ProbeTarget::TracefsRecord { category, name }) => {
            record = true;
            (category, name)
        }
        Ok(ProbeTarget::RawTracepoint(name)) => (None, name),
        Ok(
            ProbeTarget::Kprobe { function, .. } | ProbeTarget::Kretprobe(function) | ProbeTarget::Fentry(function) | ProbeTarget::Fexit(function),
        ) => return function_info(kernel, &function),
        Ok(_) => return report::global(&Diagnostic::global(format!("`{probe}` has no kernel arguments to show"))),
        Err(e) => return report::global(&Diagnostic::global(format!("invalid probe `{probe}`: {e}"))),
    };
    match kernel.tracepoint(category.as_deref(), &name) {
        Ok(tp) => {
            let btf = tp.btf_args.as_ref().filter(|_| !record);
            let method = if btf.is_some() { "tp_btf" } else { "tracepoint, arguments from tracefs" };
            println!("{}:{}:{} ({method})", if record { "tracefs" } else { "tracepoint" }, tp.category, tp.name);
            if let Some(args) = btf {
                for a in args {
                    println!("  {}: {}", a.name, kernel.type_name(&a.ty));
                }
            } else if let Some(fields) = &tp.format {
                for f in fields.iter().filter(|f| !f.name.starts_with("common_")) {
                    println!("  {}", f.decl);
                }
            }
            0
        }
        Err(LookupError::NotFound { .. }) if kernel.function(&name).is_some() => function_info(kernel, &name),
        Err(LookupError::NotFound { suggestions }) => {
            let d = Diagnostic::global(format!("no probe named `{probe}`"));
            let d = if suggestions.is_empty() { d } else { d.with_help(format!("did you mean {}?", suggestions.join(", "))) };
            report::global(&d)
        }
        Err(LookupError::Ambiguous { candidates }) => report::global(
            &Diagnostic::global(format!("`{probe}` names several tracepoints")).with_help(format!("one of: {}", candidates.join(", "))),
        ),
        Err(LookupError::Unavailable(why)) => report::global(&Diagnostic::global(why)),
    }
}

fn function_info(kernel: &KernelBtf, name: &str) -> u8 {
    let Some(f) = kernel.function(name) else {
        return report::global(&Diagnostic::global(format!("no kernel function `{name}` in this kernel's BTF")));
    };
    println!("function:{name} ({})", function_method(&Features::default(), f.module.as_deref()));
    for a in &f.params {
        println!("  {}: {}", a.name, kernel.type_name(&a.ty));
    }
    println!("  returns {}", kernel.type_name(&f.ret));
    0
}
