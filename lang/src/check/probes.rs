//! Probe specs: parsing the text after `on`, resolving it against the kernel
//! (picking the attach method this kernel allows), and naming the arguments
//! the probe body can use.

use crate::ast::{ProbeSpec, ProbeSpecKind};
use crate::diag::Diagnostic;
use crate::kernel::{KType, KernelFunction, LookupError, ProbeArg};
use crate::source::Span;
use crate::tir::Attach;
use crate::types::Type;

use super::Checker;

/// What a probe spec names, before asking the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeTarget {
    Begin,
    End,
    Every(u64),
    /// `kfree_skb` (category looked up), `skb:kfree_skb`, `tracepoint:skb:kfree_skb`.
    Tracepoint {
        category: Option<String>,
        name: String,
    },
    RawTracepoint(String),
    /// `tracefs:CAT:NAME`: a tracepoint as a classic one, its arguments the
    /// fields of its tracefs record, even where BTF describes it.
    TracefsRecord {
        category: Option<String>,
        name: String,
    },
    Kprobe {
        function: String,
        offset: u64,
    },
    Kretprobe(String),
    Fentry(String),
    Fexit(String),
    Uprobe {
        path: String,
        symbol: String,
        offset: u64,
        ret: bool,
    },
    Profile {
        hz: u64,
    },
}

/// Parse the text of a named probe. Errors are plain words for a diagnostic.
pub fn parse_probe(text: &str) -> Result<ProbeTarget, String> {
    let (kind, rest) = match text.split_once(':') {
        Some((k, r)) => (k, r),
        None => return Ok(ProbeTarget::Tracepoint { category: None, name: text.to_string() }),
    };
    let need = |what: &str| -> Result<(), String> {
        if rest.is_empty() {
            Err(format!("`{kind}:` needs {what}"))
        } else {
            Ok(())
        }
    };
    match kind {
        "tracepoint" | "tp" | "t" => {
            need("`CATEGORY:NAME`")?;
            match rest.split_once(':') {
                Some((c, n)) if !c.is_empty() && !n.is_empty() => Ok(ProbeTarget::Tracepoint { category: Some(c.into()), name: n.into() }),
                _ => Ok(ProbeTarget::Tracepoint { category: None, name: rest.into() }),
            }
        }
        "tracefs" => {
            need("`CATEGORY:NAME`")?;
            match rest.split_once(':') {
                Some((c, n)) if !c.is_empty() && !n.is_empty() => Ok(ProbeTarget::TracefsRecord { category: Some(c.into()), name: n.into() }),
                _ => Ok(ProbeTarget::TracefsRecord { category: None, name: rest.into() }),
            }
        }
        "raw_tracepoint" | "raw_tp" | "rawtracepoint" => {
            need("a tracepoint name")?;
            Ok(ProbeTarget::RawTracepoint(rest.into()))
        }
        "kprobe" | "k" => {
            need("a kernel function")?;
            let (function, offset) = split_offset(rest)?;
            Ok(ProbeTarget::Kprobe { function, offset })
        }
        "kretprobe" | "kr" => {
            need("a kernel function")?;
            Ok(ProbeTarget::Kretprobe(rest.into()))
        }
        "fentry" | "f" => {
            need("a kernel function")?;
            Ok(ProbeTarget::Fentry(rest.into()))
        }
        "fexit" | "fr" => {
            need("a kernel function")?;
            Ok(ProbeTarget::Fexit(rest.into()))
        }
        "uprobe" | "uretprobe" | "u" | "ur" => {
            let ret = kind.starts_with("ur");
            let (path, sym) =
                rest.rsplit_once(':').filter(|(p, s)| !p.is_empty() && !s.is_empty()).ok_or_else(|| format!("`{kind}:` needs `PATH:SYMBOL`"))?;
            let (symbol, offset) = split_offset(sym)?;
            Ok(ProbeTarget::Uprobe { path: path.into(), symbol, offset, ret })
        }
        "profile" | "p" => {
            let digits = rest.trim_end_matches("hz");
            let hz: u64 = digits.parse().map_err(|_| format!("`{rest}` is not a rate: write e.g. `profile:99hz`"))?;
            if hz == 0 {
                return Err("a sampling rate must be at least 1hz".into());
            }
            Ok(ProbeTarget::Profile { hz })
        }
        _ => Ok(ProbeTarget::Tracepoint { category: Some(kind.into()), name: rest.into() }),
    }
}

