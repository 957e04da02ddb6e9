//! ntr's front end: source text → AST → typed program, with diagnostics.
//! See README.md for what each module owns.

pub mod ast;
pub mod builtins;
pub mod check;
pub mod diag;
pub mod host;
pub mod kernel;
pub mod net;
pub mod source;
pub mod syntax;
pub mod tir;
pub mod types;
pub mod visible;
