//! Network values in BPF: the flow parsed from an skb's headers, its
//! conntrack entry, and `tuple(…)` filters. Layouts: `ntr_lang::net`.

use ntr_lang::net::*;
use ntr_lang::source::Span;
use ntr_lang::tir::{Access, CtLayout, Expr, Side, SkbLayout, SockLayout, TupleTest};
use ntr_lang::types::Type;

use ntr_lang::tir::{Attach, Output};

use super::{layout, Lower, Result, Val};
use crate::artifact::{EventInfo, EVENT_HEADER};
use crate::bpf::helpers as h;
use crate::codegen::builder::{Mem, Place};
use crate::error::CompileError;
use crate::ir::{AluOp, BlockId, Cond, Inst, Operand, Size, Vreg};

/// `skb->network_header`/`transport_header` when not set.
const UNSET: i32 = 0xffff;
/// `skb->protocol` as it reads from memory (big-endian ETH_P_IP, ETH_P_IPV6).
const ETH_P_IP_BE: i32 = 0x0008;
const ETH_P_IPV6_BE: i32 = 0xdd86;

impl Lower<'_> {
    pub(super) fn skb_field(&mut self, skb: &Expr, offset: u32, size: u8, span: Span) -> Result<Vreg> {
        let access = match skb.ty {
            Type::Ptr { trusted: true, .. } => Access::Direct,
            _ => Access::ProbeRead,
        };
        self.load(skb, offset, size, false, None, access, span)
    }

    /// Continue in a new block when `lhs cond rhs`, else go to `otherwise`.
    pub(super) fn require(&mut self, cond: Cond, lhs: Vreg, rhs: Operand, otherwise: BlockId, span: Span) {
        let yes = self.b.block();
        self.b.branch(cond, lhs, rhs, yes, otherwise, span);
        self.b.cur = yes;
    }

    /// Swap the bytes of a 16-bit value (network ↔ host order) in place.
    fn swap16(&mut self, v: Vreg, span: Span) {
        let hi = self.b.copy(v, span);
        self.b.alu(AluOp::Rsh, hi, Operand::Imm(8), span);
        self.b.alu(AluOp::Lsh, v, Operand::Imm(8), span);
        self.b.alu(AluOp::And, v, Operand::Imm(0xff00), span);
        self.b.alu(AluOp::Or, v, Operand::Reg(hi), span);
    }

    /// `tuple(skb)`: IPv4/IPv6 addresses and protocol from the network
    /// header, ports (or ICMP type/code) from the transport header, found
    /// from `transport_header` when the stack has set it, else right after
    /// the IP header (no IPv6 extension headers). An ICMP error also gets
    /// the flow of the packet it answers (`TUPLE_INNER`).
    pub(super) fn skb_tuple(&mut self, skb: &Expr, l: &SkbLayout, span: Span) -> Result<Mem> {
        let out = self.b.alloc(TUPLE_SIZE, span);
        self.b.zero(out, 0, TUPLE_SIZE, span);
        let done = self.b.block();
        let head = self.skb_field(skb, l.head, 8, span)?;
        let nh = self.skb_field(skb, l.network_header, 2, span)?;
        let th = self.skb_field(skb, l.transport_header, 2, span)?;
        let proto = self.skb_field(skb, l.protocol, 2, span)?;
        // IP, or not set yet (some output paths set it late).
        let ip_like = self.b.block();
        for p in [0, ETH_P_IP_BE] {
            let next = self.b.block();
            self.b.branch(Cond::Eq, proto, Operand::Imm(p), ip_like, next, span);
            self.b.cur = next;
        }
        let not_ip = self.b.block();
        self.b.branch(Cond::Eq, proto, Operand::Imm(ETH_P_IPV6_BE), ip_like, not_ip, span);
        // Other protocols keep family 0 and carry their ethertype.
        self.b.cur = not_ip;
        let ethertype = self.b.copy(proto, span);
        self.swap16(ethertype, span);
        self.b.store(out, TUPLE_ETHERTYPE, Operand::Reg(ethertype), Size::H, span);
        self.b.jump(done, span, ip_like);
        self.require(Cond::Ne, nh, Operand::Imm(UNSET), done, span);
        let ip = self.b.copy(head, span);
        self.b.alu(AluOp::Add, ip, Operand::Reg(nh), span);
        let (l4proto, l4off) = self.ip_header(out, 0, ip, done, span);

        // A transport header set past the network header is authoritative.
        let (use_th, ports) = (self.b.block(), self.b.block());
        let set = self.b.block();
        self.b.branch(Cond::Eq, th, Operand::Imm(UNSET), ports, set, span);
        self.b.cur = set;
        self.b.branch(Cond::Gt, th, Operand::Reg(nh), use_th, ports, span);
        self.b.cur = use_th;
        self.b.emit(Inst::Mov { dst: l4off, src: Operand::Reg(th) }, span);
        self.b.alu(AluOp::Sub, l4off, Operand::Reg(nh), span);
        self.b.jump(ports, span, ports);
        let l4 = self.b.copy(ip, span);
        self.b.alu(AluOp::Add, l4, Operand::Reg(l4off), span);
        let icmp_type = self.transport(out, 0, l4proto, l4, done, span);

        // ICMP errors (v4: unreachable, time exceeded, parameter problem;
        // v6: the same plus packet too big) quote the packet they answer
        // after their 8-byte header.
        let (inner, check6) = (self.b.block(), self.b.block());
        let is4 = self.b.block();
        self.b.branch(Cond::Eq, l4proto, Operand::Imm(1), is4, check6, span);
        self.b.cur = is4;
        for t in [3, 11] {
            let next = self.b.block();
            self.b.branch(Cond::Eq, icmp_type, Operand::Imm(t), inner, next, span);
            self.b.cur = next;
        }
        self.b.branch(Cond::Eq, icmp_type, Operand::Imm(12), inner, done, span);
        self.b.cur = check6;
        self.require(Cond::Eq, l4proto, Operand::Imm(58), done, span);
        self.require(Cond::Ge, icmp_type, Operand::Imm(1), done, span);
        self.b.branch(Cond::Le, icmp_type, Operand::Imm(4), inner, done, span);
        self.b.cur = inner;
        let quoted = self.b.copy(l4, span);
        self.b.alu(AluOp::Add, quoted, Operand::Imm(8), span);
        let (p, off) = self.ip_header(out, TUPLE_INNER, quoted, done, span);
        self.b.alu(AluOp::Add, off, Operand::Reg(quoted), span);
        self.transport(out, TUPLE_INNER, p, off, done, span);
        self.b.jump(done, span, done);
        Ok(out)
    }

    /// Parse the IPv4/IPv6 header at kernel address `ip` into the tuple at
    /// `base` of `out` (family, protocol, addresses); returns the protocol
    /// and the header's length. Continues at `done` when it is not IP.
    fn ip_header(&mut self, out: Mem, base: u32, ip: Vreg, done: BlockId, span: Span) -> (Vreg, Vreg) {
        let hdr = self.b.alloc(40, span);
        let dst = self.b.ptr(hdr, 0, span);
        let r = self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Imm(40), Operand::Reg(ip)], span);
        self.require(Cond::Eq, r, Operand::Imm(0), done, span);
        let first = self.b.load(hdr, 0, Size::B, span);
        let version = self.b.copy(first, span);
        self.b.alu(AluOp::Rsh, version, Operand::Imm(4), span);
        let (v4, not4, v6, parsed) = (self.b.block(), self.b.block(), self.b.block(), self.b.block());
        let (l4proto, l4off) = (self.b.vreg(), self.b.vreg());
        self.b.branch(Cond::Eq, version, Operand::Imm(4), v4, not4, span);
        self.b.cur = not4;
        self.b.branch(Cond::Eq, version, Operand::Imm(6), v6, done, span);

        self.b.cur = v4;
        self.b.store(out, base + TUPLE_FAMILY, Operand::Imm(AF_INET as i32), Size::B, span);
        let p = self.b.load(hdr, 9, Size::B, span);
        self.b.emit(Inst::Mov { dst: l4proto, src: Operand::Reg(p) }, span);
        for (from, to) in [(12, TUPLE_SADDR), (16, TUPLE_DADDR)] {
            let a = self.b.load(hdr, from, Size::W, span);
            self.b.store(out, base + to, Operand::Reg(a), Size::W, span);
        }
        self.b.emit(Inst::Mov { dst: l4off, src: Operand::Reg(first) }, span);
        self.b.alu(AluOp::And, l4off, Operand::Imm(0xf), span);
        self.b.alu(AluOp::Lsh, l4off, Operand::Imm(2), span);
        self.b.jump(parsed, span, v6);

        self.b.store(out, base + TUPLE_FAMILY, Operand::Imm(AF_INET6 as i32), Size::B, span);
        let p = self.b.load(hdr, 6, Size::B, span);
        self.b.emit(Inst::Mov { dst: l4proto, src: Operand::Reg(p) }, span);
        for i in (0..32).step_by(8) {
            let a = self.b.load(hdr, 8 + i, Size::DW, span);
            self.b.store(out, base + TUPLE_SADDR + i, Operand::Reg(a), Size::DW, span);
        }
        self.b.emit(Inst::Mov { dst: l4off, src: Operand::Imm(40) }, span);
        self.b.jump(parsed, span, parsed);
        self.b.store(out, base + TUPLE_PROTO, Operand::Reg(l4proto), Size::B, span);
        (l4proto, l4off)
    }

    /// Ports (or ICMP type and code) of the transport header at kernel
    /// address `l4` into the tuple at `base` of `out`; returns the first
    /// byte (the ICMP type). Continues at `done` for other protocols.
    fn transport(&mut self, out: Mem, base: u32, l4proto: Vreg, l4: Vreg, done: BlockId, span: Span) -> Vreg {
        let read = self.b.block();
        for p in [6, 17, 132, 136, 1, 58] {
            let next = self.b.block();
            self.b.branch(Cond::Eq, l4proto, Operand::Imm(p), read, next, span);
            self.b.cur = next;
        }
        self.b.jump(done, span, read);
        let l4hdr = self.b.alloc(8, span);
        self.b.zero(l4hdr, 0, 8, span);
        let dst = self.b.ptr(l4hdr, 0, span);
        let r = self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Imm(4), Operand::Reg(l4)], span);
        self.require(Cond::Eq, r, Operand::Imm(0), done, span);
        let (icmp_fields, port_fields, next) = (self.b.block(), self.b.block(), self.b.block());
        let not1 = self.b.block();
        self.b.branch(Cond::Eq, l4proto, Operand::Imm(1), icmp_fields, not1, span);
        self.b.cur = not1;
        self.b.branch(Cond::Eq, l4proto, Operand::Imm(58), icmp_fields, port_fields, span);
        self.b.cur = icmp_fields;
        for (from, to) in [(0, TUPLE_SPORT), (1, TUPLE_DPORT)] {
            let v = self.b.load(l4hdr, from, Size::B, span);
            self.b.store(out, base + to, Operand::Reg(v), Size::H, span);
        }
        self.b.jump(next, span, port_fields);
        for (from, to) in [(0, TUPLE_SPORT), (2, TUPLE_DPORT)] {
            let v = self.b.load(l4hdr, from, Size::H, span);
            self.swap16(v, span);
            self.b.store(out, base + to, Operand::Reg(v), Size::H, span);
        }
        self.b.jump(next, span, next);
        self.b.load(l4hdr, 0, Size::B, span)
    }

    /// `tuple(sk)`: family, protocol, local then remote address and port.
    pub(super) fn sock_tuple(&mut self, sk: &Expr, l: &SockLayout, span: Span) -> Result<Mem> {
        let out = self.b.alloc(TUPLE_SIZE, span);
        self.b.zero(out, 0, TUPLE_SIZE, span);
        let done = self.b.block();
        let family = self.skb_field(sk, l.family, 2, span)?;
        self.b.store(out, TUPLE_FAMILY, Operand::Reg(family), Size::B, span);
        let proto = self.skb_field(sk, l.protocol, 2, span)?;
        self.b.store(out, TUPLE_PROTO, Operand::Reg(proto), Size::B, span);
        let sport = self.skb_field(sk, l.num, 2, span)?;
        self.b.store(out, TUPLE_SPORT, Operand::Reg(sport), Size::H, span);
        let dport = self.skb_field(sk, l.dport, 2, span)?;
        self.swap16(dport, span);
        self.b.store(out, TUPLE_DPORT, Operand::Reg(dport), Size::H, span);
        let (v4, not4, v6) = (self.b.block(), self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, family, Operand::Imm(AF_INET as i32), v4, not4, span);
        self.b.cur = not4;
        self.b.branch(Cond::Eq, family, Operand::Imm(AF_INET6 as i32), v6, done, span);
        self.b.cur = v4;
        for (from, to) in [(l.rcv_saddr, TUPLE_SADDR), (l.daddr, TUPLE_DADDR)] {
            let a = self.skb_field(sk, from, 4, span)?;
            self.b.store(out, to, Operand::Reg(a), Size::W, span);
        }
        self.b.jump(done, span, v6);
        for (from, to) in [(l.v6_rcv_saddr, TUPLE_SADDR), (l.v6_daddr, TUPLE_DADDR)] {
            for half in [0, 8] {
                let a = self.skb_field(sk, from + half, 8, span)?;
                self.b.store(out, to + half, Operand::Reg(a), Size::DW, span);
            }
        }
        self.b.jump(done, span, done);
        Ok(out)
    }

    /// `ct(skb)`: `skb->_nfct` is the entry's address with the
    /// `ip_conntrack_info` in its low 3 bits. Without an entry, the state
    /// says why (`net::CT_*`).
    pub(super) fn skb_ct(&mut self, skb: &Expr, l: &CtLayout, span: Span) -> Result<Mem> {
        let out = self.b.alloc(CT_SIZE, span);
        self.b.zero(out, 0, CT_SIZE, span);
        let done = self.b.block();
        let nfct = self.skb_field(skb, l.nfct, 8, span)?;
        let (none, some) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, nfct, Operand::Imm(0), none, some, span);
        self.b.cur = none;
        self.without_entry(skb, l, out, done, some, span)?;
        let info = self.b.copy(nfct, span);
        self.b.alu(AluOp::And, info, Operand::Imm(7), span);
        self.b.store(out, CT_STATE, Operand::Reg(info), Size::B, span);
        let ct = self.b.copy(nfct, span);
        self.b.alu(AluOp::And, ct, Operand::Imm(!7), span);
        // Untracked packets carry a state but no entry.
        self.require(Cond::Ne, ct, Operand::Imm(0), done, span);
        for (to, from, size) in [(CT_STATUS, l.status, 8), (CT_MARK, l.mark, 4), (CT_ZONE, l.zone, 2), (CT_TCP, l.tcp_state, 1)] {
            let dst = self.b.ptr(out, to, span);
            let src = self.b.copy(ct, span);
            self.b.alu(AluOp::Add, src, Operand::Imm(from as i32), span);
            self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Imm(size), Operand::Reg(src)], span);
        }
        let raw = self.b.alloc(40, span);
        self.b.zero(raw, 0, 40, span);
        let dst = self.b.ptr(raw, 0, span);
        let src = self.b.copy(ct, span);
        self.b.alu(AluOp::Add, src, Operand::Imm(l.tuple as i32), span);
        self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Imm(40), Operand::Reg(src)], span);
        // Addresses are 4-byte aligned in the kernel's tuple: copy by words.
        for (from, to) in [(l.src_addr, TUPLE_SADDR), (l.dst_addr, TUPLE_DADDR)] {
            for i in (0..16).step_by(4) {
                let w = self.b.load(raw, from + i, Size::W, span);
                self.b.store(out, CT_ORIG + to + i, Operand::Reg(w), Size::W, span);
            }
        }
        let family = self.b.load(raw, l.l3num, Size::H, span);
        self.b.store(out, CT_ORIG + TUPLE_FAMILY, Operand::Reg(family), Size::B, span);
        let proto = self.b.load(raw, l.protonum, Size::B, span);
        self.b.store(out, CT_ORIG + TUPLE_PROTO, Operand::Reg(proto), Size::B, span);
        for (from, to) in [(l.src_port, TUPLE_SPORT), (l.dst_port, TUPLE_DPORT)] {
            let v = self.b.load(raw, from, Size::H, span);
            self.swap16(v, span);
            self.b.store(out, CT_ORIG + to, Operand::Reg(v), Size::H, span);
        }
        self.b.jump(done, span, done);
        Ok(out)
    }

    /// The state of a packet without a conntrack entry: NO_ENTRY where
    /// conntrack's hook is in its namespace's PREROUTING hooks for the
    /// packet's family, NO_CONNTRACK where not, NOT_IP, or UNKNOWN without a
    /// device or socket to find the namespace by. Stores it, jumps to `done`
    /// and continues in `after`.
    fn without_entry(&mut self, skb: &Expr, l: &CtLayout, out: Mem, done: BlockId, after: BlockId, span: Span) -> Result<()> {
        let proto = self.skb_field(skb, l.protocol, 2, span)?;
        let (v4, not_v4) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, proto, Operand::Imm(ETH_P_IP_BE), v4, not_v4, span);
        self.b.cur = not_v4;
        let (v6, other) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, proto, Operand::Imm(ETH_P_IPV6_BE), v6, other, span);
        self.b.cur = other;
        self.set_state(out, CT_NOT_IP, done, v4, span);
        self.family_state(skb, l, (l.hooks_ipv4, l.conntrack_in[0]), (out, done), v6, span)?;
        self.family_state(skb, l, (l.hooks_ipv6, l.conntrack_in[1]), (out, done), after, span)
    }

    /// Whether conntrack's `hook_fn` is among the namespace's hooks at
    /// offset `hooks` of `struct net`.
    fn family_state(
        &mut self,
        skb: &Expr,
        l: &CtLayout,
        (hooks, hook_fn): (u32, u64),
        (out, done): (Mem, BlockId),
        after: BlockId,
        span: Span,
    ) -> Result<()> {
        if hook_fn == 0 {
            // Conntrack is not in this kernel: no namespace tracks.
            self.set_state(out, CT_NO_CONNTRACK, done, after, span);
            return Ok(());
        }
        let net = self.skb_net(skb, l, span)?;
        let (unknown, known) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, net, Operand::Imm(0), unknown, known, span);
        self.b.cur = unknown;
        self.set_state(out, CT_UNKNOWN, done, known, span);
        let entries = self.read_kernel(net, hooks, Size::DW, span);
        let (off, on) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, entries, Operand::Imm(0), off, on, span);
        self.b.cur = on;
        let count = self.read_kernel(entries, l.hook_count, Size::H, span);
        let want = self.b.imm(hook_fn, span);
        for i in 0..MAX_HOOK_ENTRIES {
            self.require(Cond::Gt, count, Operand::Imm(i as i32), off, span);
            let hook = self.read_kernel(entries, l.hook_array + i * l.hook_entry_size, Size::DW, span);
            let (tracked, next) = (self.b.block(), self.b.block());
            self.b.branch(Cond::Eq, hook, Operand::Reg(want), tracked, next, span);
            self.b.cur = tracked;
            self.set_state(out, CT_NO_ENTRY, done, next, span);
        }
        // More hooks than looked through: ntr cannot tell.
        self.set_state(out, CT_UNKNOWN, done, off, span);
        self.set_state(out, CT_NO_CONNTRACK, done, after, span);
        Ok(())
    }

    fn set_state(&mut self, out: Mem, state: u64, done: BlockId, next: BlockId, span: Span) {
        self.b.store(out, CT_STATE, Operand::Imm(state as i32), Size::B, span);
        self.b.jump(done, span, next);
    }

    /// The packet's namespace (`struct net *`): its device's, else its
    /// socket's; 0 with neither.
    fn skb_net(&mut self, skb: &Expr, l: &CtLayout, span: Span) -> Result<Vreg> {
        let net = self.b.imm(0, span);
        let done = self.b.block();
        for (holder, field) in [(l.dev, l.dev_net), (l.sk, l.sk_net)] {
            let ptr = self.skb_field(skb, holder, 8, span)?;
            let (has, next) = (self.b.block(), self.b.block());
            self.b.branch(Cond::Ne, ptr, Operand::Imm(0), has, next, span);
            self.b.cur = has;
            let v = self.read_kernel(ptr, field, Size::DW, span);
            self.b.emit(Inst::Mov { dst: net, src: Operand::Reg(v) }, span);
            self.b.jump(done, span, next);
        }
        self.b.jump(done, span, done);
        Ok(net)
    }

    /// `size` bytes at `ptr + offset` of kernel memory (0 if unreadable).
    fn read_kernel(&mut self, ptr: Vreg, offset: u32, size: Size, span: Span) -> Vreg {
        let buf = self.b.alloc(8, span);
        self.b.store(buf, 0, Operand::Imm(0), Size::DW, span);
        let dst = self.b.ptr(buf, 0, span);
        let src = self.b.copy(ptr, span);
        self.b.alu(AluOp::Add, src, Operand::Imm(offset as i32), span);
        self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Imm(size.bytes() as i32), Operand::Reg(src)], span);
        self.b.load(buf, 0, size, span)
    }

    /// Put the lower endpoint (address words, then port) first, so both
    /// directions of a connection give the same flow.
    pub(super) fn order_endpoints(&mut self, m: Mem, span: Span) {
        let (swap, done) = (self.b.block(), self.b.block());
        let pairs = [
            (TUPLE_SADDR, TUPLE_DADDR, Size::W),
            (TUPLE_SADDR + 4, TUPLE_DADDR + 4, Size::W),
            (TUPLE_SADDR + 8, TUPLE_DADDR + 8, Size::W),
            (TUPLE_SADDR + 12, TUPLE_DADDR + 12, Size::W),
            (TUPLE_SPORT, TUPLE_DPORT, Size::H),
        ];
        for (a, b, size) in pairs {
            let x = self.b.load(m, a, size, span);
            let y = self.b.load(m, b, size, span);
            let (not_less, next) = (self.b.block(), self.b.block());
            self.b.branch(Cond::Lt, x, Operand::Reg(y), done, not_less, span);
            self.b.cur = not_less;
            self.b.branch(Cond::Gt, x, Operand::Reg(y), swap, next, span);
            self.b.cur = next;
        }
        self.b.jump(done, span, swap);
        for (a, b, size) in [(TUPLE_SADDR, TUPLE_DADDR, Size::DW), (TUPLE_SADDR + 8, TUPLE_DADDR + 8, Size::DW), (TUPLE_SPORT, TUPLE_DPORT, Size::H)]
        {
            let x = self.b.load(m, a, size, span);
            let y = self.b.load(m, b, size, span);
            self.b.store(m, a, Operand::Reg(y), size, span);
            self.b.store(m, b, Operand::Reg(x), size, span);
        }
        self.b.jump(done, span, done);
    }

    /// Branch to `t` when the tuple passes every test, else to `f`.
    pub(super) fn tuple_match(&mut self, tuple: &Expr, tests: &[TupleTest], t: BlockId, f: BlockId, span: Span) -> Result<()> {
        if tests.is_empty() {
            // Every filter left at its default: no need to parse the packet.
            let next = self.b.block();
            self.b.jump(t, span, next);
            return Ok(());
        }
        let m = self.mem(tuple)?;
        for test in tests {
            match test {
                TupleTest::Proto(p) => {
                    let v = self.b.load(m, TUPLE_PROTO, Size::B, span);
                    self.require(Cond::Eq, v, Operand::Imm(*p as i32), f, span);
                }
                TupleTest::Port { side, port } => {
                    let pass = self.b.block();
                    let sides = sides(*side, TUPLE_SPORT, TUPLE_DPORT);
                    for (i, off) in sides.iter().enumerate() {
                        let v = self.b.load(m, *off, Size::H, span);
                        let next = if i + 1 == sides.len() { f } else { self.b.block() };
                        self.b.branch(Cond::Eq, v, Operand::Imm(*port as i32), pass, next, span);
                        self.b.cur = next;
                    }
                    self.b.cur = pass;
                }
                TupleTest::Addr { side, family, addr, prefix } => {
                    let fam = self.b.load(m, TUPLE_FAMILY, Size::B, span);
                    self.require(Cond::Eq, fam, Operand::Imm(*family as i32), f, span);
                    let pass = self.b.block();
                    let sides = sides(*side, TUPLE_SADDR, TUPLE_DADDR);
                    for (i, off) in sides.iter().enumerate() {
                        let next = if i + 1 == sides.len() { f } else { self.b.block() };
                        self.prefix_match(m, *off, addr, *prefix, pass, next, span);
                        self.b.cur = next;
                    }
                    self.b.cur = pass;
                }
            }
        }
        let next = self.b.block();
        self.b.jump(t, span, next);
        Ok(())
    }

    /// Whether the address at `off` of `m` is in `addr/prefix`, a word at a time.
    #[allow(clippy::too_many_arguments)]
    fn prefix_match(&mut self, m: Mem, off: u32, addr: &[u8; 16], prefix: u8, yes: BlockId, no: BlockId, span: Span) {
        let mut mask = [0u8; 16];
        for (i, byte) in mask.iter_mut().enumerate() {
            let bits = (prefix as i32 - i as i32 * 8).clamp(0, 8);
            *byte = (0xff00u16 >> bits) as u8;
        }
        for w in 0..4 {
            let range = w * 4..w * 4 + 4;
            let mask_w = u32::from_ne_bytes(mask[range.clone()].try_into().unwrap());
            if mask_w == 0 {
                break;
            }
            let want = u32::from_ne_bytes(addr[range].try_into().unwrap()) & mask_w;
            let v = self.b.load(m, off + w as u32 * 4, Size::W, span);
            if mask_w != u32::MAX {
                // The immediate is sign-extended; the loaded word's upper half is 0 anyway.
                self.b.alu(AluOp::And, v, Operand::Imm(mask_w as i32), span);
            }
            let want = self.b.imm(want as u64, span);
            self.require(Cond::Eq, v, Operand::Reg(want), no, span);
        }
        let next = self.b.block();
        self.b.jump(yes, span, next);
    }
}

