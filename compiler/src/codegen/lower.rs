//! Lowering one typed probe to an IR function.

use ntr_lang::ast::{BinOp, UnOp};
use ntr_lang::source::Span;
use ntr_lang::tir::{Access, AggFunc, Attach, Builtin, Expr, ExprKind, MapKind, MapUpdate, Output, Probe, Stmt, StmtKind};
use ntr_lang::types::{Type, BUF_HEADER, JOIN_ARGS, JOIN_ARG_LEN};

use super::builder::{Builder, Mem};
use super::layout;
use crate::artifact::{map_full_counter, EventInfo, MapInfo, EVENT_HEADER, LOST_EVENTS};
use crate::bpf::helpers as h;
use crate::error::CompileError;
use crate::ir::{AluOp, BlockId, Cond, Function, Inst, Operand, Size, Terminator, Vreg};

mod cbpf;
mod net;

type Result<T> = std::result::Result<T, CompileError>;

pub struct Lowered {
    pub function: Function,
    pub scratch_size: u32,
    /// Depths of the stack maps the probe takes stacks into (0: full).
    pub stack_depths: Vec<u8>,
}

/// A value: in a register, or in memory.
#[derive(Clone, Copy)]
enum Val {
    Reg(Vreg),
    Mem(Mem),
}

/// The bytes `put` writes for value `v` of type `ty`: a register whole,
/// memory up to its slot.
fn put_len(v: &Val, ty: &Type) -> u32 {
    match v {
        Val::Reg(_) => 8,
        Val::Mem(src) => layout::slot_size(ty).min(src.len),
    }
}

#[derive(Clone, Copy)]
enum LocalSlot {
    Reg(Vreg),
    Mem(Mem),
}

struct Lower<'a> {
    b: Builder,
    maps: &'a [MapInfo],
    events: &'a mut Vec<EventInfo>,
    locals: Vec<LocalSlot>,
    /// Where `return` jumps: innermost inlined fn last; empty = leave the probe.
    returns: Vec<BlockId>,
    exit: BlockId,
    stack_depths: Vec<u8>,
    /// Where each kind of stack's id is kept once taken.
    stack_slots: Vec<(Builtin, Mem)>,
    attach: &'a Attach,
}

/// `hit_counter`: the counters-map index this probe counts its runs in,
/// where they are counted (the REPL's `:list`).
pub fn lower(probe: &Probe, symbol: &str, maps: &[MapInfo], events: &mut Vec<EventInfo>, hit_counter: Option<u32>) -> Result<Lowered> {
    let mut b = Builder::new(symbol, probe.span);
    let exit = b.block();
    let locals = probe
        .locals
        .iter()
        .map(|l| if l.ty.is_memory() { LocalSlot::Mem(b.alloc(layout::slot_size(&l.ty), l.span)) } else { LocalSlot::Reg(b.vreg()) })
        .collect();
    let mut lw =
        Lower { b, maps, events, locals, returns: Vec::new(), exit, stack_depths: Vec::new(), stack_slots: Vec::new(), attach: &probe.attach };
    if let Some(cond) = &probe.cond {
        let (body, skip) = (lw.b.block(), lw.b.block());
        lw.cond(cond, body, skip)?;
        lw.b.f.blocks[skip].term = (Terminator::Jump(exit), cond.span);
        lw.b.cur = body;
    }
    // A hit is a run that passed the condition: what the block saw.
    if let Some(index) = hit_counter {
        lw.count_loss(index, probe.span);
    }
    lw.stmts(&probe.body)?;
    let end = lw.b.block();
    lw.b.jump(exit, probe.span, end);
    lw.b.f.blocks[exit].term = (Terminator::Exit { value: Operand::Imm(0) }, probe.span);
    let scratch_size = lw.b.scratch_size;
    let stack_depths = lw.stack_depths;
    let function = lw.b.finish(super::SCRATCH, exit, probe.span);
    Ok(Lowered { function, scratch_size, stack_depths })
}

/// A stack slot's value before the stack is taken (stack ids are >= 0,
/// errors small negatives).
const NOT_TAKEN: i32 = i32::MIN;

fn fits_i32(v: u64) -> Option<i32> {
    i32::try_from(v as i64).ok()
}

