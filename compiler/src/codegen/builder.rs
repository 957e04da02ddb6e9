//! Building one IR function: blocks, virtual registers, and memory for
//! values that do not fit a register (stack buffers while they are small,
//! the per-CPU scratch map beyond that).

use ntr_lang::source::Span;

use crate::ir::{AluOp, Block, BlockId, BufId, Cond, Function, Inst, Operand, Size, StackBuf, Terminator, Vreg};

/// Stack bytes buffers may take; the rest of the 512 is left for spills.
const STACK_BUFFERS: u32 = 256;

#[derive(Clone, Copy, Debug)]
pub enum Place {
    Stack(BufId),
    /// Byte offset in the scratch map's value.
    Scratch(u32),
}

/// A value in memory.
#[derive(Clone, Copy, Debug)]
pub struct Mem {
    pub place: Place,
    pub len: u32,
}

pub struct Builder {
    pub f: Function,
    pub cur: BlockId,
    pub ctx: Vreg,
    /// The scratch map value, looked up at entry when `scratch_size > 0`.
    pub scratch: Vreg,
    pub scratch_size: u32,
    stack_used: u32,
    /// Buffer addresses already computed in a block: (block, buffer, vreg).
    addrs: Vec<(BlockId, BufId, Vreg)>,
}

impl Builder {
    pub fn new(name: &str, span: Span) -> Builder {
        let empty = |span| Block { insts: Vec::new(), term: (Terminator::Exit { value: Operand::Imm(0) }, span) };
        // Buffer 0 is the scratch map's key, so it is on the stack whatever
        // the body allocates.
        let bufs = vec![StackBuf { size: 8, span }];
        let f = Function { name: name.to_string(), blocks: vec![empty(span), empty(span)], vregs: 2, bufs, span };
        // Block 0 is the entry (filled in by `finish`), block 1 the body.
        Builder { f, cur: 1, ctx: Vreg(0), scratch: Vreg(1), scratch_size: 0, stack_used: 8, addrs: Vec::new() }
    }

    pub fn vreg(&mut self) -> Vreg {
        let v = Vreg(self.f.vregs);
        self.f.vregs += 1;
        v
    }

    pub fn block(&mut self) -> BlockId {
        self.f.blocks.push(Block { insts: Vec::new(), term: (Terminator::Exit { value: Operand::Imm(0) }, self.f.span) });
        self.f.blocks.len() - 1
    }

    pub fn emit(&mut self, inst: Inst, span: Span) {
        self.f.blocks[self.cur].insts.push((inst, span));
    }

    /// End the current block and continue in `next`.
    pub fn terminate(&mut self, term: Terminator, span: Span, next: BlockId) {
        self.f.blocks[self.cur].term = (term, span);
        self.cur = next;
    }

    pub fn jump(&mut self, target: BlockId, span: Span, next: BlockId) {
        self.terminate(Terminator::Jump(target), span, next);
    }

    pub fn branch(&mut self, cond: Cond, lhs: Vreg, rhs: Operand, then: BlockId, otherwise: BlockId, span: Span) {
        let next = self.block();
        self.terminate(Terminator::Branch { cond, lhs, rhs, then, otherwise }, span, next);
    }

    pub fn imm(&mut self, value: u64, span: Span) -> Vreg {
        let v = self.vreg();
        match i32::try_from(value as i64) {
            Ok(i) => self.emit(Inst::Mov { dst: v, src: Operand::Imm(i) }, span),
            Err(_) => self.emit(Inst::LoadImm64 { dst: v, imm: value }, span),
        }
        v
    }

    /// A fresh copy of `v` (ALU instructions overwrite their destination).
    pub fn copy(&mut self, v: Vreg, span: Span) -> Vreg {
        let t = self.vreg();
        self.emit(Inst::Mov { dst: t, src: Operand::Reg(v) }, span);
        t
    }

    pub fn alu(&mut self, op: AluOp, dst: Vreg, src: Operand, span: Span) {
        self.emit(Inst::Alu { op, dst, src }, span);
    }

    pub fn call(&mut self, helper: u32, args: Vec<Operand>, span: Span) -> Vreg {
        let dst = self.vreg();
        self.emit(Inst::Call { helper, args, dst: Some(dst) }, span);
        dst
    }

    pub fn map_ptr(&mut self, symbol: &str, span: Span) -> Vreg {
        let v = self.vreg();
        self.emit(Inst::LoadMap { dst: v, map: symbol.to_string() }, span);
        v
    }

    /// Memory for a value of `len` bytes.
    pub fn alloc(&mut self, len: u32, span: Span) -> Mem {
        let size = len.div_ceil(8) * 8;
        if self.stack_used + size <= STACK_BUFFERS {
            self.stack_used += size;
            self.f.bufs.push(StackBuf { size, span });
            Mem { place: Place::Stack(self.f.bufs.len() - 1), len }
        } else {
            let off = self.scratch_size;
            self.scratch_size += size;
            Mem { place: Place::Scratch(off), len }
        }
    }

