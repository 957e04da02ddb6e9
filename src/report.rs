//! Everything ntr tells the user on stderr when something goes wrong, and
//! the annotated instruction dump.

use std::io::IsTerminal;

use codespan_reporting::files::Files;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use ntr_compiler::artifact::Artifact;
use ntr_lang::diag::Diagnostic;
use ntr_lang::source::{Sources, Span};
use ntr_runtime::RuntimeError;

fn stderr() -> StandardStream {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    StandardStream::stderr(if color { ColorChoice::Auto } else { ColorChoice::Never })
}

pub fn diagnostics(sources: &Sources, diags: &[Diagnostic]) {
    let mut out = stderr();
    for d in diags {
        d.emit(sources, &mut out);
    }
}

/// Notes on what ntr did instead of failing (optional probes skipped).
pub fn notes(sources: &Sources, notes: &[Diagnostic]) {
    let mut out = stderr();
    for d in notes {
        d.emit_note(sources, &mut out);
    }
}

/// A script error not tied to a source file; exit code 2.
pub fn global(d: &Diagnostic) -> u8 {
    diagnostics(&Sources::new(), std::slice::from_ref(d));
    2
}

/// Report a runtime failure; returns the exit code. A verifier rejection is
/// shown on the source expression that produced the rejected instruction.
pub fn runtime_error(sources: &Sources, artifact: &Artifact, e: &RuntimeError, verbose: bool) -> u8 {
    match e {
        RuntimeError::Verifier { program, insn, reason, log } => {
            let info = artifact.programs.iter().find(|p| &p.symbol == program);
            let (span, probe) = match info {
                Some(p) => (insn.and_then(|i| p.insn_spans.get(i).copied()).unwrap_or(p.span), p.probe.as_str()),
                None => (Span::default(), program.as_str()),
            };
            let mut d = Diagnostic::error(format!("the kernel rejected probe `{probe}`"), span, reason.clone());
            if let Some(i) = insn {
                d = d.with_note(format!("the verifier stopped at instruction {i} (`ntr compile --dump` shows it)"));
            }
            d = if verbose { d.with_note(format!("verifier log:\n{log}")) } else { d.with_note("run with --verbose for the verifier's log") };
            diagnostics(sources, &[d]);
            2
        }
        RuntimeError::Attach { probe, message, hint } => {
            let message = format!("cannot attach `{probe}`: {message}");
            let mut d = match artifact.programs.iter().find(|p| &p.probe == probe) {
                Some(p) => Diagnostic::error(message, p.span, "this probe"),
                None => Diagnostic::global(message),
            };
            if let Some(h) = hint {
                d = d.with_help(h.clone());
            }
            diagnostics(sources, &[d]);
            1
        }
        RuntimeError::Privileges { message } => {
            diagnostics(sources, &[Diagnostic::global(message.clone()).with_help("run ntr as root")]);
            1
        }
        RuntimeError::Other(message) => {
            diagnostics(sources, &[Diagnostic::global(message.clone())]);
            1
        }
    }
}

/// The instructions of every program, each source line shown above the
/// instructions it produced.
pub fn dump(sources: &Sources, artifact: &Artifact) -> String {
    let mut out = String::new();
    for p in &artifact.programs {
        out.push_str(&format!("{} ({}, section {}):\n", p.probe, p.symbol, p.section));
        let lines = ntr_compiler::bpf::disasm::disasm_with_maps(&p.insns, &p.map_loads);
        let mut last_line = None;
        for (i, text) in lines.iter().enumerate() {
            if text.is_empty() {
                continue; // second half of an ld_imm64
            }
            if let Some(span) = p.insn_spans.get(i) {
                if let Some(line) = source_line(sources, *span) {
                    if last_line.as_ref() != Some(&line) {
                        out.push_str(&format!("    ; {}\n", line.1));
                        last_line = Some(line);
                    }
                }
            }
            out.push_str(&format!("{i:5}: {text}\n"));
        }
        out.push('\n');
    }
    out
}

/// (file:line, text) of the line a span starts on, control characters escaped.
fn source_line(sources: &Sources, span: Span) -> Option<((usize, usize), String)> {
    let idx = sources.files.line_index(span.file, span.start as usize).ok()?;
    let range = sources.files.line_range(span.file, idx).ok()?;
    let text = sources.text(span.file).get(range)?.trim_end().to_string();
    let shown = format!("{}:{}: {}", sources.name(span.file), idx + 1, text.trim());
    // Control characters in the script (an ESC in a string) are shown, not sent.
    Some(((span.file, idx), ntr_lang::visible::escape(&shown, &[]).into_owned()))
}