impl Lower<'_> {
    // ---- statements -------------------------------------------------------

    fn stmts(&mut self, stmts: &[Stmt]) -> Result<()> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, s: &Stmt) -> Result<()> {
        let span = s.span;
        match &s.kind {
            StmtKind::Let { local, value } => self.assign(*local, value),
            StmtKind::If { cond, then, otherwise } => {
                let (t, f, join) = (self.b.block(), self.b.block(), self.b.block());
                self.cond(cond, t, f)?;
                self.b.cur = t;
                self.stmts(then)?;
                self.b.jump(join, span, f);
                self.stmts(otherwise)?;
                self.b.jump(join, span, join);
                Ok(())
            }
            StmtKind::MapUpdate { map, keys, update } => self.map_update(&self.maps[*map].clone(), keys, update, span),
            StmtKind::MapDelete { map, keys } => {
                let info = self.maps[*map].clone();
                let key = self.key(&info, keys, span)?;
                let m = self.b.map_ptr(&info.symbol, span);
                let kp = self.b.ptr(key, 0, span);
                self.b.call(h::MAP_DELETE_ELEM, vec![Operand::Reg(m), Operand::Reg(kp)], span);
                Ok(())
            }
            StmtKind::Output { output, args } => self.output(output, args, span),
            StmtKind::Inline { body } => {
                let end = self.b.block();
                self.returns.push(end);
                let r = self.stmts(body);
                self.returns.pop();
                r?;
                self.b.jump(end, span, end);
                Ok(())
            }
            StmtKind::Return { value } => {
                if let Some((local, e)) = value {
                    self.assign(*local, e)?;
                }
                let target = self.returns.last().copied().unwrap_or(self.exit);
                let dead = self.b.block();
                self.b.jump(target, span, dead);
                Ok(())
            }
        }
    }

    fn assign(&mut self, local: usize, value: &Expr) -> Result<()> {
        let span = value.span;
        match self.locals[local] {
            LocalSlot::Reg(r) => {
                let v = self.scalar(value)?;
                self.b.emit(Inst::Mov { dst: r, src: Operand::Reg(v) }, span);
            }
            LocalSlot::Mem(m) => {
                let v = self.mem(value)?;
                self.b.zero(m, 0, m.len.div_ceil(8) * 8, span);
                self.b.copy_mem(m, 0, v, v.len.min(m.len), span);
            }
        }
        Ok(())
    }

    // ---- expressions ------------------------------------------------------

    fn expr(&mut self, e: &Expr) -> Result<Val> {
        if e.ty.is_memory() {
            self.mem(e).map(Val::Mem)
        } else {
            self.scalar(e).map(Val::Reg)
        }
    }

    /// An operand: small constants stay immediates.
    fn operand(&mut self, e: &Expr) -> Result<Operand> {
        if let ExprKind::Const(c) = e.kind {
            if let Some(i) = fits_i32(c) {
                return Ok(Operand::Imm(i));
            }
        }
        Ok(Operand::Reg(self.scalar(e)?))
    }

    fn scalar(&mut self, e: &Expr) -> Result<Vreg> {
        let span = e.span;
        Ok(match &e.kind {
            ExprKind::Const(c) => self.b.imm(*c, span),
            ExprKind::Local(l) => match self.locals[*l] {
                LocalSlot::Reg(r) => r,
                LocalSlot::Mem(_) => return self.unsupported(span, "a memory value used as a number"),
            },
            ExprKind::CtxSlot(i) => {
                let v = self.b.vreg();
                let ctx = self.b.ctx;
                self.b.emit(Inst::Load { dst: v, base: ctx, off: *i as i16 * 8, size: Size::DW }, span);
                // A slot is 64 bits; a narrower argument fills only its low
                // bits, the rest is whatever the register held.
                if let Type::Int { size, signed } = e.ty {
                    self.extend(v, size, signed, span);
                }
                v
            }
            ExprKind::CtxField { offset, size, signed } => {
                let v = self.b.vreg();
                let ctx = self.b.ctx;
                self.b.emit(Inst::Load { dst: v, base: ctx, off: *offset as i16, size: size_of(*size as u32)? }, span);
                if *signed {
                    self.extend(v, *size, true, span);
                }
                v
            }
            ExprKind::Builtin(b) => self.builtin(*b, span)?,
            ExprKind::Load { base, offset, size, signed, bitfield, access } => self.load(base, *offset, *size, *signed, *bitfield, *access, span)?,
            ExprKind::Unary { op, operand } => match op {
                UnOp::Not => self.materialize(e)?,
                UnOp::Neg => {
                    let v = self.scalar(operand)?;
                    let t = self.b.copy(v, span);
                    self.b.emit(Inst::Neg { dst: t }, span);
                    t
                }
                UnOp::BitNot => {
                    let v = self.scalar(operand)?;
                    let t = self.b.copy(v, span);
                    self.b.alu(AluOp::Xor, t, Operand::Imm(-1), span);
                    t
                }
                // The checker turns `*p` into a load.
                UnOp::Deref => return self.unsupported(span, "a dereference"),
            },
            ExprKind::Binary { op, lhs, rhs, signed } => match op {
                BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::And | BinOp::Or => self.materialize(e)?,
                _ => {
                    let l = self.scalar(lhs)?;
                    let r = self.operand(rhs)?;
                    let t = self.b.copy(l, span);
                    let alu = match (op, signed) {
                        (BinOp::Add, _) => AluOp::Add,
                        (BinOp::Sub, _) => AluOp::Sub,
                        (BinOp::Mul, _) => AluOp::Mul,
                        (BinOp::Div, false) => AluOp::Div,
                        (BinOp::Div, true) => AluOp::SDiv,
                        (BinOp::Mod, false) => AluOp::Mod,
                        (BinOp::Mod, true) => AluOp::SMod,
                        (BinOp::BitAnd, _) => AluOp::And,
                        (BinOp::BitOr, _) => AluOp::Or,
                        (BinOp::BitXor, _) => AluOp::Xor,
                        (BinOp::Shl, _) => AluOp::Lsh,
                        (BinOp::Shr, false) => AluOp::Rsh,
                        (BinOp::Shr, true) => AluOp::Arsh,
                        _ => return self.unsupported(span, "this operator"),
                    };
                    self.b.alu(alu, t, r, span);
                    t
                }
            },
            ExprKind::Convert { operand, size, signed } => {
                let v = self.scalar(operand)?;
                let t = self.b.copy(v, span);
                self.extend(t, *size, *signed, span);
                t
            }
            ExprKind::MapRead { map, keys } => {
                let info = self.maps[*map].clone();
                let v = self.lookup(&info, keys, span)?;
                let r = self.b.imm(0, span);
                let (found, join) = (self.b.block(), self.b.block());
                self.b.branch(Cond::Ne, v, Operand::Imm(0), found, join, span);
                self.b.cur = found;
                let t = self.b.vreg();
                self.b.emit(Inst::Load { dst: t, base: v, off: 0, size: Size::DW }, span);
                self.b.emit(Inst::Mov { dst: r, src: Operand::Reg(t) }, span);
                self.b.jump(join, span, join);
                r
            }
            ExprKind::Part { base, offset, size } => {
                let m = self.mem(base)?;
                let sz = size_of(*size as u32)?;
                self.b.load(m, *offset, sz, span)
            }
            ExprKind::TupleMatch { .. } | ExprKind::PacketFilter { .. } => self.materialize(e)?,
            ExprKind::Cond { cond, then, otherwise } => {
                let r = self.b.vreg();
                let (t, f, join) = (self.b.block(), self.b.block(), self.b.block());
                self.cond(cond, t, f)?;
                self.b.cur = t;
                let a = self.scalar(then)?;
                self.b.emit(Inst::Mov { dst: r, src: Operand::Reg(a) }, span);
                self.b.jump(join, span, f);
                let c = self.scalar(otherwise)?;
                self.b.emit(Inst::Mov { dst: r, src: Operand::Reg(c) }, span);
                self.b.jump(join, span, join);
                r
            }
            ExprKind::Inline { body, result } => {
                self.stmt(&Stmt { kind: StmtKind::Inline { body: body.clone() }, span })?;
                match self.locals[*result] {
                    LocalSlot::Reg(r) => r,
                    LocalSlot::Mem(_) => return self.unsupported(span, "a string returned from a fn used as a number"),
                }
            }
            ExprKind::Bytes(_) | ExprKind::LoadStr { .. } | ExprKind::ReadStr { .. } | ExprKind::CtxDataLocStr { .. } => {
                return self.unsupported(span, "a string used as a number")
            }
            ExprKind::ReadBuf { .. } | ExprKind::JoinArgv { .. } => return self.unsupported(span, "a buffer used as a number"),
            ExprKind::SkbTuple { .. } | ExprKind::SockTuple { .. } | ExprKind::SkbCt { .. } | ExprKind::Pack(_) => {
                return self.unsupported(span, "a composite value used as a number")
            }
        })
    }

    /// Sign- or zero-extend the low `size` bytes of `v` in place.
    fn extend(&mut self, v: Vreg, size: u8, signed: bool, span: Span) {
        if size >= 8 {
            return;
        }
        let shift = 64 - size as i32 * 8;
        self.b.alu(AluOp::Lsh, v, Operand::Imm(shift), span);
        self.b.alu(if signed { AluOp::Arsh } else { AluOp::Rsh }, v, Operand::Imm(shift), span);
    }

    #[allow(clippy::too_many_arguments)]
    fn load(&mut self, base: &Expr, offset: u32, size: u8, signed: bool, bitfield: Option<(u8, u8)>, access: Access, span: Span) -> Result<Vreg> {
        let ptr = self.scalar(base)?;
        let sz = size_of(size as u32)?;
        let v = self.b.imm(0, span);
        match access {
            Access::Direct if offset <= i16::MAX as u32 => {
                // Any pointer may be NULL: the verifier types those read from
                // kernel memory `..._or_null`, and some tracepoint arguments
                // too (the kernel keeps a list). Read only behind a check.
                let join = self.b.block();
                let present = self.b.block();
                self.b.branch(Cond::Ne, ptr, Operand::Imm(0), present, join, span);
                self.b.cur = present;
                let t = self.b.vreg();
                self.b.emit(Inst::Load { dst: t, base: ptr, off: offset as i16, size: sz }, span);
                self.b.emit(Inst::Mov { dst: v, src: Operand::Reg(t) }, span);
                self.b.jump(join, span, join);
            }
            _ => {
                let buf = self.b.alloc(8, span);
                self.b.store(buf, 0, Operand::Imm(0), Size::DW, span);
                self.probe_read(buf, size as u32, ptr, offset, span);
                let t = self.b.load(buf, 0, sz, span);
                self.b.emit(Inst::Mov { dst: v, src: Operand::Reg(t) }, span);
            }
        }
        if let Some((shift, width)) = bitfield {
            if shift > 0 {
                self.b.alu(AluOp::Rsh, v, Operand::Imm(shift as i32), span);
            }
            let mask = self.b.imm((1u64 << width) - 1, span);
            self.b.alu(AluOp::And, v, Operand::Reg(mask), span);
        } else if signed {
            self.extend(v, size, true, span);
        }
        Ok(v)
    }

    /// Copy `size` bytes at `ptr + offset` into `buf`. An address the kernel
    /// cannot read from its own memory may be a user-space one (a syscall's
    /// argument cast to its struct): it is read from there, as `str()` does,
    /// rather than left zero.
    fn probe_read(&mut self, buf: Mem, size: u32, ptr: Vreg, offset: u32, span: Span) {
        let read = |this: &mut Self, helper: u32| {
            let dst = this.b.ptr(buf, 0, span);
            let src = this.b.copy(ptr, span);
            this.b.alu(AluOp::Add, src, Operand::Imm(offset as i32), span);
            this.b.call(helper, vec![Operand::Reg(dst), Operand::Imm(size as i32), Operand::Reg(src)], span)
        };
        let (user, join) = (self.b.block(), self.b.block());
        let r = read(self, h::PROBE_READ_KERNEL);
        self.b.branch(Cond::Slt, r, Operand::Imm(0), user, join, span);
        self.b.cur = user;
        read(self, h::PROBE_READ_USER);
        self.b.jump(join, span, join);
    }

    /// The slot for `kstack(N)` or `ustack`, set to `NOT_TAKEN` in the entry block.
    fn stack_slot(&mut self, b: Builtin, span: Span) -> Mem {
        if let Some((_, m)) = self.stack_slots.iter().find(|(k, _)| *k == b) {
            return *m;
        }
        let m = self.b.alloc(8, span);
        let here = self.b.cur;
        self.b.cur = 1; // the body's first block, run once at entry
        self.b.prepend_store(m, Operand::Imm(NOT_TAKEN), span);
        self.b.cur = here;
        self.stack_slots.push((b, m));
        m
    }

    fn builtin(&mut self, b: Builtin, span: Span) -> Result<Vreg> {
        Ok(match b {
            Builtin::Pid | Builtin::Tid => {
                let v = self.b.call(h::GET_CURRENT_PID_TGID, vec![], span);
                let t = self.b.copy(v, span);
                if b == Builtin::Pid {
                    self.b.alu(AluOp::Rsh, t, Operand::Imm(32), span);
                } else {
                    self.extend(t, 4, false, span);
                }
                t
            }
            Builtin::Uid | Builtin::Gid => {
                let v = self.b.call(h::GET_CURRENT_UID_GID, vec![], span);
                let t = self.b.copy(v, span);
                if b == Builtin::Gid {
                    self.b.alu(AluOp::Rsh, t, Operand::Imm(32), span);
                } else {
                    self.extend(t, 4, false, span);
                }
                t
            }
            Builtin::Cpu => self.b.call(h::GET_SMP_PROCESSOR_ID, vec![], span),
            Builtin::Nsecs => self.b.call(h::KTIME_GET_NS, vec![], span),
            // Boot time keeps counting through suspend, as the wall clock does.
            Builtin::Walltime => self.b.call(h::KTIME_GET_BOOT_NS, vec![], span),
            Builtin::CurTask => self.b.call(h::GET_CURRENT_TASK, vec![], span),
            Builtin::Cgroup => self.b.call(h::GET_CURRENT_CGROUP_ID, vec![], span),
            Builtin::Elapsed => {
                let now = self.b.call(h::KTIME_GET_NS, vec![], span);
                let t = self.b.copy(now, span);
                let (start, join) = self.array_entry(super::START_MAP, 0, span);
                let s = self.b.vreg();
                self.b.emit(Inst::Load { dst: s, base: start, off: 0, size: Size::DW }, span);
                self.b.alu(AluOp::Sub, t, Operand::Reg(s), span);
                self.b.jump(join, span, join);
                t
            }
            Builtin::KStack(_) | Builtin::UStack => {
                // Walking the stack is costly: once per run of the probe,
                // remembered in a slot that starts out as `NOT_TAKEN`.
                let slot = self.stack_slot(b, span);
                let v = self.b.load(slot, 0, Size::DW, span);
                let (take, join) = (self.b.block(), self.b.block());
                self.b.branch(Cond::Eq, v, Operand::Imm(NOT_TAKEN), take, join, span);
                self.b.cur = take;
                // `kstack(N)` takes N frames more the tracing machinery
                // there may be; the runtime drops that by name. The kernel
                // skips the program's own frame: its address differs at
                // each use, and would split identical stacks.
                let mach = super::stacks::machinery(self.attach);
                let depth = match b {
                    Builtin::KStack(n) if n > 0 => (n as u32 + mach.slack as u32).min(super::STACK_DEPTH) as u8,
                    _ => 0,
                };
                if !self.stack_depths.contains(&depth) {
                    self.stack_depths.push(depth);
                }
                let m = self.b.map_ptr(&super::stack_map(depth), span);
                // Stacks that hash alike are taken as equal (no frame compare).
                let flags = if b == Builtin::UStack { h::BPF_F_USER_STACK } else { mach.skip as i32 } | h::BPF_F_FAST_STACK_CMP;
                let ctx = self.b.ctx;
                let id = self.b.call(h::GET_STACKID, vec![Operand::Reg(ctx), Operand::Reg(m), Operand::Imm(flags)], span);
                // The upper half says where the stack is: for a kernel stack
                // its map and whether tracing frames lead it
                // (`layout::kstack_tag`); a user stack is symbolized in its
                // process, whose pid rides there (`ntr_lang::types::Type::UStack`).
                self.b.alu(AluOp::Lsh, id, Operand::Imm(32), span);
                self.b.alu(AluOp::Rsh, id, Operand::Imm(32), span);
                let upper = if b == Builtin::UStack {
                    let pid = self.b.call(h::GET_CURRENT_PID_TGID, vec![], span);
                    self.b.alu(AluOp::Rsh, pid, Operand::Imm(32), span);
                    self.b.alu(AluOp::Lsh, pid, Operand::Imm(32), span);
                    pid
                } else {
                    self.b.imm(layout::kstack_tag(depth, mach.slack > 0), span)
                };
                self.b.alu(AluOp::Or, id, Operand::Reg(upper), span);
                self.b.store(slot, 0, Operand::Reg(id), Size::DW, span);
                self.b.jump(join, span, join);
                self.b.load(slot, 0, Size::DW, span)
            }
            Builtin::Comm => return self.unsupported(span, "`comm` used as a number"),
            Builtin::Retval => return self.unsupported(span, "`retval` here"),
        })
    }

    /// A comparison or logical expression as 0/1.
    fn materialize(&mut self, e: &Expr) -> Result<Vreg> {
        let span = e.span;
        let r = self.b.vreg();
        let (t, f, join) = (self.b.block(), self.b.block(), self.b.block());
        self.cond(e, t, f)?;
        self.b.cur = t;
        self.b.emit(Inst::Mov { dst: r, src: Operand::Imm(1) }, span);
        self.b.jump(join, span, f);
        self.b.emit(Inst::Mov { dst: r, src: Operand::Imm(0) }, span);
        self.b.jump(join, span, join);
        Ok(r)
    }

    /// Branch to `t` when `e` holds, else to `f`; continues in a fresh block.
    fn cond(&mut self, e: &Expr, t: BlockId, f: BlockId) -> Result<()> {
        let span = e.span;
        match &e.kind {
            ExprKind::Const(c) => {
                let next = self.b.block();
                self.b.jump(if *c != 0 { t } else { f }, span, next);
            }
            ExprKind::Unary { op: UnOp::Not, operand } => self.cond(operand, f, t)?,
            ExprKind::TupleMatch { tuple, tests } => self.tuple_match(tuple, tests, t, f, span)?,
            ExprKind::PacketFilter { skb, layout, prog } => self.packet_filter(skb, layout, prog, t, f, span)?,
            ExprKind::Binary { op: BinOp::And, lhs, rhs, .. } => {
                let mid = self.b.block();
                self.cond(lhs, mid, f)?;
                self.b.cur = mid;
                self.cond(rhs, t, f)?;
            }
            ExprKind::Binary { op: BinOp::Or, lhs, rhs, .. } => {
                let mid = self.b.block();
                self.cond(lhs, t, mid)?;
                self.b.cur = mid;
                self.cond(rhs, t, f)?;
            }
            ExprKind::Binary { op, lhs, rhs, signed } if matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge) => {
                if lhs.ty.is_memory() || rhs.ty.is_memory() {
                    let (a, b) = (self.mem(lhs)?, self.mem(rhs)?);
                    let (eq, ne) = if *op == BinOp::Eq { (t, f) } else { (f, t) };
                    self.bytes_equal(a, b, eq, ne, span);
                } else {
                    let l = self.scalar(lhs)?;
                    let r = self.operand(rhs)?;
                    let c = match (op, signed) {
                        (BinOp::Eq, _) => Cond::Eq,
                        (BinOp::Ne, _) => Cond::Ne,
                        (BinOp::Lt, false) => Cond::Lt,
                        (BinOp::Le, false) => Cond::Le,
                        (BinOp::Gt, false) => Cond::Gt,
                        (BinOp::Ge, false) => Cond::Ge,
                        (BinOp::Lt, true) => Cond::Slt,
                        (BinOp::Le, true) => Cond::Sle,
                        (BinOp::Gt, true) => Cond::Sgt,
                        _ => Cond::Sge,
                    };
                    self.b.branch(c, l, r, t, f, span);
                }
            }
            _ => {
                let v = self.scalar(e)?;
                self.b.branch(Cond::Ne, v, Operand::Imm(0), t, f, span);
            }
        }
        Ok(())
    }

    /// Compare two NUL-terminated byte strings (unrolled; bounded by the shorter).
    fn bytes_equal(&mut self, a: Mem, b: Mem, eq: BlockId, ne: BlockId, span: Span) {
        let n = a.len.min(b.len);
        let (pa, oa) = self.b.addr(a, 0, span);
        let (pb, ob) = self.b.addr(b, 0, span);
        for i in 0..n as i16 {
            let x = self.b.vreg();
            let y = self.b.vreg();
            self.b.emit(Inst::Load { dst: x, base: pa, off: oa + i, size: Size::B }, span);
            self.b.emit(Inst::Load { dst: y, base: pb, off: ob + i, size: Size::B }, span);
            let same = self.b.block();
            self.b.branch(Cond::Ne, x, Operand::Reg(y), ne, same, span);
            self.b.cur = same;
            let more = self.b.block();
            self.b.branch(Cond::Eq, x, Operand::Imm(0), eq, more, span);
            self.b.cur = more;
        }
        let next = self.b.block();
        self.b.jump(eq, span, next);
    }

    fn mem(&mut self, e: &Expr) -> Result<Mem> {
        let span = e.span;
        let len = layout::slot_size(&e.ty);
        Ok(match &e.kind {
            ExprKind::Bytes(bytes) => {
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                for (i, chunk) in bytes.chunks(8).enumerate() {
                    let mut word = [0u8; 8];
                    word[..chunk.len()].copy_from_slice(chunk);
                    let v = u64::from_ne_bytes(word);
                    if v != 0 {
                        let r = self.b.imm(v, span);
                        self.b.store(m, i as u32 * 8, Operand::Reg(r), Size::DW, span);
                    }
                }
                m
            }
            ExprKind::Local(l) => match self.locals[*l] {
                LocalSlot::Mem(m) => m,
                LocalSlot::Reg(_) => return self.unsupported(span, "a number used as a string"),
            },
            ExprKind::Builtin(Builtin::Comm) => {
                let m = self.b.alloc(16, span);
                let p = self.b.ptr(m, 0, span);
                self.b.call(h::GET_CURRENT_COMM, vec![Operand::Reg(p), Operand::Imm(16)], span);
                m
            }
            ExprKind::LoadStr { base, offset, access } => {
                let ptr = self.scalar(base)?;
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                let n = e.ty.size();
                match access {
                    Access::Direct => {
                        let dst = self.b.ptr(m, 0, span);
                        let src = self.b.copy(ptr, span);
                        self.b.alu(AluOp::Add, src, Operand::Imm(*offset as i32), span);
                        self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Imm(n as i32), Operand::Reg(src)], span);
                    }
                    Access::ProbeRead => self.probe_read(m, n, ptr, *offset, span),
                }
                m
            }
            ExprKind::ReadStr { ptr } => {
                let p = self.scalar(ptr)?;
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                let dst = self.b.ptr(m, 0, span);
                let r = self.b.call(h::PROBE_READ_KERNEL_STR, vec![Operand::Reg(dst), Operand::Imm(len as i32), Operand::Reg(p)], span);
                // A pointer the kernel cannot read may be a user-space one
                // (syscall arguments): try that address space next.
                let (user, join) = (self.b.block(), self.b.block());
                self.b.branch(Cond::Slt, r, Operand::Imm(0), user, join, span);
                self.b.cur = user;
                let dst = self.b.ptr(m, 0, span);
                self.b.call(h::PROBE_READ_USER_STR, vec![Operand::Reg(dst), Operand::Imm(len as i32), Operand::Reg(p)], span);
                self.b.jump(join, span, join);
                m
            }
            ExprKind::ReadBuf { ptr, len: n } => {
                let Type::Buf { cap, .. } = e.ty else { return self.unsupported(span, "this buffer") };
                let p = self.scalar(ptr)?;
                let want = self.scalar(n)?;
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                // The length clamped to 0..=cap on every path, so the
                // verifier sees the read stay inside the buffer.
                let count = self.b.imm(0, span);
                let (positive, join) = (self.b.block(), self.b.block());
                self.b.branch(Cond::Sle, want, Operand::Imm(0), join, positive, span);
                self.b.cur = positive;
                let (within, over) = (self.b.block(), self.b.block());
                self.b.branch(Cond::Sgt, want, Operand::Imm(cap as i32), over, within, span);
                self.b.cur = over;
                self.b.emit(Inst::Mov { dst: count, src: Operand::Imm(cap as i32) }, span);
                self.b.jump(join, span, within);
                self.b.emit(Inst::Mov { dst: count, src: Operand::Reg(want) }, span);
                self.b.jump(join, span, join);
                let read = |this: &mut Self, helper: u32| {
                    let dst = this.b.ptr(m, BUF_HEADER, span);
                    let src = this.b.copy(p, span);
                    let size = this.b.copy(count, span);
                    this.b.call(helper, vec![Operand::Reg(dst), Operand::Reg(size), Operand::Reg(src)], span)
                };
                // Kernel memory first, then user memory (a uprobe's or a
                // syscall's buffer); neither readable: the length says so.
                let (user, failed, done) = (self.b.block(), self.b.block(), self.b.block());
                let r = read(self, h::PROBE_READ_KERNEL);
                self.b.branch(Cond::Slt, r, Operand::Imm(0), user, done, span);
                self.b.cur = user;
                let r = read(self, h::PROBE_READ_USER);
                let store_count = self.b.block();
                self.b.branch(Cond::Slt, r, Operand::Imm(0), failed, store_count, span);
                self.b.cur = failed;
                self.b.emit(Inst::Mov { dst: count, src: Operand::Imm(-1) }, span);
                self.b.jump(done, span, store_count);
                self.b.jump(done, span, done);
                self.b.store(m, 0, Operand::Reg(count), Size::DW, span);
                m
            }
            ExprKind::JoinArgv { argv } => {
                // Each pointer of the array, then its string after the last,
                // until a NULL pointer, a fault, JOIN_ARGS strings or no room
                // for a whole one; the count of bytes read goes in the header.
                let argv = self.scalar(argv)?;
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                let slot = self.b.alloc(8, span);
                let used = self.b.imm(0, span);
                let done = self.b.block();
                let room = len - BUF_HEADER - JOIN_ARG_LEN;
                for i in 0..JOIN_ARGS {
                    let dst = self.b.ptr(slot, 0, span);
                    let src = self.b.copy(argv, span);
                    self.b.alu(AluOp::Add, src, Operand::Imm((i * 8) as i32), span);
                    let r = self.b.call(h::PROBE_READ_USER, vec![Operand::Reg(dst), Operand::Imm(8), Operand::Reg(src)], span);
                    let read = self.b.block();
                    self.b.branch(Cond::Ne, r, Operand::Imm(0), done, read, span);
                    self.b.cur = read;
                    let s = self.b.load(slot, 0, Size::DW, span);
                    let (nonnull, fits) = (self.b.block(), self.b.block());
                    self.b.branch(Cond::Eq, s, Operand::Imm(0), done, nonnull, span);
                    self.b.cur = nonnull;
                    self.b.branch(Cond::Gt, used, Operand::Imm(room as i32), done, fits, span);
                    self.b.cur = fits;
                    let at = self.b.ptr(m, BUF_HEADER, span);
                    self.b.alu(AluOp::Add, at, Operand::Reg(used), span);
                    let n = self.b.call(h::PROBE_READ_USER_STR, vec![Operand::Reg(at), Operand::Imm(JOIN_ARG_LEN as i32), Operand::Reg(s)], span);
                    let next = self.b.block();
                    self.b.branch(Cond::Sle, n, Operand::Imm(0), done, next, span);
                    self.b.cur = next;
                    self.b.alu(AluOp::Add, used, Operand::Reg(n), span);
                }
                self.b.jump(done, span, done);
                self.b.store(m, 0, Operand::Reg(used), Size::DW, span);
                m
            }
            ExprKind::MapRead { map, keys } => {
                let info = self.maps[*map].clone();
                let v = self.lookup(&info, keys, span)?;
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                let (found, join) = (self.b.block(), self.b.block());
                self.b.branch(Cond::Ne, v, Operand::Imm(0), found, join, span);
                self.b.cur = found;
                let (db, doff) = self.b.addr(m, 0, span);
                for i in (0..len).step_by(8) {
                    let t = self.b.vreg();
                    self.b.emit(Inst::Load { dst: t, base: v, off: i as i16, size: Size::DW }, span);
                    self.b.emit(Inst::Store { base: db, off: doff + i as i16, src: Operand::Reg(t), size: Size::DW }, span);
                }
                self.b.jump(join, span, join);
                m
            }
            ExprKind::Inline { body, result } => {
                self.stmt(&Stmt { kind: StmtKind::Inline { body: body.clone() }, span })?;
                match self.locals[*result] {
                    LocalSlot::Mem(m) => m,
                    LocalSlot::Reg(_) => return self.unsupported(span, "a number used as a string"),
                }
            }
            ExprKind::SkbTuple { skb, layout, canonical } => {
                let m = self.skb_tuple(skb, layout, span)?;
                if *canonical {
                    self.order_endpoints(m, span);
                }
                m
            }
            ExprKind::SkbCt { skb, layout } => self.skb_ct(skb, layout, span)?,
            ExprKind::SockTuple { sk, layout } => self.sock_tuple(sk, layout, span)?,
            ExprKind::Part { base, offset, .. } => {
                let src = self.mem(base)?;
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                // A part may be shorter than its type (a conntrack entry's
                // tuple has no ICMP quote): the rest stays zero.
                let n = e.ty.size().min(src.len.saturating_sub(*offset));
                self.b.copy_bytes(m, 0, src, *offset, n, span);
                m
            }
            ExprKind::Pack(parts) => {
                // Each part in turn, at 8-byte boundaries (`net::CAUSE_*`).
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                let mut at = 0;
                for p in parts {
                    if p.ty.is_memory() {
                        let v = self.mem(p)?;
                        self.b.copy_bytes(m, at, v, 0, p.ty.size().min(v.len), span);
                    } else {
                        let v = self.scalar(p)?;
                        self.b.store(m, at, Operand::Reg(v), Size::DW, span);
                    }
                    at += p.ty.size().next_multiple_of(8);
                }
                m
            }
            ExprKind::Cond { cond, then, otherwise } => {
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                let (t, f, join) = (self.b.block(), self.b.block(), self.b.block());
                self.cond(cond, t, f)?;
                self.b.cur = t;
                let a = self.mem(then)?;
                self.b.copy_bytes(m, 0, a, 0, len.min(a.len), span);
                self.b.jump(join, span, f);
                let b = self.mem(otherwise)?;
                self.b.copy_bytes(m, 0, b, 0, len.min(b.len), span);
                self.b.jump(join, span, join);
                m
            }
            ExprKind::CtxDataLocStr { offset } => {
                // A `__data_loc` field: the string's offset in the record in
                // its low 16 bits (its length in the high ones).
                let ctx = self.b.ctx;
                let loc = self.b.vreg();
                self.b.emit(Inst::Load { dst: loc, base: ctx, off: *offset as i16, size: Size::W }, span);
                self.b.alu(AluOp::And, loc, Operand::Imm(0xffff), span);
                let src = self.b.copy(ctx, span);
                self.b.alu(AluOp::Add, src, Operand::Reg(loc), span);
                let m = self.b.alloc(len, span);
                self.b.zero(m, 0, len, span);
                let dst = self.b.ptr(m, 0, span);
                self.b.call(h::PROBE_READ_KERNEL_STR, vec![Operand::Reg(dst), Operand::Imm(len as i32), Operand::Reg(src)], span);
                m
            }
            _ => return self.unsupported(span, "this string expression"),
        })
    }

    fn unsupported<T>(&self, span: Span, what: &str) -> Result<T> {
        Err(CompileError::Unsupported { span, what: what.to_string() })
    }

    /// Store value `v` of type `ty` at byte `off` of `m` (key/record layout).
    fn put(&mut self, m: Mem, off: u32, v: Val, ty: &Type, span: Span) {
        match v {
            Val::Reg(r) => self.b.store(m, off, Operand::Reg(r), Size::DW, span),
            Val::Mem(src) => self.b.copy_mem(m, off, src, put_len(&v, ty), span),
        }
    }

    // ---- maps -------------------------------------------------------------

    /// Build a map key. Keys hash bytewise, so every byte no field writes
    /// (padding, the rest of a short value) is zeroed. A key that is one
    /// value already in memory, laid out as the key, is used where it is
    /// (`@by_cause[cause = why]`: 224 bytes not copied).
    fn key(&mut self, info: &MapInfo, keys: &[Expr], span: Span) -> Result<Mem> {
        let vals = keys.iter().map(|k| self.expr(k)).collect::<Result<Vec<_>>>()?;
        if let ([Val::Mem(src)], [field]) = (vals.as_slice(), info.key.as_slice()) {
            if field.offset == 0 && src.len >= info.key_size && layout::slot_size(&field.ty) == info.key_size {
                return Ok(*src);
            }
        }
        let m = self.b.alloc(info.key_size, span);
        let written: Vec<(u32, u32)> = vals.iter().zip(&info.key).map(|(v, f)| (f.offset, f.offset + put_len(v, &f.ty))).collect();
        // Zero each 8-byte word that no field writes in full.
        for word in (0..info.key_size).step_by(8) {
            if !written.iter().any(|&(from, to)| from <= word && word + 8 <= to) {
                self.b.zero(m, word, 8.min(info.key_size - word), span);
            }
        }
        for ((v, field), k) in vals.into_iter().zip(&info.key).zip(keys) {
            self.put(m, field.offset, v, &field.ty, k.span);
        }
        Ok(m)
    }

    fn lookup_key(&mut self, symbol: &str, key: Mem, span: Span) -> Vreg {
        let map = self.b.map_ptr(symbol, span);
        let kp = self.b.ptr(key, 0, span);
        self.b.call(h::MAP_LOOKUP_ELEM, vec![Operand::Reg(map), Operand::Reg(kp)], span)
    }

    fn lookup(&mut self, info: &MapInfo, keys: &[Expr], span: Span) -> Result<Vreg> {
        let key = self.key(info, keys, span)?;
        Ok(self.lookup_key(&info.symbol, key, span))
    }

    /// Count an update that map `info` had no room for.
    fn count_full(&mut self, info: &MapInfo, span: Span) {
        let index = self.maps.iter().position(|m| m.symbol == info.symbol).expect("a map of the program");
        self.count_loss(map_full_counter(index), span);
    }

    /// A pointer to entry `index` of array `symbol`, in a block of its own;
    /// the caller jumps to the returned block when done with it (an array's
    /// entries are always there, but the verifier wants the NULL check).
    fn array_entry(&mut self, symbol: &str, index: u32, span: Span) -> (Vreg, BlockId) {
        let key = self.b.alloc(8, span);
        self.b.store(key, 0, Operand::Imm(index as i32), Size::DW, span);
        let v = self.lookup_key(symbol, key, span);
        let (found, join) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Ne, v, Operand::Imm(0), found, join, span);
        self.b.cur = found;
        (v, join)
    }

    /// Add 1 to a counter of the counters map (a loss, or a probe's run).
    fn count_loss(&mut self, index: u32, span: Span) {
        let (v, join) = self.array_entry(super::COUNTERS_MAP, index, span);
        let t = self.b.vreg();
        self.b.emit(Inst::Load { dst: t, base: v, off: 0, size: Size::DW }, span);
        self.b.alu(AluOp::Add, t, Operand::Imm(1), span);
        self.b.emit(Inst::Store { base: v, off: 0, src: Operand::Reg(t), size: Size::DW }, span);
        self.b.jump(join, span, join);
    }

    /// The value slot for `key`, created zeroed when missing; `None` when
    /// the map is full (counted). Continues in the block where it exists.
    fn value_slot(&mut self, info: &MapInfo, key: Mem, span: Span, done: BlockId) -> Vreg {
        let v = self.lookup_key(&info.symbol, key, span);
        let slot = self.b.vreg();
        self.b.emit(Inst::Mov { dst: slot, src: Operand::Reg(v) }, span);
        let (missing, have) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, v, Operand::Imm(0), missing, have, span);
        self.b.cur = missing;
        let zero = self.b.alloc(info.value_size, span);
        self.b.zero(zero, 0, info.value_size, span);
        let map = self.b.map_ptr(&info.symbol, span);
        let kp = self.b.ptr(key, 0, span);
        let zp = self.b.ptr(zero, 0, span);
        let r = self.b.call(h::MAP_UPDATE_ELEM, vec![Operand::Reg(map), Operand::Reg(kp), Operand::Reg(zp), Operand::Imm(h::BPF_NOEXIST)], span);
        let (failed, ok, full) = (self.b.block(), self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, r, Operand::Imm(0), ok, failed, span);
        self.b.cur = failed;
        // -EEXIST: another CPU created it first.
        self.b.branch(Cond::Eq, r, Operand::Imm(-17), ok, full, span);
        self.b.cur = full;
        self.count_full(info, span);
        let after_full = self.b.block();
        self.b.jump(done, span, after_full);
        self.b.cur = ok;
        let again = self.lookup_key(&info.symbol, key, span);
        self.b.emit(Inst::Mov { dst: slot, src: Operand::Reg(again) }, span);
        let found = self.b.block();
        self.b.branch(Cond::Eq, again, Operand::Imm(0), done, found, span);
        self.b.cur = found;
        self.b.jump(have, span, have);
        slot
    }

    fn map_update(&mut self, info: &MapInfo, keys: &[Expr], update: &MapUpdate, span: Span) -> Result<()> {
        let done = self.b.block();
        match (&info.kind, update) {
            (MapKind::Agg { func, arg }, MapUpdate::Agg(value)) => {
                let x = match value {
                    Some(e) => Some(self.scalar(e)?),
                    None => None,
                };
                let key = self.key(info, keys, span)?;
                if let AggFunc::Hist | AggFunc::Lhist { .. } = func {
                    let bucket = self.bucket(func, x.expect("hist has a value"), arg.is_signed(), span);
                    self.b.store(key, layout::bucket_offset(info.key_size), Operand::Reg(bucket), Size::DW, span);
                }
                let v = self.value_slot(info, key, span, done);
                self.aggregate(func, v, x, arg.is_signed(), span);
            }
            (MapKind::Value(ty), MapUpdate::Set(e)) => {
                let val = self.expr(e)?;
                let key = self.key(info, keys, span)?;
                let vm = self.b.alloc(info.value_size, span);
                self.b.zero(vm, 0, info.value_size, span);
                self.put(vm, 0, val, ty, span);
                let map = self.b.map_ptr(&info.symbol, span);
                let kp = self.b.ptr(key, 0, span);
                let vp = self.b.ptr(vm, 0, span);
                let r = self.b.call(h::MAP_UPDATE_ELEM, vec![Operand::Reg(map), Operand::Reg(kp), Operand::Reg(vp), Operand::Imm(h::BPF_ANY)], span);
                let (full, ok) = (self.b.block(), self.b.block());
                self.b.branch(Cond::Ne, r, Operand::Imm(0), full, ok, span);
                self.b.cur = full;
                self.count_full(info, span);
                self.b.jump(ok, span, ok);
            }
            (MapKind::Value(_), MapUpdate::Add(e) | MapUpdate::Sub(e)) => {
                let x = self.scalar(e)?;
                let d = self.b.copy(x, span);
                if matches!(update, MapUpdate::Sub(_)) {
                    self.b.emit(Inst::Neg { dst: d }, span);
                }
                let key = self.key(info, keys, span)?;
                let v = self.value_slot(info, key, span, done);
                self.b.emit(Inst::AtomicAdd { base: v, off: 0, src: d, size: Size::DW }, span);
            }
            _ => return self.unsupported(span, "this map update"),
        }
        self.b.jump(done, span, done);
        Ok(())
    }

    fn aggregate(&mut self, func: &AggFunc, v: Vreg, x: Option<Vreg>, signed: bool, span: Span) {
        let add = |lw: &mut Self, off: i16, amount: Operand| {
            let t = lw.b.vreg();
            lw.b.emit(Inst::Load { dst: t, base: v, off, size: Size::DW }, span);
            lw.b.alu(AluOp::Add, t, amount, span);
            lw.b.emit(Inst::Store { base: v, off, src: Operand::Reg(t), size: Size::DW }, span);
        };
        match func {
            // Per-CPU values: no other CPU writes this slot.
            AggFunc::Count | AggFunc::Hist | AggFunc::Lhist { .. } => add(self, 0, Operand::Imm(1)),
            AggFunc::Sum => add(self, 0, Operand::Reg(x.expect("sum has a value"))),
            AggFunc::Avg | AggFunc::Stats => {
                add(self, 0, Operand::Reg(x.expect("avg and stats have a value")));
                add(self, 8, Operand::Imm(1));
            }
            AggFunc::Min | AggFunc::Max => {
                let x = x.expect("min/max have a value");
                let (set, check, join) = (self.b.block(), self.b.block(), self.b.block());
                let flag = self.b.vreg();
                self.b.emit(Inst::Load { dst: flag, base: v, off: 8, size: Size::DW }, span);
                self.b.branch(Cond::Eq, flag, Operand::Imm(0), set, check, span);
                self.b.cur = check;
                let cur = self.b.vreg();
                self.b.emit(Inst::Load { dst: cur, base: v, off: 0, size: Size::DW }, span);
                let better = match (func, signed) {
                    (AggFunc::Min, false) => Cond::Lt,
                    (AggFunc::Min, true) => Cond::Slt,
                    (_, false) => Cond::Gt,
                    (_, true) => Cond::Sgt,
                };
                self.b.branch(better, x, Operand::Reg(cur), set, join, span);
                self.b.cur = set;
                self.b.emit(Inst::Store { base: v, off: 0, src: Operand::Reg(x), size: Size::DW }, span);
                self.b.emit(Inst::Store { base: v, off: 8, src: Operand::Imm(1), size: Size::DW }, span);
                self.b.jump(join, span, join);
            }
        }
    }

    /// The histogram bucket of `x` (see `MapInfo` for the numbering).
    fn bucket(&mut self, func: &AggFunc, x: Vreg, signed: bool, span: Span) -> Vreg {
        let r = self.b.vreg();
        let join = self.b.block();
        match func {
            AggFunc::Lhist { lo, hi, step } => {
                let last = layout::lhist_buckets(*lo, *hi, *step) - 1;
                let lo_r = self.b.imm(*lo as u64, span);
                let hi_r = self.b.imm(*hi as u64, span);
                let (below, not_below, above, inside) = (self.b.block(), self.b.block(), self.b.block(), self.b.block());
                self.b.branch(if signed { Cond::Slt } else { Cond::Lt }, x, Operand::Reg(lo_r), below, not_below, span);
                self.b.cur = below;
                self.b.emit(Inst::Mov { dst: r, src: Operand::Imm(0) }, span);
                self.b.jump(join, span, not_below);
                self.b.branch(if signed { Cond::Sge } else { Cond::Ge }, x, Operand::Reg(hi_r), above, inside, span);
                self.b.cur = above;
                let l = self.b.imm(last as u64, span);
                self.b.emit(Inst::Mov { dst: r, src: Operand::Reg(l) }, span);
                self.b.jump(join, span, inside);
                let t = self.b.copy(x, span);
                self.b.alu(AluOp::Sub, t, Operand::Reg(lo_r), span);
                let st = self.b.imm(*step as u64, span);
                self.b.alu(AluOp::Div, t, Operand::Reg(st), span);
                self.b.alu(AluOp::Add, t, Operand::Imm(1), span);
                self.b.emit(Inst::Mov { dst: r, src: Operand::Reg(t) }, span);
                self.b.jump(join, span, join);
            }
            _ => {
                let (neg, nonneg, zero, pos) = (self.b.block(), self.b.block(), self.b.block(), self.b.block());
                if signed {
                    self.b.branch(Cond::Slt, x, Operand::Imm(0), neg, nonneg, span);
                } else {
                    self.b.jump(nonneg, span, neg);
                }
                self.b.cur = neg;
                self.b.emit(Inst::Mov { dst: r, src: Operand::Imm(0) }, span);
                self.b.jump(join, span, nonneg);
                self.b.branch(Cond::Eq, x, Operand::Imm(0), zero, pos, span);
                self.b.cur = zero;
                self.b.emit(Inst::Mov { dst: r, src: Operand::Imm(1) }, span);
                self.b.jump(join, span, pos);
                // floor(log2(x)) by halving the range: no loops for the verifier.
                let v = self.b.copy(x, span);
                let k = self.b.imm(2, span);
                for bits in [32, 16, 8, 4, 2, 1] {
                    let limit = self.b.imm(1u64 << bits, span);
                    let (shift, skip) = (self.b.block(), self.b.block());
                    self.b.branch(Cond::Ge, v, Operand::Reg(limit), shift, skip, span);
                    self.b.cur = shift;
                    self.b.alu(AluOp::Rsh, v, Operand::Imm(bits), span);
                    self.b.alu(AluOp::Add, k, Operand::Imm(bits), span);
                    self.b.jump(skip, span, skip);
                }
                self.b.emit(Inst::Mov { dst: r, src: Operand::Reg(k) }, span);
                self.b.jump(join, span, join);
            }
        }
        self.b.cur = join;
        r
    }

    // ---- outputs ----------------------------------------------------------

    fn output(&mut self, output: &Output, args: &[Expr], span: Span) -> Result<()> {
        if let Output::Pcap { snaplen, .. } = output {
            return self.pcap(output, args, *snaplen, span);
        }
        let mut types: Vec<Type> = args.iter().map(|a| a.ty.clone()).collect();
        let mut vals = args.iter().map(|a| self.expr(a)).collect::<Result<Vec<_>>>()?;
        if let Output::Stack = output {
            types = vec![Type::KStack(0)];
            vals = vec![Val::Reg(self.builtin(Builtin::KStack(0), span)?)];
        }
        let (fields, size) = layout::fields(&types, EVENT_HEADER);
        let id = self.events.len();
        self.events.push(EventInfo { output: output.clone(), from_end: *self.attach == Attach::End, fields: fields.clone(), size, span });
        let rec = self.b.alloc(size, span);
        self.b.store(rec, 0, Operand::Imm(id as i32), Size::DW, span);
        for ((v, f), ty) in vals.into_iter().zip(&fields).zip(&types) {
            self.put(rec, f.offset, v, ty, span);
        }
        self.send(rec, size, span);
        Ok(())
    }

    /// Send the event record `rec` of `size` bytes; a full ring buffer is
    /// counted as a loss.
    ///
    /// The reader is woken only once the ring holds an eighth of its size:
    /// a wake-up per event (an interrupt and a reader's round trip) costs
    /// more than the event. Below that, the reader finds the records at its
    /// poll tick, so no record waits longer than the tick.
    fn send(&mut self, rec: Mem, size: u32, span: Span) {
        let rb = self.b.map_ptr(super::RINGBUF, span);
        let held = self.b.call(h::RINGBUF_QUERY, vec![Operand::Reg(rb), Operand::Imm(h::BPF_RB_AVAIL_DATA)], span);
        let held = self.b.copy(held, span);
        let rb = self.b.map_ptr(super::RINGBUF, span);
        let ring = self.b.call(h::RINGBUF_QUERY, vec![Operand::Reg(rb), Operand::Imm(h::BPF_RB_RING_SIZE)], span);
        let threshold = self.b.copy(ring, span);
        self.b.alu(AluOp::Rsh, threshold, Operand::Imm(3), span);
        let flags = self.b.vreg();
        self.b.emit(Inst::Mov { dst: flags, src: Operand::Imm(h::BPF_RB_NO_WAKEUP) }, span);
        let (wake, join) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Gt, held, Operand::Reg(threshold), wake, join, span);
        self.b.cur = wake;
        self.b.emit(Inst::Mov { dst: flags, src: Operand::Imm(h::BPF_RB_FORCE_WAKEUP) }, span);
        self.b.jump(join, span, join);
        let rb = self.b.map_ptr(super::RINGBUF, span);
        let p = self.b.ptr(rec, 0, span);
        let r = self.b.call(h::RINGBUF_OUTPUT, vec![Operand::Reg(rb), Operand::Reg(p), Operand::Imm(size as i32), Operand::Reg(flags)], span);
        let (lost, ok) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Ne, r, Operand::Imm(0), lost, ok, span);
        self.b.cur = lost;
        self.count_loss(LOST_EVENTS, span);
        self.b.jump(ok, span, ok);
    }
}

fn size_of(bytes: u32) -> Result<Size> {
    Size::from_bytes(bytes).ok_or(CompileError::Unsupported { span: Span::default(), what: format!("a {bytes}-byte field") })
}
