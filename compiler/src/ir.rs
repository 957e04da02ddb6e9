//! The compiler's machine-level IR: BPF operations on unlimited virtual
//! registers, in basic blocks. Codegen (`codegen/`) produces it from the typed
//! program; the backend (`regalloc.rs`, `emit.rs`) assigns registers, lays
//! out the stack and encodes instructions.

use ntr_lang::source::Span;
use smallvec::{smallvec, SmallVec};

/// What an instruction reads or a block leads to: a few items, kept off the
/// heap (the register allocator asks for them over and over).
pub type Few<T> = SmallVec<[T; 4]>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vreg(pub u32);

pub type BlockId = usize;

/// A fixed-size stack buffer (map keys, small records), addressed by
/// `Inst::StackAddr`.
pub type BufId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    Reg(Vreg),
    /// Sign-extended to 64 bits by the hardware, as BPF immediates are.
    Imm(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    pub fn from_bytes(n: u32) -> Option<Size> {
        match n {
            1 => Some(Size::B),
            2 => Some(Size::H),
            4 => Some(Size::W),
            8 => Some(Size::DW),
            _ => None,
        }
    }
}

/// 64-bit ALU operations (ntr never emits 32-bit ALU: the verifier forbids it
/// on pointers and values are 64-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    SDiv,
    Mod,
    SMod,
    Or,
    And,
    Xor,
    Lsh,
    Rsh,
    Arsh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Ne,
    /// Unsigned comparisons.
    Gt,
    Ge,
    Lt,
    Le,
    /// Signed comparisons.
    Sgt,
    Sge,
    Slt,
    Sle,
    /// `lhs & rhs != 0`.
    Set,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Inst {
    /// `dst = r1` (the context pointer). Only valid as the first instruction
    /// of the entry block.
    Ctx {
        dst: Vreg,
    },
    Mov {
        dst: Vreg,
        src: Operand,
    },
    LoadImm64 {
        dst: Vreg,
        imm: u64,
    },
    /// `dst = &map` (an ld_imm64 relocated against the map symbol).
    LoadMap {
        dst: Vreg,
        map: String,
    },
    /// `dst = dst <op> src`.
    Alu {
        op: AluOp,
        dst: Vreg,
        src: Operand,
    },
    Neg {
        dst: Vreg,
    },
    /// `dst = *(size *)(base + off)`, zero-extended.
    Load {
        dst: Vreg,
        base: Vreg,
        off: i16,
        size: Size,
    },
    /// `*(size *)(base + off) = src`.
    Store {
        base: Vreg,
        off: i16,
        src: Operand,
        size: Size,
    },
    /// `lock *(size *)(base + off) += src` (W or DW).
    AtomicAdd {
        base: Vreg,
        off: i16,
        src: Vreg,
        size: Size,
    },
    /// `dst = fp - <offset of buf> + off`.
    StackAddr {
        dst: Vreg,
        buf: BufId,
        off: i16,
    },
    /// Call helper `helper` with up to five arguments (moved to r1–r5);
    /// r0 goes to `dst`.
    Call {
        helper: u32,
        args: Vec<Operand>,
        dst: Option<Vreg>,
    },
    /// Inserted by the register allocator: reload a spilled value.
    Reload {
        dst: Vreg,
        slot: u32,
    },
    /// Inserted by the register allocator: spill a value to its stack slot.
    Spill {
        src: Vreg,
        slot: u32,
    },
}

impl Inst {
    /// Virtual registers this instruction reads.
    pub fn uses(&self) -> Few<Vreg> {
        let reg = |o: &Operand| match o {
            Operand::Reg(r) => Some(*r),
            Operand::Imm(_) => None,
        };
        match self {
            Inst::Ctx { .. } | Inst::LoadImm64 { .. } | Inst::LoadMap { .. } | Inst::StackAddr { .. } | Inst::Reload { .. } => Few::new(),
            Inst::Mov { src, .. } => reg(src).into_iter().collect(),
            Inst::Alu { dst, src, .. } => [Some(*dst), reg(src)].into_iter().flatten().collect(),
            Inst::Neg { dst } => smallvec![*dst],
            Inst::Load { base, .. } => smallvec![*base],
            Inst::Store { base, src, .. } => [Some(*base), reg(src)].into_iter().flatten().collect(),
            Inst::AtomicAdd { base, src, .. } => smallvec![*base, *src],
            Inst::Call { args, .. } => args.iter().filter_map(reg).collect(),
            Inst::Spill { src, .. } => smallvec![*src],
        }
    }