    /// A base register and offset addressing byte `off` of `m`.
    pub fn addr(&mut self, m: Mem, off: u32, span: Span) -> (Vreg, i16) {
        match m.place {
            Place::Stack(buf) => {
                // Reuse the address computed earlier in this block: it dominates.
                if let Some((_, _, v)) = self.addrs.iter().find(|(b, f, _)| *b == self.cur && *f == buf) {
                    return (*v, off as i16);
                }
                let v = self.vreg();
                self.emit(Inst::StackAddr { dst: v, buf, off: 0 }, span);
                self.addrs.push((self.cur, buf, v));
                (v, off as i16)
            }
            Place::Scratch(base) => (self.scratch, (base + off) as i16),
        }
    }

    /// A pointer to byte `off` of `m`, for helper arguments.
    pub fn ptr(&mut self, m: Mem, off: u32, span: Span) -> Vreg {
        match m.place {
            Place::Stack(buf) => {
                let v = self.vreg();
                self.emit(Inst::StackAddr { dst: v, buf, off: off as i16 }, span);
                v
            }
            Place::Scratch(base) => {
                let v = self.copy(self.scratch, span);
                self.alu(AluOp::Add, v, Operand::Imm((base + off) as i32), span);
                v
            }
        }
    }

    pub fn store(&mut self, m: Mem, off: u32, src: Operand, size: Size, span: Span) {
        let (base, o) = self.addr(m, off, span);
        self.emit(Inst::Store { base, off: o, src, size }, span);
    }

    /// Store `src` as the first instructions of the current block (for
    /// values every later use must find set).
    pub fn prepend_store(&mut self, m: Mem, src: Operand, span: Span) {
        let cur = self.cur;
        let before = std::mem::take(&mut self.f.blocks[cur].insts);
        let (base, off) = match m.place {
            Place::Stack(buf) => {
                let v = self.vreg();
                self.f.blocks[cur].insts.push((Inst::StackAddr { dst: v, buf, off: 0 }, span));
                (v, 0)
            }
            Place::Scratch(o) => (self.scratch, o as i16),
        };
        self.f.blocks[cur].insts.push((Inst::Store { base, off, src, size: Size::DW }, span));
        self.f.blocks[cur].insts.extend(before);
    }

    pub fn load(&mut self, m: Mem, off: u32, size: Size, span: Span) -> Vreg {
        let (base, o) = self.addr(m, off, span);
        let dst = self.vreg();
        self.emit(Inst::Load { dst, base, off: o, size }, span);
        dst
    }

    /// Zero `len` bytes of `m` from `off` (both multiples of 8).
    pub fn zero(&mut self, m: Mem, off: u32, len: u32, span: Span) {
        let (base, o) = self.addr(m, off, span);
        for i in (0..len).step_by(8) {
            self.emit(Inst::Store { base, off: o + i as i16, src: Operand::Imm(0), size: Size::DW }, span);
        }
    }

    /// Copy `len` bytes from `src` into `dst` at `dst_off`.
    pub fn copy_mem(&mut self, dst: Mem, dst_off: u32, src: Mem, len: u32, span: Span) {
        self.copy_bytes(dst, dst_off, src, 0, len, span);
    }

    /// Copy `len` bytes from `src` at `src_off` into `dst` at `dst_off`
    /// (offsets aligned to the copy's word size).
    pub fn copy_bytes(&mut self, dst: Mem, dst_off: u32, src: Mem, src_off: u32, len: u32, span: Span) {
        let (sb, so) = self.addr(src, src_off, span);
        let (db, doff) = self.addr(dst, dst_off, span);
        let mut i = 0;
        while i < len {
            let size = if len - i >= 8 {
                Size::DW
            } else if len - i >= 4 {
                Size::W
            } else if len - i >= 2 {
                Size::H
            } else {
                Size::B
            };
            let t = self.vreg();
            self.emit(Inst::Load { dst: t, base: sb, off: so + i as i16, size }, span);
            self.emit(Inst::Store { base: db, off: doff + i as i16, src: Operand::Reg(t), size }, span);
            i += size.bytes();
        }
    }

    /// Fill the entry block (context, scratch lookup) and hand the function over.
    pub fn finish(mut self, scratch_map: &str, exit: BlockId, span: Span) -> Function {
        let body = 1;
        self.cur = 0;
        self.emit(Inst::Ctx { dst: self.ctx }, span);
        if self.scratch_size > 0 {
            let key = Mem { place: Place::Stack(0), len: 8 };
            self.store(key, 0, Operand::Imm(0), Size::DW, span);
            let map = self.map_ptr(scratch_map, span);
            let kp = self.ptr(key, 0, span);
            self.emit(
                Inst::Call { helper: crate::bpf::helpers::MAP_LOOKUP_ELEM, args: vec![Operand::Reg(map), Operand::Reg(kp)], dst: Some(self.scratch) },
                span,
            );
            let scratch = self.scratch;
            self.f.blocks[0].term = (Terminator::Branch { cond: Cond::Eq, lhs: scratch, rhs: Operand::Imm(0), then: exit, otherwise: body }, span);
        } else {
            self.f.blocks[0].term = (Terminator::Jump(body), span);
        }
        self.f
    }
}
