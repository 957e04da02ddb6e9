//! BPF instruction encoding.

/// One 8-byte BPF instruction slot (ld_imm64 takes two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}
