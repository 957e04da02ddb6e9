//! The typed program: what the checker produces and the compiler lowers.
//! Names are resolved (locals, maps, params are constants by now, fns are
//! inlined), kernel field accesses are offsets, and every node has a type and
//! the span it came from.

use crate::ast::{BinOp, UnOp};
use crate::diag::Diagnostic;
use crate::source::Span;
use crate::types::{EnumDef, Type};

pub type LocalId = usize;
pub type MapId = usize;

#[derive(Clone, Debug)]
pub struct Program {
    pub probes: Vec<Probe>,
    pub maps: Vec<MapDecl>,
    /// Enums whose values are printed (indexed by `Type::Enum`).
    pub enums: Vec<EnumDef>,
    /// Parameter values as resolved for this run (name, printed value), for
    /// `--verbose` and the REPL's `:save`.
    pub params: Vec<(String, String)>,
    /// Optional probes (`on NAME? …`) this kernel lacks, with the reason.
    pub skipped: Vec<Diagnostic>,
    /// Warnings about a script that still runs (an argument hiding a builtin).
    pub warnings: Vec<Diagnostic>,
    /// The script has `pcap()` statements, left out because no capture
    /// file was asked for (`CheckOptions::snaplen` is `None`).
    pub pcap_left_out: bool,
}

/// Where and how a probe attaches. The checker picks the attach method from
/// what the kernel offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attach {
    /// Run once after every other probe is attached.
    Begin,
    /// Run once before detaching.
    End,
    /// Every `period_ns` on one CPU.
    Every {
        period_ns: u64,
    },
    /// Sample at `hz` on every CPU.
    Profile {
        hz: u64,
    },
    /// `btf_id`: the kernel BTF id of its `btf_trace_<name>` typedef.
    TpBtf {
        category: String,
        name: String,
        btf_id: u32,
    },
    Tracepoint {
        category: String,
        name: String,
    },
    RawTracepoint {
        name: String,
    },
    Kprobe {
        function: String,
        offset: u64,
    },
    Kretprobe {
        function: String,
    },
    /// `btf_id`: the kernel BTF id of the function.
    Fentry {
        function: String,
        btf_id: u32,
    },
    Fexit {
        function: String,
        btf_id: u32,
    },
    Uprobe {
        path: String,
        symbol: String,
        offset: u64,
        ret: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub attach: Attach,
    /// As the user should see it: `tracepoint:skb:kfree_skb`.
    pub name: String,
    pub span: Span,
    pub locals: Vec<Local>,
    /// The block's condition (`on P if COND`): the body runs where it holds.
    pub cond: Option<Expr>,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Debug)]
