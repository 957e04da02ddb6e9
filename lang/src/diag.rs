//! Diagnostics: every error a user can cause is one of these, rendered by
//! codespan-reporting with `file:line:col`, a caret under the span and hints.

use crate::source::{Sources, Span};
use crate::visible;
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor::WriteColor};

/// The control characters a diagnostic shows as they are: line breaks
/// (`\r\n` too) and tabs. Any other is shown escaped, in the quoted source
/// and in messages.
const KEEP: &[char] = &['\n', '\r', '\t'];

/// The sources as diagnostics quote them: control characters escaped.
fn visible_files(sources: &Sources) -> SimpleFiles<String, String> {
    let mut files = SimpleFiles::new();
    let mut id = 0;
    while let Ok(f) = sources.files.get(id) {
        files.add(visible::escape(f.name(), &[]).into_owned(), visible::escape(f.source(), KEEP).into_owned());
        id += 1;
    }
    files
}

#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub message: String,
    /// The primary span and its label; `None` for errors that are not about
    /// one place in the source (e.g. no privileges).
    pub primary: Option<(Span, String)>,
    pub secondary: Vec<(Span, String)>,
    /// `help:`/`note:` lines shown under the snippet.
    pub notes: Vec<String>,
    /// A warning: shown, but the script still runs.
    pub warning: bool,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic { message: message.into(), primary: Some((span, label.into())), secondary: Vec::new(), notes: Vec::new(), warning: false }
    }

    /// A warning about `span`: the script still runs.
    pub fn warning(message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic { warning: true, ..Diagnostic::error(message, span, label) }
    }

    /// An error not tied to a place in the source.
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic { message: message.into(), primary: None, secondary: Vec::new(), notes: Vec::new(), warning: false }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(self, help: impl Into<String>) -> Diagnostic {
        let help = help.into();
        self.with_note(format!("help: {help}"))
    }

    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    /// The diagnostic over `visible_files(sources)`.
    fn to_codespan(&self, sources: &Sources) -> CsDiagnostic<usize> {
        self.to_codespan_as(sources, if self.warning { CsDiagnostic::warning() } else { CsDiagnostic::error() })
    }

    fn to_codespan_as(&self, sources: &Sources, severity: CsDiagnostic<usize>) -> CsDiagnostic<usize> {
        let range = |span: &Span| {
            let text = sources.text(span.file);
            visible::offset(text, KEEP, span.start as usize)..visible::offset(text, KEEP, span.end as usize)
        };
        let shown = |text: &str| visible::escape(text, KEEP).into_owned();
        let mut labels = Vec::new();
        if let Some((span, label)) = &self.primary {
            labels.push(Label::primary(span.file, range(span)).with_message(shown(label)));
        }
        for (span, label) in &self.secondary {
            labels.push(Label::secondary(span.file, range(span)).with_message(shown(label)));
        }
        severity.with_message(shown(&self.message)).with_labels(labels).with_notes(self.notes.iter().map(|n| shown(n)).collect())
    }

    pub fn emit(&self, sources: &Sources, out: &mut dyn WriteColor) {
        let config = term::Config::default();
        // Rendering only fails on I/O errors of `out`; nothing useful to do then.
        let _ = term::emit_to_write_style(out, &config, &visible_files(sources), &self.to_codespan(sources));
    }

    /// Emit as a note: what ntr did instead of failing (an optional probe
    /// skipped, and why).
    pub fn emit_note(&self, sources: &Sources, out: &mut dyn WriteColor) {
        let _ =
            term::emit_to_write_style(out, &term::Config::default(), &visible_files(sources), &self.to_codespan_as(sources, CsDiagnostic::note()));
    }

    /// Plain-text rendering (no colour), as tests and `--json` consumers see it.
    pub fn render(&self, sources: &Sources) -> String {
        term::emit_into_string(&term::Config::default(), &visible_files(sources), &self.to_codespan(sources))
            .unwrap_or_else(|_| format!("{}: {}\n", if self.warning { "warning" } else { "error" }, visible::escape(&self.message, KEEP)))
    }
}

pub type Result<T> = std::result::Result<T, Diagnostic>;
