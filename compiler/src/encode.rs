//! The backend's last step: stack layout, block order, and encoding the
//! register-allocated IR into BPF instructions, each tagged with its span.

use ntr_lang::source::Span;

use crate::bpf::{self, Insn};
use crate::ir::{AluOp, BlockId, Cond, Function, Inst, Operand, Size, Terminator, Vreg};
use crate::regalloc::{self, Allocation};

/// The kernel's BPF stack size.
pub const STACK_LIMIT: u32 = 512;

pub struct CompiledFunction {
    pub insns: Vec<Insn>,
    /// The span each instruction slot came from (same length as `insns`).
    pub spans: Vec<Span>,
    /// (slot index of an ld_imm64, map symbol).
    pub map_relocs: Vec<(usize, String)>,
    pub stack_size: u32,
}

#[derive(Debug)]
pub enum BackendError {
    /// Values alive at once need more stack than the kernel's 512 bytes.
    StackOverflow { span: Span, needed: u32 },
    /// More instructions than the kernel loads, or a jump farther than
    /// 32767 instructions; `label` says which.
    TooLarge { span: Span, label: String },
}

/// Register-allocate and encode one function.
pub fn compile(mut f: Function) -> Result<CompiledFunction, BackendError> {
    let liveness = regalloc::remove_dead_code(&mut f);
    crate::size::check(&f)?;
    let bufs: u32 = f.bufs.iter().map(|b| b.size.div_ceil(8) * 8).sum();
    if bufs > STACK_LIMIT {
        let span = f.bufs.iter().map(|b| b.span).next_back().unwrap_or(f.span);
        return Err(BackendError::StackOverflow { span, needed: bufs });
    }
    let max_slots = (STACK_LIMIT - bufs) / 8;
    let alloc = match regalloc::allocate(&mut f, max_slots, liveness) {
        Ok(a) => a,
        Err(e) => {
            let span = def_span(&f, e.vreg).unwrap_or(f.span);
            return Err(BackendError::StackOverflow { span, needed: bufs + (max_slots + 1) * 8 });
        }
    };
    Encoder::new(&f, &alloc, bufs).run()
}

fn def_span(f: &Function, v: Vreg) -> Option<Span> {
    f.blocks.iter().flat_map(|b| &b.insts).find(|(i, _)| i.def() == Some(v)).map(|(_, s)| *s)
}

fn size_code(s: Size) -> u8 {
    match s {
        Size::B => bpf::B,
        Size::H => bpf::H,
        Size::W => bpf::W,
        Size::DW => bpf::DW,
    }
}

fn alu_code(op: AluOp) -> (u8, i16) {
    match op {
        AluOp::Add => (bpf::ADD, 0),
        AluOp::Sub => (bpf::SUB, 0),
        AluOp::Mul => (bpf::MUL, 0),
        AluOp::Div => (bpf::DIV, 0),
        AluOp::SDiv => (bpf::DIV, 1),
        AluOp::Mod => (bpf::MOD, 0),
        AluOp::SMod => (bpf::MOD, 1),
        AluOp::Or => (bpf::OR, 0),
        AluOp::And => (bpf::AND, 0),
        AluOp::Xor => (bpf::XOR, 0),
        AluOp::Lsh => (bpf::LSH, 0),
        AluOp::Rsh => (bpf::RSH, 0),
        AluOp::Arsh => (bpf::ARSH, 0),
    }
}

fn jump_code(c: Cond) -> u8 {
    match c {
        Cond::Eq => bpf::JEQ,
        Cond::Ne => bpf::JNE,
        Cond::Gt => bpf::JGT,
        Cond::Ge => bpf::JGE,
        Cond::Lt => bpf::JLT,
        Cond::Le => bpf::JLE,
        Cond::Sgt => bpf::JSGT,
        Cond::Sge => bpf::JSGE,
        Cond::Slt => bpf::JSLT,
        Cond::Sle => bpf::JSLE,
        Cond::Set => bpf::JSET,
    }
}

fn invert(c: Cond) -> Option<Cond> {
    Some(match c {
        Cond::Eq => Cond::Ne,
        Cond::Ne => Cond::Eq,
        Cond::Gt => Cond::Le,
        Cond::Le => Cond::Gt,
        Cond::Ge => Cond::Lt,
        Cond::Lt => Cond::Ge,
        Cond::Sgt => Cond::Sle,
        Cond::Sle => Cond::Sgt,
        Cond::Sge => Cond::Slt,
        Cond::Slt => Cond::Sge,
        Cond::Set => return None,
    })
}

