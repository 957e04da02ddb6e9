//! Probe names with wildcards (`syscalls:sys_enter_exec*`,
//! `kprobe:tcp_v4_*`, `uprobe:libssl:SSL_*`), expanded to the probes they
//! match when the script is checked. Each match is a probe of its own (one
//! program each); `probe` and `func` tell them apart in the body.

use glob::Pattern;

use super::probes::{parse_probe, refusal, uprobe_file, ProbeTarget};
use super::Checker;
use crate::diag::Diagnostic;
use crate::source::Span;

/// Probes one wildcard may expand to: each is a program to load and attach.
pub(crate) const MAX_MATCHES: usize = 512;

/// Whether a probe's text is a pattern. (`?` is not a wildcard: a trailing
/// one marks an optional probe.)
pub(crate) fn is_pattern(text: &str) -> bool {
    text.contains('*') || text.contains('[')
}

fn pattern(text: &str, span: Span) -> Result<Pattern, Diagnostic> {
    Pattern::new(text).map_err(|e| Diagnostic::error(format!("invalid pattern `{text}`"), span, e.msg))
}

/// The probe names `text` matches, sorted, spelled as the script spells its
/// kind (`t:` stays `t:`).
pub(crate) fn expand(cx: &Checker, text: &str, span: Span) -> Result<Vec<String>, Diagnostic> {
    let target = parse_probe(text).map_err(|e| Diagnostic::error(format!("invalid probe `{text}`"), span, e))?;
    let kind = text.split_once(':').map(|(k, _)| k);
    let mut names: Vec<String> =
        match target {
            ProbeTarget::Tracepoint { category, name } | ProbeTarget::TracefsRecord { category, name } => {
                let (cat, name) = (category.as_deref().map(|c| pattern(c, span)).transpose()?, pattern(&name, span)?);
                let prefix = match kind {
                    Some(k @ ("tracepoint" | "tp" | "t" | "tracefs")) => format!("{k}:"),
                    _ => String::new(),
                };
                cx.kernel
                    .tracepoints()
                    .into_iter()
                    .filter(|tp| {
                        let (c, n) = tp.split_once(':').unwrap_or(("", tp));
                        name.matches(n) && cat.as_ref().is_none_or(|p| p.matches(c))
                    })
                    .map(|tp| {
                        if cat.is_some() || prefix == "tracefs:" {
                            format!("{prefix}{tp}")
                        } else {
                            tp.rsplit(':').next().unwrap_or(&tp).to_string()
                        }
                    })
                    .collect()
            }
            ProbeTarget::RawTracepoint(name) => {
                let name = pattern(&name, span)?;
                let mut found: Vec<String> = cx
                    .kernel
                    .tracepoints()
                    .into_iter()
                    .filter_map(|tp| tp.rsplit(':').next().map(str::to_string))
                    .filter(|n| name.matches(n))
                    .map(|n| format!("{}:{n}", kind.unwrap_or("raw_tracepoint")))
                    .collect();
                found.dedup();
                found
            }
            ProbeTarget::Kprobe { function, offset } => {
                if offset != 0 {
                    return Err(Diagnostic::error("a wildcard cannot take an offset", span, "offset in a pattern")
                        .with_help("an offset is into one function: name it"));
                }
                functions(cx, &function, kind, span)?
            }
            ProbeTarget::Kretprobe(f) | ProbeTarget::Fentry(f) | ProbeTarget::Fexit(f) => functions(cx, &f, kind, span)?,
            ProbeTarget::Uprobe { path, symbol, offset, .. } => {
                if offset != 0 {
                    return Err(Diagnostic::error("a wildcard cannot take an offset", span, "offset in a pattern")
                        .with_help("an offset is into one function: name it"));
                }
                let file = uprobe_file(&path, span)?;
                let symbol = pattern(&symbol, span)?;
                let all = crate::kernel::elf_symbols::function_names(&file).map_err(|r| refusal(r, span))?;
                all.into_iter().filter(|s| symbol.matches(s)).map(|s| format!("{}:{path}:{s}", kind.unwrap_or("uprobe"))).collect()
            }
            ProbeTarget::Begin | ProbeTarget::End | ProbeTarget::Every(_) | ProbeTarget::Profile { .. } => {
                return Err(Diagnostic::error(format!("`{text}` cannot be a pattern"), span, "not a name to match"));
            }
        };
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(Diagnostic::error(format!("no probe matches `{text}`"), span, "matches nothing on this kernel")
            .with_help(format!("`ntr list '{text}'` lists what there is")));
    }
    if names.len() > MAX_MATCHES {
        return Err(Diagnostic::error(format!("`{text}` matches {} probes, more than {MAX_MATCHES}", names.len()), span, "too many probes")
            .with_note("each match is a program of its own, loaded and attached one by one")
            .with_help("narrow the pattern"));
    }
    Ok(names)
}

fn functions(cx: &Checker, function: &str, kind: Option<&str>, span: Span) -> Result<Vec<String>, Diagnostic> {
    let function = pattern(function, span)?;
    let kind = kind.unwrap_or("kprobe");
    Ok(cx.kernel.function_names().into_iter().filter(|f| function.matches(f)).map(|f| format!("{kind}:{f}")).collect())
}