    /// The virtual register this instruction writes, if any.
    pub fn def(&self) -> Option<Vreg> {
        match self {
            Inst::Ctx { dst }
            | Inst::Mov { dst, .. }
            | Inst::LoadImm64 { dst, .. }
            | Inst::LoadMap { dst, .. }
            | Inst::Alu { dst, .. }
            | Inst::Neg { dst }
            | Inst::Load { dst, .. }
            | Inst::StackAddr { dst, .. }
            | Inst::Reload { dst, .. } => Some(*dst),
            Inst::Call { dst, .. } => *dst,
            Inst::Store { .. } | Inst::AtomicAdd { .. } | Inst::Spill { .. } => None,
        }
    }

    /// Rename virtual registers: `use_map` for reads, `def_map` for the write.
    pub fn rename(&mut self, use_map: &dyn Fn(Vreg) -> Vreg, def_map: &dyn Fn(Vreg) -> Vreg) {
        let op = |o: &mut Operand| {
            if let Operand::Reg(r) = o {
                *r = use_map(*r);
            }
        };
        match self {
            Inst::Ctx { dst } | Inst::LoadImm64 { dst, .. } | Inst::LoadMap { dst, .. } | Inst::StackAddr { dst, .. } | Inst::Reload { dst, .. } => {
                *dst = def_map(*dst)
            }
            Inst::Mov { dst, src } => {
                op(src);
                *dst = def_map(*dst);
            }
            Inst::Alu { dst, src, .. } => {
                op(src);
                // Two-address: the same register is read and written.
                *dst = use_map(*dst);
            }
            Inst::Neg { dst } => *dst = use_map(*dst),
            Inst::Load { dst, base, .. } => {
                *base = use_map(*base);
                *dst = def_map(*dst);
            }
            Inst::Store { base, src, .. } => {
                *base = use_map(*base);
                op(src);
            }
            Inst::AtomicAdd { base, src, .. } => {
                *base = use_map(*base);
                *src = use_map(*src);
            }
            Inst::Call { args, dst, .. } => {
                args.iter_mut().for_each(op);
                if let Some(d) = dst {
                    *d = def_map(*d);
                }
            }
            Inst::Spill { src, .. } => *src = use_map(*src),
        }
    }
}

impl Terminator {
    pub fn uses(&self) -> Few<Vreg> {
        match self {
            Terminator::Jump(_) => Few::new(),
            Terminator::Branch { lhs, rhs, .. } => {
                let mut v = smallvec![*lhs];
                if let Operand::Reg(r) = rhs {
                    v.push(*r);
                }
                v
            }
            Terminator::Exit { value: Operand::Reg(r) } => smallvec![*r],
            Terminator::Exit { .. } => Few::new(),
        }
    }

    pub fn successors(&self) -> Few<BlockId> {
        match self {
            Terminator::Jump(b) => smallvec![*b],
            Terminator::Branch { then, otherwise, .. } => smallvec![*then, *otherwise],
            Terminator::Exit { .. } => Few::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Terminator {
    Jump(BlockId),
    Branch { cond: Cond, lhs: Vreg, rhs: Operand, then: BlockId, otherwise: BlockId },
    Exit { value: Operand },
}

#[derive(Clone, Debug)]
pub struct Block {
    /// Each instruction with the source span it was generated for.
    pub insts: Vec<(Inst, Span)>,
    pub term: (Terminator, Span),
}

#[derive(Clone, Debug)]
pub struct StackBuf {
    pub size: u32,
    pub span: Span,
}

/// One BPF program before register allocation. Block 0 is the entry.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub blocks: Vec<Block>,
    pub vregs: u32,
    pub bufs: Vec<StackBuf>,
    /// Span reported when the program as a whole is at fault.
    pub span: Span,
}
