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

/// `ntr list [PATTERN]`: tracepoints and kernel functions matching a glob,
/// each with the attach method this kernel allows.
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
    let kernel = match kernel() {
        Ok(k) => k,
        Err(code) => return code,
    };
    let pattern = pattern.unwrap_or("*");
    let (kind, bare) = match pattern.split_once(':') {
        Some((k @ ("tracepoint" | "kprobe" | "fentry" | "function"), rest)) => (Some(k), rest),
        _ => (None, pattern),
    };
    let glob = match glob::Pattern::new(bare) {
        Ok(g) => g,
        Err(e) => return report::global(&Diagnostic::global(format!("invalid pattern `{pattern}`: {e}"))),
    };
    let mut shown = 0;
    if kind.is_none_or(|k| k == "tracepoint") {
        for tp in kernel.tracepoints() {
            let name = tp.rsplit(':').next().unwrap_or(&tp);
            if glob.matches(&tp) || glob.matches(name) {
                let method = if kernel.has_btf_tracepoint(name) { "tp_btf" } else { "tracepoint (arguments from tracefs)" };
                println!("{:<48} {method}", format!("tracepoint:{tp}"));
                shown += 1;
            }
        }
    }
    if kind.is_none_or(|k| k != "tracepoint") {
        let features = Features::default();
        let mut method = None;
        let mut names: Vec<(String, Option<String>)> = kernel.functions().into_iter().filter(|f| glob.matches(f)).map(|f| (f, None)).collect();
        for module in ntr_lang::kernel::modules::with_btf() {
            names.extend(kernel.module_functions(&module).into_iter().filter(|f| glob.matches(f)).map(|f| (f, Some(module.clone()))));
        }
        names.sort();
        names.dedup();
        for (f, module) in names {
            let m = match &module {
                None => method.get_or_insert_with(|| function_method(&features, None)).clone(),
                Some(m) => function_method(&features, Some(m)),
            };
            println!("{:<48} {m}", format!("function:{f}"));
            shown += 1;
        }
    }
    if shown == 0 {
        eprintln!("ntr: no probe matches `{pattern}`");
        return 1;
    }
    0
}

/// `ntr info PROBE` or `ntr info struct NAME`.
pub fn info(what: &[String]) -> u8 {
    if let [kw, name] = what {
        if kw == "reason" {
            return crate::reasons::info(name);
        }
    }
    let kernel = match kernel() {
        Ok(k) => k,
        Err(code) => return code,
    };
    match what {
        [kw, name] if kw == "struct" || kw == "union" => struct_info(&kernel, name),
        [probe] => probe_info(&kernel, probe),
        _ => report::global(&Diagnostic::global("usage: ntr info PROBE, ntr info struct NAME, or ntr info reason NAME")),
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

fn probe_info(kernel: &KernelBtf, probe: &str) -> u8 {
    // `function:NAME` is how `ntr list` shows kernel functions.
    if let Some(f) = probe.strip_prefix("function:") {
        return function_info(kernel, f);
    }
    let (category, name) = match parse_probe(probe) {
        Ok(ProbeTarget::Tracepoint { category, name }) => (category, name),
        Ok(ProbeTarget::RawTracepoint(name)) => (None, name),
        Ok(
            ProbeTarget::Kprobe { function, .. } | ProbeTarget::Kretprobe(function) | ProbeTarget::Fentry(function) | ProbeTarget::Fexit(function),
        ) => return function_info(kernel, &function),
        Ok(_) => return report::global(&Diagnostic::global(format!("`{probe}` has no kernel arguments to show"))),
        Err(e) => return report::global(&Diagnostic::global(format!("invalid probe `{probe}`: {e}"))),
    };
    match kernel.tracepoint(category.as_deref(), &name) {
        Ok(tp) => {
            let method = if tp.btf_args.is_some() { "tp_btf" } else { "tracepoint, arguments from tracefs" };
            println!("tracepoint:{}:{} ({method})", tp.category, tp.name);
            if let Some(args) = &tp.btf_args {
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
