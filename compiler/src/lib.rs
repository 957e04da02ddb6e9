//! ntr's compiler: typed program → BPF instructions → ELF object (`Artifact`).

pub mod artifact;
pub mod bpf;
pub mod ir;
