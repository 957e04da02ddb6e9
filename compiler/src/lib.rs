//! ntr's compiler: typed program → BPF instructions → ELF object (`Artifact`).

pub mod artifact;
pub mod bpf;
pub mod codegen;
pub mod elf;
pub mod encode;
pub mod error;
pub mod ir;
pub mod regalloc;
pub mod size;

pub use codegen::{compile, compile_with};
pub use error::CompileError;
