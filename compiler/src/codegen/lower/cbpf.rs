//! `filter(skb, "…")`: libpcap's classic BPF (link type RAW) translated to
//! the IR, as pwru and retis do. A and X are virtual registers holding
//! 32-bit values zero-extended, M[] is a stack buffer, and a packet load
//! reads the skb's bytes from its network header with
//! bpf_probe_read_kernel after checking them against the bytes in the head
//! buffer: a load past them rejects the packet, as a load past the end does
//! in classic BPF (headers are in the head buffer; a paged payload is not
//! read).
//! Classic BPF only jumps forward, so the result has no loops.

use ntr_lang::source::Span;
use ntr_lang::tir::{CbpfInsn, Expr, PacketLayout};

use super::{Lower, Result};
use crate::bpf::helpers as h;
use crate::codegen::builder::Mem;
use crate::ir::{AluOp, BlockId, Cond, Inst, Operand, Size, Vreg};

// Fields of the opcode (linux/filter.h, `struct sock_filter`).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const MSH: u16 = 0xa0;
const SRC_X: u16 = 0x08;
/// `skb->network_header` when not set.
const UNSET: i32 = 0xffff;
/// Scratch memory words M[0..15].
const MEMWORDS: u32 = 16;
/// Bytes from the network header read once, for loads at constant offsets
/// (the IP header and the start of what follows it); loads beyond, or at
/// offsets computed from the packet, read their own bytes.
const PREFIX: u32 = 64;

/// The packet as the program sees it.
struct Packet {
    /// Kernel address of the network header.
    start: Vreg,
    /// Bytes from there to the end of the packet (`len`).
    len: Vreg,
    /// Bytes from there to the end of the head buffer's data, which loads
    /// are checked against.
    linear: Vreg,
    /// 4 bytes a load reads into.
    buf: Mem,
    /// The first `PREFIX` bytes, when the program loads from there.
    prefix: Option<Mem>,
}

/// Where a load reads: a constant offset, or one computed (`X + k`).
#[derive(Clone, Copy)]
enum Offset {
    Const(u32),
    Reg(Vreg),
}