pub struct Local {
    pub name: String,
    pub ty: Type,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    /// Count, average and total, kept as `Avg` is.
    Stats,
    /// Power-of-two buckets.
    Hist,
    /// Linear buckets.
    Lhist {
        lo: i64,
        hi: i64,
        step: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// Aggregation, in a per-CPU map. `arg` is the type of the aggregated
    /// expression (`Type::U64` for count).
    Agg { func: AggFunc, arg: Type },
    /// `@m[k] = e` / `+=`: a plain hash map holding values of this type.
    Value(Type),
}

#[derive(Clone, Debug)]
pub struct MapDecl {
    /// Without the `@`; empty for the anonymous map `@`.
    pub name: String,
    pub keys: Vec<Type>,
    /// The metrics label of each key (`check/labels.rs`).
    pub labels: Vec<String>,
    pub kind: MapKind,
    /// Where the map was first used (and so typed).
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum MapUpdate {
    /// One more value for the map's aggregation (`arg` ignored for count).
    Agg(Option<Expr>),
    Set(Expr),
    Add(Expr),
    Sub(Expr),
}

/// A piece of a printf format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FmtPiece {
    Lit(String),
    /// The next argument with its conversion: `%d %u %x %s %p`, with flags
    /// and width kept as written (e.g. `-8`, `08`).
    Arg {
        conv: char,
        spec: String,
    },
}

#[derive(Clone, Debug)]
pub enum Output {
    /// `printf(fmt, args…)`.
    Printf(Vec<FmtPiece>),
    /// `cat(fmt, args…)`: the contents of the file the formatted text
    /// names, read when the event is printed.
    Cat(Vec<FmtPiece>),
    /// `print(a, b, …)` of plain values: printed by type, space-separated.
    Print,
    /// `emit(key=value, …)`: a record, one argument per key. JSON prints
    /// an object with these keys; text prints `key value` pairs, or the
    /// format when one is given (a conversion per field, in order).
    Emit { keys: Vec<String>, format: Option<Vec<FmtPiece>> },
    /// `print(@m)` / `print(@m, N)`.
    PrintMap { map: MapId, top: Option<u32> },
    /// `clear(@m)`: cleared from user space when the event arrives.
    ClearMap { map: MapId },
    /// `stack()`: the current kernel stack, printed symbolized.
    Stack,
    /// `pcap(skb)`: the packet, for the `--pcap` file. Args: `walltime`,
    /// ifindex, ifname, netns, the packet's length from its network header,
    /// the bytes of it in the linear buffer, the network header's address,
    /// then one value per `keys` for the comment. The compiler appends the
    /// captured length (`u64`) and up to `snaplen` bytes of the packet.
    /// The comment is `prefix`, then `key value` per key.
    Pcap { snaplen: u16, prefix: String, keys: Vec<String> },
    /// `exit()`.
    Exit,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    Let {
        local: LocalId,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    MapUpdate {
        map: MapId,
        keys: Vec<Expr>,
        update: MapUpdate,
    },
    MapDelete {
        map: MapId,
        keys: Vec<Expr>,
    },
    /// Something for user space: the args are evaluated in the kernel and sent
    /// through the ring buffer.
    Output {
        output: Output,
        args: Vec<Expr>,
    },
    /// An inlined fn body; `Return` inside jumps to its end.
    Inline {
        body: Vec<Stmt>,
    },
    /// Leave the innermost `Inline` (or the probe), storing the value first.
    Return {
        value: Option<(LocalId, Expr)>,
    },
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Pid,
    Tid,
    Uid,
    Gid,
    /// Current task's comm, `Str { len: 16 }`.
    Comm,
    Cpu,
    /// bpf_ktime_get_ns.
    Nsecs,
    /// bpf_ktime_get_boot_ns: the clock `walltime` is read from.
    Walltime,
    /// bpf_ktime_get_ns less the run's start, which the runtime writes into
    /// the start map before it attaches anything.
    Elapsed,
    /// bpf_get_current_task: the current `struct task_struct *`.
    CurTask,
    /// bpf_get_current_cgroup_id: the cgroup v2 id (its directory's inode).
    Cgroup,
    /// Kernel stack up to this many frames (0: the full depth).
    KStack(u8),
    UStack,
    /// fexit/kretprobe/uretprobe return value.
    Retval,
}

/// How `Load` reaches kernel memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Direct load from a BTF-typed (trusted) pointer; the verifier turns it
    /// into a fault-safe load.
    Direct,
    /// bpf_probe_read_kernel into scratch memory, and bpf_probe_read_user
    /// where the kernel cannot read the address from its own memory.
    ProbeRead,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// Integers, bools, enums, durations, addresses, IPv4 (network order in
    /// the low 4 bytes as memory would hold them).
    Const(u64),
    /// A constant memory value: string literal (NUL-padded to the type's
    /// length), IPv6 address.
    Bytes(Vec<u8>),
    Local(LocalId),
    /// The i-th u64 slot of the program context (tp_btf, raw_tp, fentry).
    CtxSlot(u16),
    /// A field of a classic tracepoint record at this offset.
    CtxField {
        offset: u16,
        size: u8,
        signed: bool,
    },
    /// A `__data_loc char[]` field of a classic tracepoint record.
    CtxDataLocStr {
        offset: u16,
    },
    Builtin(Builtin),
    /// An integer (or pointer) of `size` bytes at `base + offset`;
    /// bitfields are shifted/masked after the load.
    Load {
        base: Box<Expr>,
        offset: u32,
        size: u8,
        signed: bool,
        bitfield: Option<(u8, u8)>,
        access: Access,
    },
    /// An array at `base + offset` (a char array as a string, an integer
    /// array, an IPv6 address), copied whole: the expr's type's size.
    LoadStr {
        base: Box<Expr>,
        offset: u32,
        access: Access,
    },
    /// `str(ptr[, len])`: a NUL-terminated kernel string.
    ReadStr {
        ptr: Box<Expr>,
    },
    /// `buf(ptr, len)`: `len` bytes at `ptr` (clamped to 0..=the type's
    /// capacity), kernel memory, else user memory.
    ReadBuf {
        ptr: Box<Expr>,
        len: Box<Expr>,
    },
    /// `join(argv)`: the strings of a NULL-terminated `char **` in user
    /// memory (a syscall's argv), at most `JOIN_ARGS` of `JOIN_ARG_LEN`
    /// bytes each, laid out as `buf` (the bytes: NUL-terminated strings).
    JoinArgv {
        argv: Box<Expr>,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    /// Integer ops use `signed` for division, modulo, shifts and comparisons;
    /// `==`/`!=` on strings compare bytes up to the NUL.
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        signed: bool,
    },
    /// Truncate/extend an integer to `size` bytes (8 = no-op except sign).
    Convert {
        operand: Box<Expr>,
        size: u8,
        signed: bool,
    },
    /// Read a plain-value map (`Value` kind): 0 / empty when the key is absent.
    MapRead {
        map: MapId,
        keys: Vec<Expr>,
    },
    Cond {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// A call to an ntr `fn` used as a value: run `body`, then read `result`.
    Inline {
        body: Vec<Stmt>,
        result: LocalId,
    },
    /// `tuple(skb)`: the flow parsed from the packet's headers (`net::TUPLE_*`).
    /// `flow(skb)` when `canonical`: endpoints ordered, lower first.
    SkbTuple {
        skb: Box<Expr>,
        layout: SkbLayout,
        canonical: bool,
    },
    /// `tuple(sk)`: a socket's flow, local end first.
    SockTuple {
        sk: Box<Expr>,
        layout: SockLayout,
    },
    /// `ct(skb)`: the packet's conntrack entry (`net::CT_*`).
    SkbCt {
        skb: Box<Expr>,
        layout: CtLayout,
    },
    /// `size` bytes at `offset` of a memory value: an unsigned integer when
    /// the expression's type is not a memory type, else a copy.
    Part {
        base: Box<Expr>,
        offset: u32,
        size: u8,
    },
    /// A memory value made of integers, one per 8 bytes.
    Pack(Vec<Expr>),
    /// `tuple(port=…, …)`: whether a tuple passes every test.
    TupleMatch {
        tuple: Box<Expr>,
        tests: Vec<TupleTest>,
    },
    /// `filter(skb, "tcp port 80")`: whether the packet, from its network
    /// header on, passes a classic BPF program (libpcap's, for link type RAW).
    PacketFilter {
        skb: Box<Expr>,
        layout: PacketLayout,
        prog: Vec<CbpfInsn>,
    },
}

/// Offsets in `struct sk_buff` that `filter(…)` reads: where the network
/// header is, how many bytes follow it in the head buffer (to `tail`, a
/// 32-bit offset from `head` on 64-bit kernels) and in the whole packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketLayout {
    pub head: u32,
    pub data: u32,
    pub tail: u32,
    pub len: u32,
    pub network_header: u32,
}

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CbpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Offsets in `struct sk_buff` that `tuple(skb)` and `ct(skb)` read (from BTF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkbLayout {
    pub head: u32,
    pub network_header: u32,
    pub transport_header: u32,
    pub protocol: u32,
}

/// Offsets in `struct sock` that `tuple(sk)` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockLayout {
    pub family: u32,
    pub protocol: u32,
    /// Local port, host order.
    pub num: u32,
    /// Remote port, network order.
    pub dport: u32,
    pub rcv_saddr: u32,
    pub daddr: u32,
    pub v6_rcv_saddr: u32,
    pub v6_daddr: u32,
}

/// Offsets in `struct nf_conn` (and `skb->_nfct`) that `ct(skb)` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtLayout {
    pub nfct: u32,
    pub status: u32,
    pub mark: u32,
    pub zone: u32,
    pub tcp_state: u32,
    /// `tuplehash[IP_CT_DIR_ORIGINAL].tuple` and, relative to it, its parts.
    pub tuple: u32,
    pub src_addr: u32,
    pub src_port: u32,
    pub l3num: u32,
    pub dst_addr: u32,
    pub dst_port: u32,
    pub protonum: u32,
    /// Where a packet without an entry finds its namespace's PREROUTING
    /// hooks: `skb->protocol`, `skb->dev` and `dev->nd_net.net`, or
    /// `skb->sk` and `sk->__sk_common.skc_net.net`; then `net->nf.hooks_ipv4`
    /// / `hooks_ipv6` (element 0) and, in `struct nf_hook_entries`, the count
    /// and the array of `struct nf_hook_entry` (`hook` first).
    pub protocol: u32,
    pub dev: u32,
    pub dev_net: u32,
    pub sk: u32,
    pub sk_net: u32,
    pub hooks_ipv4: u32,
    pub hooks_ipv6: u32,
    pub hook_count: u32,
    pub hook_array: u32,
    pub hook_entry_size: u32,
    /// The running kernel's `ipv4_conntrack_in` / `ipv6_conntrack_in`; 0
    /// when absent (conntrack not loaded: no namespace tracks).
    pub conntrack_in: [u64; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Src,
    Dst,
    Either,
}

/// One test of `tuple(…)`, with values known at compile time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TupleTest {
    Port {
        side: Side,
        port: u16,
    },
    /// `addr` in network order; IPv4 uses the first 4 bytes.
    Addr {
        side: Side,
        family: u8,
        addr: [u8; 16],
        prefix: u8,
    },
    Proto(u8),
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    pub span: Span,
}