fn split_offset(text: &str) -> Result<(String, u64), String> {
    match text.split_once('+') {
        None => Ok((text.into(), 0)),
        Some((name, off)) => {
            let parsed = match off.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => off.parse(),
            };
            parsed.map(|o| (name.into(), o)).map_err(|_| format!("`{off}` is not an offset"))
        }
    }
}

/// Where a probe argument's value comes from.
#[derive(Clone, Debug)]
pub(crate) enum ArgSource {
    /// u64 slot of the context (tp_btf, raw_tp, fentry).
    Slot(u16),
    /// A field of the context record (classic tracepoints, pt_regs).
    Field { offset: u16, size: u8, signed: bool },
    /// A `__data_loc` string of a classic tracepoint record.
    DataLocStr { offset: u16 },
}

#[derive(Clone, Debug)]
pub(crate) struct Arg {
    pub name: String,
    pub source: ArgSource,
    pub ty: Type,
}

pub(crate) struct Resolved {
    pub attach: Attach,
    pub name: String,
    pub span: Span,
    pub args: Vec<Arg>,
    /// A tp_btf probe's tracefs record fields (reachable with `tracefs:`).
    pub record_fields: Vec<String>,
}

/// x86-64 `struct pt_regs` offsets of the argument registers and the return value.
const PT_REGS_ARGS: [u16; 6] = [112, 104, 96, 88, 72, 64];
const PT_REGS_RET: u16 = 80;

pub(crate) fn resolve(cx: &mut Checker, spec: &ProbeSpec) -> Result<Resolved, Diagnostic> {
    let span = spec.span;
    let simple = |attach: Attach, name: String| Resolved { attach, name, span, args: Vec::new(), record_fields: Vec::new() };
    let text = match &spec.kind {
        ProbeSpecKind::Begin => return Ok(simple(Attach::Begin, "begin".into())),
        ProbeSpecKind::End => return Ok(simple(Attach::End, "end".into())),
        ProbeSpecKind::Every(ns) => {
            if *ns == 0 {
                return Err(Diagnostic::error("`every` needs a period above zero", span, "zero period"));
            }
            return Ok(simple(Attach::Every { period_ns: *ns }, format!("every {}", fmt_ns(*ns))));
        }
        ProbeSpecKind::Named(text) => text,
    };
    let target = parse_probe(text).map_err(|e| Diagnostic::error(format!("invalid probe `{text}`"), span, e))?;
    match target {
        ProbeTarget::Begin | ProbeTarget::End | ProbeTarget::Every(_) => unreachable_spec(span),
        ProbeTarget::Tracepoint { category, name } => tracepoint(cx, category.as_deref(), &name, false, span),
        ProbeTarget::TracefsRecord { category, name } => tracepoint(cx, category.as_deref(), &name, true, span),
        ProbeTarget::RawTracepoint(name) => raw_tracepoint(cx, &name, span),
        ProbeTarget::Fentry(f) => function_probe(cx, &f, FnKind::Fentry, span),
        ProbeTarget::Fexit(f) => function_probe(cx, &f, FnKind::Fexit, span),
        ProbeTarget::Kprobe { function, offset } => function_probe(cx, &function, FnKind::Kprobe(offset), span),
        ProbeTarget::Kretprobe(f) => function_probe(cx, &f, FnKind::Kretprobe, span),
        ProbeTarget::Uprobe { path, symbol, offset, ret } => {
            let file = uprobe_file(&path, span)?;
            crate::kernel::elf_symbols::check_uprobe(&file, &symbol, offset).map_err(|r| refusal(r, span))?;
            let name = format!("{}:{path}:{symbol}", if ret { "uretprobe" } else { "uprobe" });
            let args = if ret { vec![retval_arg()] } else { pt_regs_args(None) };
            Ok(Resolved { attach: Attach::Uprobe { path, symbol, offset, ret }, name, span, args, record_fields: Vec::new() })
        }
        ProbeTarget::Profile { hz } => {
            if let Some(max) = crate::kernel::max_sample_rate().filter(|max| hz > *max) {
                return Err(Diagnostic::error(format!("{hz}hz is above this kernel's highest sampling rate, {max}hz"), span, "rate too high")
                    .with_note("the limit is the sysctl kernel.perf_event_max_sample_rate")
                    .with_help(format!("sample at {max}hz or less, e.g. `profile:99hz`")));
            }
            Ok(simple(Attach::Profile { hz }, format!("profile:{hz}hz")))
        }
    }
}

