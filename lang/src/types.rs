//! The types of ntr values. They drive type checking, the memory layout the
//! compiler gives each value, and how the runtime prints it.

use crate::kernel::KType;

/// Index into `tir::Program::enums`.
pub type EnumId = usize;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// 64-bit in registers; `size` is the width it came from (1, 2, 4, 8),
    /// used for map layouts and printing.
    Int {
        size: u8,
        signed: bool,
    },
    Bool,
    /// A bounded NUL-terminated string of at most `len` bytes (buffer size).
    Str {
        len: u16,
    },
    /// `buf(ptr, len)`: up to `cap` bytes read from memory, laid out as
    /// the number of bytes read (a u64: `BUF_UNREADABLE` when neither the
    /// kernel's nor user memory could be read) then the bytes. Printed with
    /// printable ASCII as it is and other bytes as `\xNN`.
    Buf {
        cap: u16,
        /// `join(ptr, len)`: the bytes are NUL-separated strings (a
        /// process's arguments), printed joined by spaces.
        joined: bool,
    },
    /// A fixed-size array of integers read from a kernel field (`u8[16]`,
    /// `__be32[4]`): `len` elements of `elem` bytes, printed as a list.
    Array {
        elem: u8,
        signed: bool,
        len: u16,
    },
    /// A kernel address printed in hex.
    Addr,
    /// A kernel address printed as `symbol+0xoff` (from `sym(addr)`).
    Sym,
    /// `usym(addr)`: a user address and the process it is in (pid, then
    /// the address), printed as `function+0xoff (binary)`.
    USym,
    /// A kernel pointer whose target is known from BTF. `trusted` pointers
    /// (tp_btf/fentry arguments and struct pointers read from them) can be
    /// dereferenced directly; others go through bpf_probe_read_kernel.
    Ptr {
        target: Box<KType>,
        trusted: bool,
    },
    /// A kernel enum value, printed by its BTF name.
    Enum(EnumId),
    /// Nanoseconds.
    Duration,
    /// A moment on the wall clock (`walltime`): the kernel's boot-time
    /// clock in nanoseconds, turned into local time (or UTC) when printed.
    Time,
    /// A `time` shown with a strftime format (`strftime("%H:%M", walltime)`,
    /// `time("%H:%M:%S")`): the same nanoseconds, the format kept in the type.
    TimeText(String),
    /// IPv4 address (4 bytes, network order) or IPv6 (16 bytes).
    Ip4,
    Ip6,
    /// A kernel stack: an id in the program's stack-trace map for this
    /// depth in frames (0: the full depth).
    KStack(u8),
    /// A user stack: the process id in the upper 32 bits, the id in the
    /// program's full-depth stack-trace map in the lower (negative: an error).
    UStack,
    /// A packet's flow (`tuple(skb)`), laid out as `net::TUPLE_*`.
    Tuple,
    /// `flow(skb)`: a tuple with its endpoints in a fixed order, the same
    /// for both directions of a connection.
    Flow,
    /// A packet's conntrack entry (`ct(skb)`), laid out as `net::CT_*`.
    Ct,
    /// A network namespace inode, printed with a human name.
    Netns,
    /// The netfilter hook a stack went through: a kernel stack id, named
    /// at print time from the frames (`FORWARD`).
    NfHook(u8),
    /// The netfilter rules that matched in a namespace and hook: (netns
    /// inode, stack id), named at print time from the ruleset's counters.
    NfRule(u8),
    /// Why a packet was dropped, told at print time from the reason and
    /// facts looked up in its namespace (`cause(skb, reason, location, kstack(N))`);
    /// laid out as `net::CAUSE_*`. `reason` is the enum of drop reasons.
    Cause {
        depth: u8,
        reason: EnumId,
    },
    /// A set of bits of enum `EnumId` (values are bit numbers).
    Flags(EnumId),
    /// Statements have no value.
    Void,
}

/// Bytes before a `buf` value's data: the number of bytes read.
pub const BUF_HEADER: u32 = 8;
/// `join(argv)`: the most strings read, and the most bytes of each (its
/// NUL included), as bpftrace's join.
pub const JOIN_ARGS: u32 = 16;
pub const JOIN_ARG_LEN: u32 = 128;
/// The length a `buf` value holds when its memory could not be read.
pub const BUF_UNREADABLE: u64 = u64::MAX;

impl Type {
    pub const U64: Type = Type::Int { size: 8, signed: false };
    pub const S64: Type = Type::Int { size: 8, signed: true };
    pub const U32: Type = Type::Int { size: 4, signed: false };

    /// Bytes the value takes in memory (map keys/values, event records).
    pub fn size(&self) -> u32 {
        match self {
            Type::Str { len } => *len as u32,
            Type::Buf { cap, .. } => BUF_HEADER + *cap as u32,
            Type::Array { elem, len, .. } => *elem as u32 * *len as u32,
            Type::Ip4 => 4,
            Type::Ip6 => 16,
            Type::Tuple | Type::Flow => crate::net::TUPLE_SIZE,
            Type::Ct => crate::net::CT_SIZE,
            Type::NfRule(_) | Type::USym => 16,
            Type::Cause { .. } => crate::net::CAUSE_SIZE,
            Type::Void => 0,
            _ => 8,
        }
    }

    /// Values that live in memory (a pointer to them is passed around)
    /// rather than in a register.
    pub fn is_memory(&self) -> bool {
        matches!(
            self,
            Type::Str { .. }
                | Type::Buf { .. }
                | Type::Array { .. }
                | Type::Ip6
                | Type::Tuple
                | Type::Flow
                | Type::Ct
                | Type::NfRule(_)
                | Type::USym
                | Type::Cause { .. }
        )
    }

    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            Type::Int { .. } | Type::Duration | Type::Time | Type::Addr | Type::Sym | Type::Enum(_) | Type::Flags(_) | Type::Bool | Type::Netns
        )
    }

    pub fn is_signed(&self) -> bool {
        matches!(self, Type::Int { signed: true, .. })
    }
}

/// An enum as the runtime needs it to print values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumDef {
    /// `skb_drop_reason`
    pub name: String,
    /// Value → printed name, with the common prefix removed
    /// (`SKB_DROP_REASON_NO_SOCKET` prints as `NO_SOCKET`).
    pub values: Vec<(i64, String)>,
}