fn sides(side: Side, src: u32, dst: u32) -> Vec<u32> {
    match side {
        Side::Src => vec![src],
        Side::Dst => vec![dst],
        Side::Either => vec![src, dst],
    }
}

impl Lower<'_> {
    /// `pcap(skb)`: a record of the args (`Output::Pcap`), then the
    /// captured length and up to `snaplen` bytes from the network header:
    /// as many as the packet has there and its linear buffer holds (the rest
    /// of a paged packet is not read), 0 when the read fails.
    pub(super) fn pcap(&mut self, output: &Output, args: &[Expr], snaplen: u16, span: Span) -> Result<()> {
        let mut types: Vec<Type> = args.iter().map(|a| a.ty.clone()).collect();
        let vals = args.iter().map(|a| self.expr(a)).collect::<Result<Vec<_>>>()?;
        let reg = |i: usize| match vals.get(i) {
            Some(Val::Reg(r)) => Ok(*r),
            _ => Err(CompileError::Unsupported { span, what: "a pcap() record without its lengths".into() }),
        };
        let (wire, linear, at) = (reg(PCAP_WIRE)?, reg(PCAP_LINEAR)?, reg(PCAP_AT)?);
        types.push(Type::U64);
        types.push(Type::Str { len: snaplen });
        let (fields, size) = layout::fields(&types, EVENT_HEADER);
        let id = self.events.len();
        self.events.push(EventInfo { output: output.clone(), from_end: *self.attach == Attach::End, fields: fields.clone(), size, span });
        let rec = self.b.alloc(size, span);
        // The bytes past the packet are sent too: on the stack they must be set.
        if matches!(rec.place, Place::Stack(_)) {
            self.b.zero(rec, 0, size, span);
        }
        self.b.store(rec, 0, Operand::Imm(id as i32), Size::DW, span);
        for ((v, f), ty) in vals.into_iter().zip(&fields).zip(&types) {
            self.put(rec, f.offset, v, ty, span);
        }
        let (caplen, bytes) = (fields[args.len()].offset, fields[args.len() + 1].offset);
        self.b.store(rec, caplen, Operand::Imm(0), Size::DW, span);
        // n = min(linear, wire, snaplen), unsigned: the verifier sees its bound.
        let n = self.b.copy(linear, span);
        for bound in [Operand::Reg(wire), Operand::Imm(snaplen as i32)] {
            let (clamp, next) = (self.b.block(), self.b.block());
            self.b.branch(Cond::Gt, n, bound, clamp, next, span);
            self.b.cur = clamp;
            self.b.emit(Inst::Mov { dst: n, src: bound }, span);
            self.b.jump(next, span, next);
        }
        let (read, done) = (self.b.block(), self.b.block());
        self.b.branch(Cond::Eq, n, Operand::Imm(0), done, read, span);
        self.b.cur = read;
        let dst = self.b.ptr(rec, bytes, span);
        let r = self.b.call(h::PROBE_READ_KERNEL, vec![Operand::Reg(dst), Operand::Reg(n), Operand::Reg(at)], span);
        self.require(Cond::Eq, r, Operand::Imm(0), done, span);
        self.b.store(rec, caplen, Operand::Reg(n), Size::DW, span);
        self.b.jump(done, span, done);
        self.send(rec, size, span);
        Ok(())
    }
}