/// The file a uprobe's PATH names: a path must name a file; a bare library
/// name (`libc`) is found the way the dynamic linker finds it, through its
/// cache.
pub(crate) fn uprobe_file(path: &str, span: Span) -> Result<std::path::PathBuf, Diagnostic> {
    if path.contains('/') {
        if !std::path::Path::new(path).is_file() {
            return Err(Diagnostic::error(format!("no file `{path}`"), span, "cannot attach here")
                .with_help("give the path of an executable or a library, or a library's name such as `libc`"));
        }
        return Ok(std::path::PathBuf::from(path));
    }
    match crate::kernel::ld_cache::find(path) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(Diagnostic::error(format!("no library `{path}`"), span, "cannot attach here")
            .with_note(format!("a library's name is looked up in the dynamic linker's cache, {}", crate::kernel::ld_cache::PATH))
            .with_help("give the path of the executable or library")),
        Err(e) => Err(Diagnostic::error(format!("cannot find library `{path}`: {e}"), span, "cannot attach here")),
    }
}

/// A uprobe refusal as a diagnostic at `span`.
pub(crate) fn refusal(r: crate::kernel::elf_symbols::Refusal, span: Span) -> Diagnostic {
    let d = Diagnostic::error(r.message, span, r.label);
    let d = match r.note {
        Some(n) => d.with_note(n),
        None => d,
    };
    match r.help {
        Some(h) => d.with_help(h),
        None => d,
    }
}

fn unreachable_spec(span: Span) -> Result<Resolved, Diagnostic> {
    // parse_probe never yields these for a named spec.
    Err(Diagnostic::error("invalid probe", span, "not a probe"))
}