impl Lower<'_> {
    /// Branch to `t` when the program accepts the packet, else to `f`.
    pub(super) fn packet_filter(&mut self, skb: &Expr, l: &PacketLayout, prog: &[CbpfInsn], t: BlockId, f: BlockId, span: Span) -> Result<()> {
        let head = self.skb_field(skb, l.head, 8, span)?;
        let data = self.skb_field(skb, l.data, 8, span)?;
        let len = self.skb_field(skb, l.len, 4, span)?;
        let nh = self.skb_field(skb, l.network_header, 2, span)?;
        self.require(Cond::Ne, nh, Operand::Imm(UNSET), f, span);
        let start = self.b.copy(head, span);
        self.b.alu(AluOp::Add, start, Operand::Reg(nh), span);
        // skb->len counts from skb->data, which may be before the network
        // header (output) or after it (input, once IP has pulled it).
        let plen = self.b.copy(len, span);
        self.b.alu(AluOp::Add, plen, Operand::Reg(data), span);
        self.b.alu(AluOp::Sub, plen, Operand::Reg(start), span);
        self.require(Cond::Sge, plen, Operand::Imm(0), f, span);
        let tail = self.skb_field(skb, l.tail, 4, span)?;
        let linear = self.b.copy(tail, span);
        self.b.alu(AluOp::Sub, linear, Operand::Reg(nh), span);
        self.require(Cond::Sge, linear, Operand::Imm(0), f, span);
        let fixed = prog.iter().any(|i| matches!((i.code & 0x07, i.code & 0xe0), (LD, ABS) | (LDX, MSH)) && i.k < PREFIX);
        let prefix = fixed.then(|| self.b.alloc(PREFIX, span));
        if let Some(p) = prefix {
            // Past a short packet's end this reads the rest of its head
            // buffer, which skb_shared_info follows: readable, and never
            // used (loads are checked against the data's end first). A failed
            // read rejects the packet, as a failed load does.
            let dst = self.b.ptr(p, 0, span);
            let r = self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Imm(PREFIX as i32), Operand::Reg(start)], span);
            self.require(Cond::Eq, r, Operand::Imm(0), f, span);
        }
        let pkt = Packet { start, len: plen, linear, buf: self.b.alloc(4, span), prefix };

        let (a, x) = (self.b.imm(0, span), self.b.imm(0, span));
        let scratch = prog.iter().any(|i| matches!(i.code & 0x07, ST | STX) || i.code & 0xe7 == MEM);
        let m = scratch.then(|| {
            let m = self.b.alloc(MEMWORDS * 4, span);
            self.b.zero(m, 0, MEMWORDS * 4, span);
            m
        });
        let blocks: Vec<BlockId> = (0..prog.len()).map(|_| self.b.block()).collect();
        let Some(&first) = blocks.first() else {
            return self.unsupported(span, "an empty classic BPF program");
        };
        self.b.jump(first, span, first);
        for (i, ins) in prog.iter().enumerate() {
            self.b.cur = blocks[i];
            // The block after this instruction; past the end is a reject
            // (libpcap's programs end in `ret`).
            let at = |n: usize| blocks.get(i + 1 + n).copied().unwrap_or(f);
            let k = ins.k;
            match ins.code & 0x07 {
                LD | LDX => {
                    let dst = if ins.code & 0x07 == LD { a } else { x };
                    let v = match ins.code & 0xe0 {
                        IMM => self.b.imm(k as u64, span),
                        LEN => self.b.copy(pkt.len, span),
                        MEM => {
                            let m = m.expect("scratch allocated for M[] loads");
                            self.b.load(m, (k % MEMWORDS) * 4, Size::W, span)
                        }
                        ABS if ins.code & 0x07 == LD && k < 0xffff_f000 => self.packet_load(&pkt, Offset::Const(k), ins.code, f, span)?,
                        IND if ins.code & 0x07 == LD => {
                            let off = self.b.copy(x, span);
                            let k = self.operand32(k, span);
                            self.b.alu(AluOp::Add, off, k, span);
                            self.packet_load(&pkt, Offset::Reg(off), ins.code, f, span)?
                        }
                        MSH if ins.code & 0x07 == LDX => {
                            let v = self.packet_load(&pkt, Offset::Const(k), 0x10, f, span)?;
                            self.b.alu(AluOp::And, v, Operand::Imm(0xf), span);
                            self.b.alu(AluOp::Lsh, v, Operand::Imm(2), span);
                            v
                        }
                        _ => return self.unsupported(span, &format!("classic BPF load {:#06x} (Linux ancillary data)", ins.code)),
                    };
                    self.b.emit(Inst::Mov { dst, src: Operand::Reg(v) }, span);
                    self.b.jump(at(0), span, at(0));
                }
                ST | STX => {
                    let m = m.expect("scratch allocated for M[] stores");
                    let src = if ins.code & 0x07 == ST { a } else { x };
                    self.b.store(m, (k % MEMWORDS) * 4, Operand::Reg(src), Size::W, span);
                    self.b.jump(at(0), span, at(0));
                }
                ALU => {
                    self.alu32(a, x, ins, f, span)?;
                    self.b.jump(at(0), span, at(0));
                }
                JMP => {
                    let op = ins.code & 0xf0;
                    if op == 0x00 {
                        self.b.jump(at(k as usize), span, at(k as usize));
                        continue;
                    }
                    let cond = match op {
                        0x10 => Cond::Eq,
                        0x20 => Cond::Gt,
                        0x30 => Cond::Ge,
                        0x40 => Cond::Set,
                        _ => return self.unsupported(span, &format!("classic BPF jump {:#06x}", ins.code)),
                    };
                    let rhs = if ins.code & SRC_X != 0 { Operand::Reg(x) } else { self.operand32(k, span) };
                    let (yes, no) = (at(ins.jt as usize), at(ins.jf as usize));
                    self.b.branch(cond, a, rhs, yes, no, span);
                }
                RET => {
                    let verdict = match ins.code & 0x18 {
                        0x00 => {
                            let target = if k != 0 { t } else { f };
                            self.b.jump(target, span, target);
                            continue;
                        }
                        0x08 => x,
                        _ => a,
                    };
                    self.b.branch(Cond::Ne, verdict, Operand::Imm(0), t, f, span);
                }
                // MISC: TAX, TXA.
                _ => {
                    let (dst, src) = match ins.code & 0xf8 {
                        0x00 => (x, a),
                        0x80 => (a, x),
                        _ => return self.unsupported(span, &format!("classic BPF instruction {:#06x}", ins.code)),
                    };
                    self.b.emit(Inst::Mov { dst, src: Operand::Reg(src) }, span);
                    self.b.jump(at(0), span, at(0));
                }
            }
        }
        // Leave the builder in a fresh block, as `cond` callers expect.
        let next = self.b.block();
        self.b.cur = next;
        Ok(())
    }

    /// `k` as an operand compared with or applied to a zero-extended 32-bit
    /// value: immediates are sign-extended, so large ones go in a register.
    fn operand32(&mut self, k: u32, span: Span) -> Operand {
        match i32::try_from(k) {
            Ok(i) => Operand::Imm(i),
            Err(_) => Operand::Reg(self.b.imm(k as u64, span)),
        }
    }

    /// A classic BPF ALU instruction on A, with 32-bit results.
    fn alu32(&mut self, a: Vreg, x: Vreg, ins: &CbpfInsn, f: BlockId, span: Span) -> Result<()> {
        let op = ins.code & 0xf0;
        if op == 0x80 {
            self.b.emit(Inst::Neg { dst: a }, span);
            self.truncate(a, span);
            return Ok(());
        }
        let src = if ins.code & SRC_X != 0 { Operand::Reg(x) } else { self.operand32(ins.k, span) };
        let alu = match op {
            0x00 => AluOp::Add,
            0x10 => AluOp::Sub,
            0x20 => AluOp::Mul,
            0x30 => AluOp::Div,
            0x40 => AluOp::Or,
            0x50 => AluOp::And,
            0x60 => AluOp::Lsh,
            0x70 => AluOp::Rsh,
            0x90 => AluOp::Mod,
            0xa0 => AluOp::Xor,
            _ => return self.unsupported(span, &format!("classic BPF ALU operation {:#06x}", ins.code)),
        };
        if matches!(alu, AluOp::Div | AluOp::Mod) {
            // Classic BPF rejects the packet on a division by zero.
            // (libpcap refuses a constant 0 divisor itself.)
            if let Operand::Reg(r) = src {
                self.require(Cond::Ne, r, Operand::Imm(0), f, span);
            }
        }
        self.b.alu(alu, a, src, span);
        if matches!(alu, AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::Lsh) {
            self.truncate(a, span);
        }
        Ok(())
    }

    /// Keep the low 32 bits of `v`.
    fn truncate(&mut self, v: Vreg, span: Span) {
        self.b.alu(AluOp::Lsh, v, Operand::Imm(32), span);
        self.b.alu(AluOp::Rsh, v, Operand::Imm(32), span);
    }

    /// The big-endian word, half-word or byte (by `code`'s size field) at
    /// byte `at` of the packet; rejects the packet (`f`) when it is past
    /// the end or unreadable.
    fn packet_load(&mut self, pkt: &Packet, at: Offset, code: u16, f: BlockId, span: Span) -> Result<Vreg> {
        let size: u32 = match code & 0x18 {
            0x00 => 4,
            0x08 => 2,
            0x10 => 1,
            _ => return self.unsupported(span, &format!("classic BPF load size {:#06x}", code)),
        };
        let (buf, from) = match (at, pkt.prefix) {
            (Offset::Const(k), Some(prefix)) if k.checked_add(size).is_some_and(|end| end <= PREFIX) => {
                self.require(Cond::Ge, pkt.linear, Operand::Imm((k + size) as i32), f, span);
                (prefix, k)
            }
            _ => {
                let off = match at {
                    Offset::Const(k) => self.b.imm(k as u64, span),
                    Offset::Reg(r) => r,
                };
                let end = self.b.copy(off, span);
                self.b.alu(AluOp::Add, end, Operand::Imm(size as i32), span);
                self.require(Cond::Le, end, Operand::Reg(pkt.linear), f, span);
                let src = self.b.copy(pkt.start, span);
                self.b.alu(AluOp::Add, src, Operand::Reg(off), span);
                let dst = self.b.ptr(pkt.buf, 0, span);
                let r = self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Imm(size as i32), Operand::Reg(src)], span);
                self.require(Cond::Eq, r, Operand::Imm(0), f, span);
                (pkt.buf, 0)
            }
        };
        // Network byte order: the first byte is the most significant.
        let v = self.b.load(buf, from, Size::B, span);
        for i in 1..size {
            self.b.alu(AluOp::Lsh, v, Operand::Imm(8), span);
            let byte = self.b.load(buf, from + i, Size::B, span);
            self.b.alu(AluOp::Or, v, Operand::Reg(byte), span);
        }
        Ok(v)
    }
}
