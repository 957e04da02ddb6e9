//! Compile errors, shown as diagnostics on the source that caused them.

use ntr_lang::diag::Diagnostic;
use ntr_lang::source::Span;

#[derive(Debug)]
pub enum CompileError {
    /// The values a probe keeps alive at once need more than the BPF stack.
    StackOverflow { span: Span, needed: u32 },
    /// A probe body too large for one program: more instructions than the
    /// kernel loads, or a jump beyond 16-bit offsets; `label` says which.
    TooLarge { span: Span, label: String },
    /// A probe using more maps than the kernel lets one program use.
    TooManyMaps { span: Span, used: usize },
    /// Something the code generator does not support (yet), at this span.
    Unsupported { span: Span, what: String },
}

impl CompileError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            CompileError::StackOverflow { span, needed } => {
                Diagnostic::error("this probe needs more than the 512 bytes of BPF stack", *span, format!("{needed} bytes needed with this value"))
                    .with_help("too many values are alive at once: split the probe, or keep values in a map (`@tmp[tid] = …`)")
            }
            CompileError::TooLarge { span, label } => {
                Diagnostic::error("this probe is too large for one BPF program", *span, label.clone()).with_help("split it into several probe blocks")
            }
            CompileError::TooManyMaps { span, used } => {
                Diagnostic::error(format!("this probe uses {used} maps; the kernel lets one BPF program use 64"), *span, "too many maps")
                    .with_help("split the probe into several blocks, or key one map by more fields instead of using many maps")
            }
            CompileError::Unsupported { span, what } => Diagnostic::error(format!("{what} is not supported"), *span, "cannot compile this"),
        }
    }
}

impl From<crate::encode::BackendError> for CompileError {
    fn from(e: crate::encode::BackendError) -> CompileError {
        match e {
            crate::encode::BackendError::StackOverflow { span, needed } => CompileError::StackOverflow { span, needed },
            crate::encode::BackendError::TooLarge { span, label } => CompileError::TooLarge { span, label },
        }
    }
}
