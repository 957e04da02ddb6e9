//! BPF instruction encoding, helper ids, and a disassembler for `--dump`.

pub mod disasm;
pub mod helpers;

/// One 8-byte BPF instruction slot (ld_imm64 takes two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

// Instruction classes.
pub const LD: u8 = 0x00;
pub const LDX: u8 = 0x01;
pub const ST: u8 = 0x02;
pub const STX: u8 = 0x03;
pub const JMP: u8 = 0x05;
pub const ALU64: u8 = 0x07;
// Sizes.
pub const W: u8 = 0x00;
pub const H: u8 = 0x08;
pub const B: u8 = 0x10;
pub const DW: u8 = 0x18;
// Modes.
pub const IMM: u8 = 0x00;
pub const MEM: u8 = 0x60;
pub const ATOMIC: u8 = 0xc0;
// Source operand.
pub const K: u8 = 0x00;
pub const X: u8 = 0x08;
// ALU operations.
pub const ADD: u8 = 0x00;
pub const SUB: u8 = 0x10;
pub const MUL: u8 = 0x20;
pub const DIV: u8 = 0x30;
pub const OR: u8 = 0x40;
pub const AND: u8 = 0x50;
pub const LSH: u8 = 0x60;
pub const RSH: u8 = 0x70;
pub const NEG: u8 = 0x80;
pub const MOD: u8 = 0x90;
pub const XOR: u8 = 0xa0;
pub const MOV: u8 = 0xb0;
pub const ARSH: u8 = 0xc0;
// Jump operations.
pub const JA: u8 = 0x00;
pub const JEQ: u8 = 0x10;
pub const JGT: u8 = 0x20;
pub const JGE: u8 = 0x30;
pub const JSET: u8 = 0x40;
pub const JNE: u8 = 0x50;
pub const JSGT: u8 = 0x60;
pub const JSGE: u8 = 0x70;
pub const CALL: u8 = 0x80;
pub const EXIT: u8 = 0x90;
pub const JLT: u8 = 0xa0;
pub const JLE: u8 = 0xb0;
pub const JSLT: u8 = 0xc0;
pub const JSLE: u8 = 0xd0;

/// The frame pointer.
pub const FP: u8 = 10;

impl Insn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn { code, dst, src, off, imm }
    }

    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        b
    }

    pub fn alu_reg(op: u8, dst: u8, src: u8) -> Insn {
        Insn::new(ALU64 | op | X, dst, src, 0, 0)
    }

    pub fn alu_imm(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(ALU64 | op | K, dst, 0, 0, imm)
    }

    pub fn mov_reg(dst: u8, src: u8) -> Insn {
        Insn::alu_reg(MOV, dst, src)
    }

    pub fn mov_imm(dst: u8, imm: i32) -> Insn {
        Insn::alu_imm(MOV, dst, imm)
    }

    /// `ld_imm64`: two slots.
    pub fn ld_imm64(dst: u8, src: u8, imm: u64) -> [Insn; 2] {
        [Insn::new(LD | DW | IMM, dst, src, 0, imm as u32 as i32), Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32)]
    }

    pub fn load(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(LDX | MEM | size, dst, src, off, 0)
    }

    pub fn store_reg(size: u8, dst: u8, off: i16, src: u8) -> Insn {
        Insn::new(STX | MEM | size, dst, src, off, 0)
    }

    pub fn store_imm(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
        Insn::new(ST | MEM | size, dst, 0, off, imm)
    }

    pub fn atomic_add(size: u8, dst: u8, off: i16, src: u8) -> Insn {
        Insn::new(STX | ATOMIC | size, dst, src, off, ADD as i32)
    }

    pub fn jump_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(JMP | op | X, dst, src, off, 0)
    }

    pub fn jump_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(JMP | op | K, dst, 0, off, imm)
    }

    pub fn ja(off: i16) -> Insn {
        Insn::new(JMP | JA, 0, 0, off, 0)
    }

    pub fn call(helper: u32) -> Insn {
        Insn::new(JMP | CALL, 0, 0, 0, helper as i32)
    }

    pub fn exit() -> Insn {
        Insn::new(JMP | EXIT, 0, 0, 0, 0)
    }

    pub fn is_ld_imm64(self) -> bool {
        self.code == LD | DW | IMM
    }
}
