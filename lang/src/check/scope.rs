//! What a probe body can see while it is being checked: its arguments, its
//! locals (block-scoped, shadowing allowed), and the fns being inlined.

use std::collections::HashMap;

use crate::diag::{Diagnostic, Result};
use crate::source::Span;
use crate::syntax::MAX_NESTING;
use crate::tir::{Local, LocalId};
use crate::types::Type;

use super::probes::Arg;

/// An fn body being inlined: where its `return` values go.
pub(crate) struct InlineFrame {
    pub name: String,
    pub result: LocalId,
    /// Type of the first `return e`; later ones must agree.
    pub ret: Option<(Type, Span)>,
}

pub(crate) struct ProbeCx {
    pub name: String,
    pub args: Vec<Arg>,
    /// A tp_btf probe's tracefs record fields: named in the diagnostic for
    /// a name that is one of them.
    pub record_fields: Vec<String>,
    /// A uprobe's site as written: path, symbol and offset (for `uaddr`,
    /// which alone reads the file's symbols).
    pub uprobe_site: Option<(String, String, u64)>,
    pub locals: Vec<Local>,
    scopes: Vec<HashMap<String, LocalId>>,
    pub inlining: Vec<InlineFrame>,
    /// Source bytes of fn bodies inlined into this probe so far.
    pub inlined_bytes: u64,
    /// Expressions and `if`s being checked, one inside the next.
    depth: u32,
}

impl ProbeCx {
    pub fn new(name: String, args: Vec<Arg>) -> ProbeCx {
        ProbeCx {
            name,
            args,
            record_fields: Vec::new(),
            uprobe_site: None,
            locals: Vec::new(),
            scopes: vec![HashMap::new()],
            inlining: Vec::new(),
            inlined_bytes: 0,
            depth: 0,
        }
    }

    /// Check `f` one level deeper. The parser keeps each body within
    /// `MAX_NESTING`; an inlined fn body nests inside its call, so a chain
    /// of calls could still nest deeper, and checking (then code generation)
    /// recurse once per level.
    pub fn nested<T>(&mut self, span: Span, f: impl FnOnce(&mut ProbeCx) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_NESTING {
            let chain: Vec<&str> = self.inlining.iter().map(|f| f.name.as_str()).collect();
            return Err(Diagnostic::error(format!("expression nests deeper than {MAX_NESTING} levels once fns are inlined"), span, "here")
                .with_note(format!("inlined here: {}", chain.join(" → ")))
                .with_help("split it up: give parts of it names with `let`"));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// The fns being inlined, outermost first: "`f` → `g`".
    pub fn call_chain(&self) -> String {
        self.inlining.iter().map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(" → ")
    }

    pub fn push_scope(&mut self) {
        self.scopes.push(HashMap::new());
    }

    pub fn pop_scope(&mut self) {
        self.scopes.pop();
    }

    /// A fn body sees its own parameters and locals, not the caller's.
    pub fn enter_fn(&mut self) -> Vec<HashMap<String, LocalId>> {
        std::mem::replace(&mut self.scopes, vec![HashMap::new()])
    }

    pub fn leave_fn(&mut self, saved: Vec<HashMap<String, LocalId>>) {
        self.scopes = saved;
    }

    pub fn declare(&mut self, name: &str, ty: Type, span: Span) -> LocalId {
        let id = self.fresh(name, ty, span);
        self.scopes.last_mut().expect("a scope is always open").insert(name.to_string(), id);
        id
    }

    /// A local no name refers to (fn results, temporaries).
    pub fn fresh(&mut self, name: &str, ty: Type, span: Span) -> LocalId {
        self.locals.push(Local { name: name.to_string(), ty, span });
        self.locals.len() - 1
    }

    pub fn lookup(&self, name: &str) -> Option<LocalId> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    pub fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.name == name)
    }

    /// Every name visible here, for "did you mean" suggestions.
    pub fn visible_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.scopes.iter().flat_map(|s| s.keys().cloned()).collect();
        names.extend(self.args.iter().map(|a| a.name.clone()));
        names
    }
}