/// Blocks in emission order: depth-first from the entry, the `otherwise`
/// side of a branch right after it so it falls through.
pub(crate) fn order(f: &Function) -> Vec<BlockId> {
    let mut seen = vec![false; f.blocks.len()];
    let mut order = Vec::new();
    let mut stack = vec![0];
    while let Some(b) = stack.pop() {
        if seen[b] {
            continue;
        }
        seen[b] = true;
        order.push(b);
        match &f.blocks[b].term.0 {
            Terminator::Jump(t) => stack.push(*t),
            Terminator::Branch { then, otherwise, .. } => {
                stack.push(*then);
                stack.push(*otherwise);
            }
            Terminator::Exit { .. } => {}
        }
    }
    order
}

struct Encoder<'a> {
    f: &'a Function,
    alloc: &'a Allocation,
    /// Byte offset below r10 where each buffer starts.
    buf_offsets: Vec<u32>,
    bufs: u32,
    out: CompiledFunction,
    /// (slot of a jump, target block)
    fixups: Vec<(usize, BlockId)>,
}

impl<'a> Encoder<'a> {
    fn new(f: &'a Function, alloc: &'a Allocation, bufs: u32) -> Encoder<'a> {
        let mut buf_offsets = Vec::new();
        let mut end = 0;
        for b in &f.bufs {
            end += b.size.div_ceil(8) * 8;
            buf_offsets.push(end);
        }
        let stack_size = bufs + alloc.spill_slots * 8;
        Encoder {
            f,
            alloc,
            buf_offsets,
            bufs,
            out: CompiledFunction { insns: Vec::new(), spans: Vec::new(), map_relocs: Vec::new(), stack_size },
            fixups: Vec::new(),
        }
    }

    fn reg(&self, v: Vreg) -> u8 {
        // Every vreg that reaches encoding was coloured by the allocator.
        self.alloc.reg(v)
    }

    fn push(&mut self, insn: Insn, span: Span) {
        self.out.insns.push(insn);
        self.out.spans.push(span);
    }

    fn slot_off(&self, slot: u32) -> i16 {
        -((self.bufs + (slot + 1) * 8) as i16)
    }

    fn run(mut self) -> Result<CompiledFunction, BackendError> {
        let order = order(self.f);
        let mut starts = vec![0usize; self.f.blocks.len()];
        for (i, &b) in order.iter().enumerate() {
            starts[b] = self.out.insns.len();
            let next = order.get(i + 1).copied();
            let block = &self.f.blocks[b];
            for (inst, span) in &block.insts {
                self.inst(inst, *span);
            }
            let (term, span) = (&block.term.0, block.term.1);
            self.terminator(term, span, next);
        }
        for (slot, target) in std::mem::take(&mut self.fixups) {
            let off = starts[target] as i64 - slot as i64 - 1;
            let off = i16::try_from(off).map_err(|_| BackendError::TooLarge { span: self.out.spans[slot], label: "jump out of range".into() })?;
            self.out.insns[slot].off = off;
        }
        Ok(self.out)
    }

    fn operand_into(&mut self, dst: u8, src: &Operand, span: Span) {
        match src {
            Operand::Reg(r) => {
                let r = self.reg(*r);
                if r != dst {
                    self.push(Insn::mov_reg(dst, r), span);
                }
            }
            Operand::Imm(i) => self.push(Insn::mov_imm(dst, *i), span),
        }
    }

    fn inst(&mut self, inst: &Inst, span: Span) {
        match inst {
            Inst::Ctx { dst } => {
                let d = self.reg(*dst);
                if d != 1 {
                    self.push(Insn::mov_reg(d, 1), span);
                }
            }
            Inst::Mov { dst, src } => {
                let d = self.reg(*dst);
                self.operand_into(d, src, span);
            }
            Inst::LoadImm64 { dst, imm } => {
                let d = self.reg(*dst);
                for i in Insn::ld_imm64(d, 0, *imm) {
                    self.push(i, span);
                }
            }
            Inst::LoadMap { dst, map } => {
                let d = self.reg(*dst);
                self.out.map_relocs.push((self.out.insns.len(), map.clone()));
                for i in Insn::ld_imm64(d, 0, 0) {
                    self.push(i, span);
                }
            }
            Inst::Alu { op, dst, src } => {
                let d = self.reg(*dst);
                let (code, off) = alu_code(*op);
                let mut insn = match src {
                    Operand::Reg(r) => Insn::alu_reg(code, d, self.reg(*r)),
                    Operand::Imm(i) => Insn::alu_imm(code, d, *i),
                };
                insn.off = off;
                self.push(insn, span);
            }
            Inst::Neg { dst } => {
                let d = self.reg(*dst);
                self.push(Insn::new(bpf::ALU64 | bpf::NEG, d, 0, 0, 0), span);
            }
            Inst::Load { dst, base, off, size } => {
                let insn = Insn::load(size_code(*size), self.reg(*dst), self.reg(*base), *off);
                self.push(insn, span);
            }
            Inst::Store { base, off, src, size } => {
                let b = self.reg(*base);
                let insn = match src {
                    Operand::Reg(r) => Insn::store_reg(size_code(*size), b, *off, self.reg(*r)),
                    Operand::Imm(i) => Insn::store_imm(size_code(*size), b, *off, *i),
                };
                self.push(insn, span);
            }
            Inst::AtomicAdd { base, off, src, size } => {
                let insn = Insn::atomic_add(size_code(*size), self.reg(*base), *off, self.reg(*src));
                self.push(insn, span);
            }
            Inst::StackAddr { dst, buf, off } => {
                let d = self.reg(*dst);
                self.push(Insn::mov_reg(d, bpf::FP), span);
                let delta = *off as i32 - self.buf_offsets[*buf] as i32;
                self.push(Insn::alu_imm(bpf::ADD, d, delta), span);
            }
            Inst::Call { helper, args, dst } => {
                self.arguments(args, span);
                self.push(Insn::call(*helper), span);
                if let Some(d) = dst {
                    let d = self.reg(*d);
                    self.push(Insn::mov_reg(d, 0), span);
                }
            }
            Inst::Reload { dst, slot } => {
                let insn = Insn::load(bpf::DW, self.reg(*dst), bpf::FP, self.slot_off(*slot));
                self.push(insn, span);
            }
            Inst::Spill { src, slot } => {
                let insn = Insn::store_reg(bpf::DW, bpf::FP, self.slot_off(*slot), self.reg(*src));
                self.push(insn, span);
            }
        }
    }

    /// Move call arguments into r1… as one parallel move, breaking cycles
    /// through r0 (free before a call).
    fn arguments(&mut self, args: &[Operand], span: Span) {
        #[derive(Clone, Copy, PartialEq)]
        enum Src {
            Reg(u8),
            Imm(i32),
        }
        let mut pending: Vec<(u8, Src)> = args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let src = match a {
                    Operand::Reg(r) => Src::Reg(self.reg(*r)),
                    Operand::Imm(v) => Src::Imm(*v),
                };
                (i as u8 + 1, src)
            })
            .filter(|(dst, src)| *src != Src::Reg(*dst))
            .collect();
        while !pending.is_empty() {
            let ready = pending.iter().position(|(dst, _)| !pending.iter().any(|(_, s)| *s == Src::Reg(*dst)));
            match ready {
                Some(i) => {
                    let (dst, src) = pending.remove(i);
                    let insn = match src {
                        Src::Reg(r) => Insn::mov_reg(dst, r),
                        Src::Imm(v) => Insn::mov_imm(dst, v),
                    };
                    self.push(insn, span);
                }
                None => {
                    // A cycle: park one source in r0.
                    let (_, src) = pending[0];
                    if let Src::Reg(r) = src {
                        self.push(Insn::mov_reg(0, r), span);
                        for p in &mut pending {
                            if p.1 == Src::Reg(r) {
                                p.1 = Src::Reg(0);
                            }
                        }
                    }
                }
            }
        }
    }

    fn jump_to(&mut self, insn: Insn, target: BlockId, span: Span) {
        self.fixups.push((self.out.insns.len(), target));
        self.push(insn, span);
    }

    fn terminator(&mut self, term: &Terminator, span: Span, next: Option<BlockId>) {
        match term {
            Terminator::Jump(t) => {
                if next != Some(*t) {
                    self.jump_to(Insn::ja(0), *t, span);
                }
            }
            Terminator::Branch { cond, lhs, rhs, then, otherwise } => {
                let (mut cond, mut then, mut otherwise) = (*cond, *then, *otherwise);
                if next == Some(then) {
                    if let Some(inv) = invert(cond) {
                        cond = inv;
                        std::mem::swap(&mut then, &mut otherwise);
                    }
                }
                let l = self.reg(*lhs);
                let insn = match rhs {
                    Operand::Reg(r) => Insn::jump_reg(jump_code(cond), l, self.reg(*r), 0),
                    Operand::Imm(i) => Insn::jump_imm(jump_code(cond), l, *i, 0),
                };
                self.jump_to(insn, then, span);
                if next != Some(otherwise) {
                    self.jump_to(Insn::ja(0), otherwise, span);
                }
            }
            Terminator::Exit { value } => {
                self.operand_into(0, value, span);
                self.push(Insn::exit(), span);
            }
        }
    }
}