fn fmt_ns(ns: u64) -> String {
    for (unit, scale) in [("h", 3_600_000_000_000u64), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if ns.is_multiple_of(scale) {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

/// `record`: as a classic tracepoint, whatever BTF has.
fn tracepoint(cx: &mut Checker, category: Option<&str>, name: &str, record: bool, span: Span) -> Result<Resolved, Diagnostic> {
    let tp = match cx.kernel.tracepoint(category, name) {
        Ok(tp) => tp,
        Err(LookupError::NotFound { suggestions }) => {
            // A bare name may be a kernel function rather than a tracepoint.
            if category.is_none() && cx.kernel.function(name).is_some() {
                return function_probe(cx, name, FnKind::Best, span);
            }
            let shown = match category {
                Some(c) => format!("{c}:{name}"),
                None => name.to_string(),
            };
            if cx.kernel.other_kernel() {
                return Err(Diagnostic::error(format!("unknown probe `{shown}`"), span, "not a tracepoint the given BTF describes")
                    .with_note("with --btf, tracepoints resolve from that BTF alone (as tp_btf): a classic tracepoint's record is described by its own kernel's tracefs, which this machine cannot read")
                    .with_help("compile it on that kernel, or probe a tracepoint BTF describes (`btf_trace_NAME` in its BTF)"));
            }
            let mut d = Diagnostic::error(format!("unknown probe `{shown}`"), span, "no such tracepoint in this kernel");
            if !suggestions.is_empty() {
                d = d.with_help(format!("did you mean {}?", quote_list(&suggestions)));
            }
            return Err(d.with_note("`ntr list PATTERN` lists the probes this kernel has"));
        }
        Err(LookupError::Ambiguous { candidates }) => {
            return Err(Diagnostic::error(format!("`{name}` names several tracepoints"), span, "ambiguous")
                .with_help(format!("write one of {}", quote_list(&candidates))));
        }
        Err(LookupError::Unavailable(why)) => {
            return Err(Diagnostic::error("cannot look up tracepoints", span, why));
        }
    };
    let kind = if record { "tracefs" } else { "tracepoint" };
    let shown = if tp.category.is_empty() { tp.name.clone() } else { format!("{kind}:{}:{}", tp.category, tp.name) };
    // The record's fields, named where a tp_btf probe's body reaches for one.
    let record_fields: Vec<String> = tp.format.iter().flatten().filter(|f| !f.name.starts_with("common_")).map(|f| f.name.clone()).collect();
    if let (Some(btf_args), Some(btf_id), false) = (&tp.btf_args, tp.btf_id, record) {
        let mut args = Vec::new();
        for (i, a) in btf_args.iter().enumerate() {
            if let Some(ty) = cx.arg_type(&a.ty, true) {
                args.push(Arg { name: a.name.clone(), source: ArgSource::Slot(i as u16), ty });
            }
        }
        let attach = Attach::TpBtf { category: tp.category.clone(), name: tp.name.clone(), btf_id };
        return Ok(Resolved { attach, name: shown, span, args, record_fields });
    }
    let Some(format) = &tp.format else {
        return Err(Diagnostic::error(format!("tracepoint `{name}` has neither BTF nor a tracefs format"), span, "cannot read its arguments"));
    };
    let mut args = Vec::new();
    for f in format.iter().filter(|f| !f.name.starts_with("common_")) {
        let source;
        let ty;
        if f.data_loc {
            source = ArgSource::DataLocStr { offset: f.offset };
            ty = Type::Str { len: 128 };
        } else if f.size <= 8 && !f.decl.contains('[') {
            source = ArgSource::Field { offset: f.offset, size: f.size as u8, signed: f.signed };
            ty = match f.ty.as_ref().and_then(|k| cx.arg_type(k, false)) {
                Some(t) => t,
                None if f.decl.contains('*') => struct_pointer(cx, &f.decl).unwrap_or(Type::Addr),
                None => Type::Int { size: f.size as u8, signed: f.signed },
            };
        } else {
            // Arrays in the record (addresses, comm) are not yet readable.
            continue;
        }
        args.push(Arg { name: f.name.clone(), source, ty });
    }
    let attach = Attach::Tracepoint { category: tp.category.clone(), name: tp.name.clone() };
    Ok(Resolved { attach, name: shown, span, args, record_fields: Vec::new() })
}

/// A record field declared `[const] struct NAME *`: a pointer to that BTF
/// struct, read through probe_read, so its fields read what it points to
/// (in user memory for a syscall's argument: `rqtp.tv_sec`).
fn struct_pointer(cx: &Checker, decl: &str) -> Option<Type> {
    let rest = decl.strip_prefix("const ").unwrap_or(decl).strip_prefix("struct ")?;
    let name = rest.split([' ', '*']).next()?;
    if rest.matches('*').count() != 1 {
        return None;
    }
    let target = cx.kernel.struct_by_name(name)?;
    Some(Type::Ptr { target: Box::new(target), trusted: false })
}

fn raw_tracepoint(cx: &mut Checker, name: &str, span: Span) -> Result<Resolved, Diagnostic> {
    let tp = cx.kernel.tracepoint(None, name).map_err(|e| match e {
        LookupError::NotFound { suggestions } => {
            let d = Diagnostic::error(format!("unknown raw tracepoint `{name}`"), span, "no such tracepoint");
            if suggestions.is_empty() {
                d
            } else {
                d.with_help(format!("did you mean {}?", quote_list(&suggestions)))
            }
        }
        LookupError::Ambiguous { candidates } => Diagnostic::error(format!("`{name}` names several tracepoints"), span, "ambiguous")
            .with_help(format!("candidates: {}", quote_list(&candidates))),
        LookupError::Unavailable(why) => Diagnostic::error("cannot look up tracepoints", span, why),
    })?;
    let count = tp.btf_args.as_ref().map(|a| a.len()).unwrap_or(0);
    let mut args = Vec::new();
    for i in 0..count {
        args.push(Arg { name: format!("arg{i}"), source: ArgSource::Slot(i as u16), ty: Type::U64 });
    }
    // Named arguments too, as untrusted pointers (read through probe_read).
    for (i, a) in tp.btf_args.iter().flatten().enumerate() {
        if let Some(ty) = cx.arg_type(&a.ty, false) {
            args.push(Arg { name: a.name.clone(), source: ArgSource::Slot(i as u16), ty });
        }
    }
    Ok(Resolved {
        attach: Attach::RawTracepoint { name: tp.name.clone() },
        name: format!("raw_tracepoint:{}", tp.name),
        span,
        args,
        record_fields: Vec::new(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FnKind {
    /// A bare function name: the best method this kernel allows.
    Best,
    Fentry,
    Fexit,
    Kprobe(u64),
    Kretprobe,
}

fn function_probe(cx: &mut Checker, function: &str, kind: FnKind, span: Span) -> Result<Resolved, Diagnostic> {
    let Some(KernelFunction { params, ret, module, btf_id }) = cx.kernel.function(function) else {
        return Err(Diagnostic::error(format!("unknown kernel function `{function}`"), span, "not in this kernel's BTF"));
    };
    let fentry = || match &module {
        None => cx.attach.fentry(),
        Some(_) => Err(crate::kernel::modules::NO_FENTRY.to_string()),
    };
    let kind = match kind {
        FnKind::Best => match (fentry(), cx.attach.kprobe()) {
            (Ok(()), _) => FnKind::Fentry,
            (Err(_), Ok(())) => FnKind::Kprobe(0),
            (Err(f), Err(k)) => {
                return Err(Diagnostic::error(
                    format!("cannot probe kernel function `{function}`{} on this kernel", in_module(&module)),
                    span,
                    "a kernel function, not a tracepoint",
                )
                .with_note(format!("fentry: {f}"))
                .with_note(format!("kprobe: {k}"))
                .with_help(suggest_tracepoints(function)));
            }
        },
        k => k,
    };
    let (allowed, method) = match kind {
        FnKind::Fentry | FnKind::Fexit => (fentry(), "fentry/fexit"),
        _ => (cx.attach.kprobe(), "kprobes"),
    };
    let refused = allowed.err().map(|why| {
        let help = match (&module, kind) {
            (Some(_), FnKind::Fentry) if cx.attach.kprobe().is_ok() => format!("`kprobe:{function}` attaches to it, with the same arguments"),
            (Some(_), FnKind::Fexit) if cx.attach.kprobe().is_ok() => {
                format!("`kretprobe:{function}` gives its `retval` (the arguments are not kept to its return)")
            }
            _ => suggest_tracepoints(function),
        };
        let what = match &module {
            Some(m) => format!("`{function}` is in module {m}"),
            None => format!("this kernel does not allow {method}"),
        };
        Diagnostic::error(what, span, format!("cannot attach to `{function}`")).with_note(why).with_help(help)
    });
    let mut args = Vec::new();
    let (attach, name) = match kind {
        FnKind::Fentry | FnKind::Fexit => {
            for (i, p) in params.iter().enumerate() {
                if let Some(ty) = cx.arg_type(&p.ty, true) {
                    args.push(Arg { name: p.name.clone(), source: ArgSource::Slot(i as u16), ty });
                }
            }
            if kind == FnKind::Fexit {
                // Typed as the function returns it: an `int` is 32 bits of the slot.
                let ty = cx.arg_type(&ret, true).filter(|t| matches!(t, Type::Int { .. } | Type::Ptr { .. } | Type::Bool)).unwrap_or(Type::S64);
                args.push(Arg { name: "retval".into(), source: ArgSource::Slot(params.len() as u16), ty });
                (Attach::Fexit { function: function.into(), btf_id }, format!("fexit:{function}"))
            } else {
                (Attach::Fentry { function: function.into(), btf_id }, format!("fentry:{function}"))
            }
        }
        FnKind::Kprobe(offset) => {
            args = pt_regs_args(Some((cx, &params)));
            (Attach::Kprobe { function: function.into(), offset }, format!("kprobe:{function}"))
        }
        _ => {
            // The return register holds an `int` in its low 32 bits.
            let (size, signed) = match ret {
                KType::Int { size, signed, .. } if size < 8 => (size, signed),
                _ => (8, true),
            };
            let ty = Type::Int { size, signed };
            args.push(Arg { name: "retval".into(), source: ArgSource::Field { offset: PT_REGS_RET, size, signed }, ty });
            (Attach::Kretprobe { function: function.into() }, format!("kretprobe:{function}"))
        }
    };
    let resolved = Resolved { attach, name, span, args, record_fields: Vec::new() };
    match refused {
        Some(d) => {
            cx.unattachable = Some(resolved);
            Err(d)
        }
        None => Ok(resolved),
    }
}

/// Arguments read from pt_regs: `arg0…arg5`, plus the prototype's names when known.
fn pt_regs_args(proto: Option<(&mut Checker, &Vec<ProbeArg>)>) -> Vec<Arg> {
    let mut args: Vec<Arg> = PT_REGS_ARGS
        .iter()
        .enumerate()
        .map(|(i, off)| Arg { name: format!("arg{i}"), source: ArgSource::Field { offset: *off, size: 8, signed: false }, ty: Type::U64 })
        .collect();
    if let Some((cx, params)) = proto {
        for (p, off) in params.iter().zip(PT_REGS_ARGS) {
            if let Some(ty) = cx.arg_type(&p.ty, false) {
                args.push(Arg { name: p.name.clone(), source: ArgSource::Field { offset: off, size: 8, signed: false }, ty });
            }
        }
    }
    args
}

/// ` (module M)` for a loaded module's function.
fn in_module(module: &Option<String>) -> String {
    module.as_ref().map(|m| format!(" (module {m})")).unwrap_or_default()
}

fn retval_arg() -> Arg {
    Arg { name: "retval".into(), source: ArgSource::Field { offset: PT_REGS_RET, size: 8, signed: true }, ty: Type::S64 }
}

fn suggest_tracepoints(function: &str) -> String {
    if function.contains("skb") || function.starts_with("nf_") || function.starts_with("ip") {
        "packets that die in the stack pass `kfree_skb` (tracepoint skb:kfree_skb, with the drop site and reason); `ntr list` shows the tracepoints this kernel has".into()
    } else {
        "use a tracepoint instead: `ntr list PATTERN` shows the tracepoints this kernel has".into()
    }
}

pub(crate) fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

impl Checker<'_> {
    /// The ntr type of a probe argument or struct member of kernel type `k`.
    pub(crate) fn arg_type(&mut self, k: &KType, trusted: bool) -> Option<Type> {
        super::ktypes::value_type(self, k, trusted)
    }
}
