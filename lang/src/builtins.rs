//! The catalogue of builtins: each declared once, with its kind, signature,
//! one-line doc and an example. The checker asks it what a name is (a
//! value, a function, a statement, an aggregation), the REPL completes its
//! names, `ntr info builtin NAME` shows an entry, and the builtin table of
//! docs/language.md is generated from it (a test compares them).
//!
//! Where each kind is typed: variables in `check/expr.rs` (`builtin_var`),
//! functions in `check/calls.rs` (`check_call_expr`), network functions in
//! `check/net.rs`, statements in `check/calls.rs` (`check_call_stmt`),
//! aggregations in `check/stmt.rs` and `check/maps.rs`. They are lowered in
//! `compiler/src/codegen/lower.rs` (network ones in `lower/net.rs`) and
//! printed by type in `runtime/src/format.rs`.

/// What a builtin is, which decides where a script may use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A name with a value: `pid`.
    Variable,
    /// A call with a value: `sym(addr)`.
    Function,
    /// A call with a value computed from a packet or socket: `tuple(skb)`.
    Network,
    /// A call with no value, as a statement: `printf(…);`.
    Statement,
    /// A map's value: `@m[k] = count();`.
    Aggregation,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Variable => "value",
            Kind::Function => "function",
            Kind::Network => "network function",
            Kind::Statement => "statement",
            Kind::Aggregation => "aggregation",
        }
    }
}

pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
    /// How it is written: `str(ptr[, len])`.
    pub signature: &'static str,
    pub doc: &'static str,
    pub example: &'static str,
}

const fn b(name: &'static str, kind: Kind, signature: &'static str, doc: &'static str, example: &'static str) -> Builtin {
    Builtin { name, kind, signature, doc, example }
}

use Kind::*;

/// Every builtin, in the order the docs show them. A name may have two
/// entries of different kinds (`kstack` and `kstack(N)`, `time(FMT)` as a
/// value and as a statement).
pub const BUILTINS: &[Builtin] = &[
    b("pid", Variable, "pid", "the current process's id (the thread group's)", "@[pid] = count()"),
    b("tid", Variable, "tid", "the current thread's id", "@start[tid] = nsecs"),
    b("uid", Variable, "uid", "the current task's user id", "if uid == 0 { … }"),
    b("gid", Variable, "gid", "the current task's group id", "@[gid] = count()"),
    b("comm", Variable, "comm", "the current task's name (`str`)", "@[comm] = count()"),
    b("cpu", Variable, "cpu", "the CPU the probe runs on", "@[cpu] = count()"),
    b("nsecs", Variable, "nsecs", "monotonic time in nanoseconds", "@lat = hist(nsecs - @start[tid])"),
    b(
        "elapsed",
        Variable,
        "elapsed",
        "the time since the run started (a `duration`): the runtime writes the start (CLOCK_MONOTONIC) before it attaches any probe, so `begin` already reads a few hundred microseconds",
        "printf(\"%s\\n\", elapsed)",
    ),
    b(
        "walltime",
        Variable,
        "walltime",
        "the wall-clock time (`time`): the kernel's boot-time clock, read in the probe and shown by the runtime in local time (`TZ`, else `/etc/localtime`; UTC with `--utc`, or when the zone cannot be told, which is said), from the offset between the wall clock and the boot clock measured when the run starts. Two of them subtract to a `duration`; `min(walltime)` and `max(walltime)` keep the first and last moments, printed as times",
        "@first = min(walltime)",
    ),
    b("cpid", Variable, "cpid", "the pid of the command `-c CMD` runs (an error without `-c`)", "if pid == cpid { … }"),
    b(
        "curtask",
        Variable,
        "curtask",
        "the current task, a `struct task_struct *` typed from BTF (read with bpf_probe_read_kernel)",
        "curtask.real_parent.tgid",
    ),
    b("cgroup", Variable, "cgroup", "the id of the current task's cgroup v2 (the inode of its directory under the cgroup2 mount; 1 is the root)", "@[cgroup] = count()"),
    b(
        "kstack",
        Variable,
        "kstack",
        "the current kernel stack, as a value (map key); taken once per run of a probe. It starts at the traced code: the frames of the tracing machinery (`bpf_trace_run4`, `__traceiter_…`) are left out; a `profile:` sample starts at the sampled function, a kprobe at the probed one",
        "@[kstack] = count()",
    ),
    b("ustack", Variable, "ustack", "the current user stack, as a value (map key), symbolized in the process it was taken in", "@[ustack] = count()"),
    b("probe", Variable, "probe", "the probe's name, e.g. `tracepoint:skb:kfree_skb`", "@[probe] = count()"),
    b(
        "func",
        Variable,
        "func",
        "the function or tracepoint the probe is on: `tcp_v4_rcv` for `kprobe:tcp_v4_rcv+0x10`, `getaddrinfo` for `uprobe:libc:getaddrinfo`, `kfree_skb` for a tracepoint (an error in `begin`, `end`, `every` and `profile:`)",
        "on syscalls:sys_enter_exec* { @[func] = count(); }",
    ),
    b(
        "kstack",
        Function,
        "kstack(N)",
        "only the innermost N frames of the kernel stack: the kernel walks just those (and the few tracing frames there may be before them), several times cheaper than a full stack",
        "@[kstack(5)] = count()",
    ),
    b("ustack", Function, "ustack()", "the same as `ustack`", "@[ustack()] = count()"),
    b(
        "time",
        Function,
        "time([FMT])",
        "the moment the probe fires (`walltime`) shown with a strftime format (default `%H:%M:%S`), in local time or UTC as `walltime` is. Conversions are [jiff's](https://docs.rs/jiff/latest/jiff/fmt/strtime/): `%6f` microseconds, `%z` the offset, `%s` seconds since the epoch; a bad one is an error at the string",
        "printf(\"%s\\n\", time(\"%Y-%m-%d %H:%M:%S\"))",
    ),
    b(
        "strftime",
        Function,
        "strftime(FMT, t)",
        "the moment `t` (a `time`: `walltime`, or one kept in a map with `min`/`max`) shown with FMT",
        "strftime(\"%H:%M:%S.%6f\", walltime)",
    ),
    b(
        "kaddr",
        Function,
        "kaddr(\"sym\")",
        "a kernel symbol's address, from /proc/kallsyms when the script is compiled (an `addr`); data symbols are there only on kernels built with CONFIG_KALLSYMS_ALL, and an unknown name is an error",
        "kaddr(\"tcp_v4_rcv\")",
    ),
    b("sym", Function, "sym(addr)", "the address, shown as `symbol+0xoff`", "@[sym(location)] = count()"),
    b(
        "uaddr",
        Function,
        "uaddr(\"symbol\")",
        "the run-time address of a symbol of the probed file, in a uprobe: where the probe fired, moved by the two symbols' distance in the file (PIE and libraries included)",
        "usym(uaddr(\"main\"))",
    ),
    b(
        "usym",
        Function,
        "usym(addr)",
        "a user-space address of the current process, shown as `function+0xoff (binary)` from that process's mappings (read while it runs), `[unknown] 0xaddr` where no symbol covers it",
        "@[usym(arg0)] = count()",
    ),
    b(
        "str",
        Function,
        "str(ptr[, len])",
        "the NUL-terminated string at `ptr` (default 64 bytes); a kernel pointer, else a user-space one (syscall arguments)",
        "str(filename, 256)",
    ),
    b("ntohs", Function, "ntohs(x)", "the low 2 bytes of an integer in the other byte order: a `__be16` field as a number", "ntohs(skb.protocol)"),
    b("htons", Function, "htons(x)", "the same as `ntohs`, for the other direction", "htons(9418)"),
    b("ntohl", Function, "ntohl(x)", "the low 4 bytes of an integer in the other byte order: a `__be32` field as a number", "ntohl(sk.__sk_common.skc_daddr)"),
    b("htonl", Function, "htonl(x)", "the same as `ntohl`, for the other direction", "htonl(x)"),
    b("bswap", Function, "bswap(x)", "an integer's bytes reversed, at its own width (a `u32` field: 4 bytes)", "bswap(x)"),
    b(
        "ntop",
        Function,
        "ntop(x)",
        "an address as the kernel keeps it, shown as one: a 4-byte IPv4 field (`__be32`, network order) or 4-byte array; an IPv6 `struct in6_addr` or 16-byte array (`::1`, `::ffff:127.0.0.1`); for whole flows, `tuple(sk)`",
        "ntop(sk.__sk_common.skc_v6_daddr)",
    ),
    b(
        "buf",
        Function,
        "buf(ptr, len[, cap])",
        "`len` bytes at `ptr` (kernel memory, else user memory, as `str()` reads), printed with `%r` or `%s`: printable ASCII as it is, other bytes (and `\\`) as `\\xNN`; JSON a hex string. `len` may be a runtime value, clamped in the probe to 0…`cap` (a constant up to 4096; by default `len` when constant, else 64); memory neither address space can read prints `(unreadable)`",
        "printf(\"%r\\n\", buf(arg1, retval, 256))",
    ),
    b(
        "join",
        Function,
        "join(argv) / join(ptr, len[, cap])",
        "the strings of a user `char **` ending in NULL (execve's `argv`; at most 16, of 127 bytes each), or the NUL-separated strings at `ptr` read as `buf` reads (a process's arguments, `mm.arg_start` to `mm.arg_end`), printed joined by spaces, `…` after a last string that `cap` cut off (default 64 when `len` is not constant); JSON: an array of strings",
        "on sys_enter_execve { printf(\"%s\\n\", join(argv)); }",
    ),
    b("is_set", Function, "is_set(params.NAME)", "whether `-p NAME=…` was given (a constant)", "if !is_set(params.port) || dport == params.port { … }"),
    b("has", Function, "has(ARG)", "whether this probe has an argument `ARG` on the running kernel (a constant)", "if has(reason) { … }"),
    b(
        "tuple",
        Network,
        "tuple(skb) / tuple(sk) / tuple(FIELD=VALUE, …)",
        "the packet's flow (family, protocol, addresses, ports; ICMP type and code), or a socket's, local end first; with fields, a filter on the probe's packet (see Filters below)",
        "tuple(skb)  # tcp 10.0.2.2:9418 -> 10.0.1.2:53098",
    ),
    b("flow", Network, "flow(skb)", "the flow with its endpoints ordered, the same for both directions (a map key per connection)", "@[flow(skb)] = count()"),
    b("ct", Network, "ct(skb)", "the packet's conntrack entry, or the state that says why it has none (below)", "ct(skb).state"),
    b("ifname", Network, "ifname(skb) / ifname(dev)", "the device the packet is on, or of a `struct net_device *` (`(no device)` before routing gave it one)", "ifname(skb)  # eth0"),
    b("ifindex", Network, "ifindex(skb)", "the index of the device the packet is on", "ifindex(skb)  # 2"),
    b(
        "netns",
        Network,
        "netns(skb) / netns(sk) / netns(dev)",
        "the network namespace (inode), printed as its `ip netns` name, `host`, `pid 1234 (comm)`, or `netns:INODE`",
        "@[netns(skb)] = count()",
    ),
    b("nfhook", Network, "nfhook(kstack)", "the netfilter hook the stack went through (the caller of `nf_hook_slow`), or `-`", "nfhook(kstack(12))  # FORWARD"),
    b(
        "nfrule",
        Network,
        "nfrule(netns, kstack)",
        "the rules of that hook, in that namespace, whose packet counters rose since ntr started (read with `iptables-save -c`, nothing changed); drop and reject verdicts first",
        "nfrule(netns(skb), kstack(12))",
    ),
    b(
        "cause",
        Network,
        "cause(skb, reason, location, kstack)",
        "why a packet was dropped, in words: the reason's meaning (`ntr info reason NAME`) and the facts it names, looked up in the packet's namespace when printed (route, rp_filter, neighbour, MTU, qdisc, socket, netfilter rule)",
        "@[cause(skb, reason, location, kstack(12))] = count()",
    ),
    b(
        "filter",
        Function,
        "filter([skb,] \"EXPR\")",
        "whether the packet (the probe's `skb` by default) matches a tcpdump expression (pcap-filter(7)), compiled by libpcap when the script is checked and run in the probe from the packet's network header; link-layer fields (`ether`, `vlan`) are refused; the expression may be a `pcap` parameter, which left at \"\" matches everything",
        "if filter(skb, \"tcp port 9418 and host 10.0.2.2\") { … }",
    ),
    b("printf", Statement, "printf(FMT, args…)", "prints with `%d %i %u %x %X %s %p %c`, flags and widths; `%s` prints any value in its natural form", "printf(\"%s %d\\n\", comm, pid);"),
    b("print", Statement, "print(values…) / print(@m[, N])", "prints values by type, space-separated; or a map now (its top N rows)", "print(@drops, 10);"),
    b("emit", Statement, "emit([FMT,] key=value, …)", "sends a record: one JSON object with `--json`, `key value` pairs (or FMT) as text", "emit(pid, comm, flow=tuple(skb));"),
    b("time", Statement, "time([FMT]);", "prints the moment, as bpftrace's `time()` does", "time(\"%H:%M:%S \");"),
    b(
        "cat",
        Statement,
        "cat(FMT, args…);",
        "prints the file the formatted text names, read by the runtime when the event is printed (its first 64 KiB; control characters but newlines and tabs escaped; a file that cannot be read says why in its place)",
        "cat(\"/proc/%d/status\", pid);",
    ),
    b("stack", Statement, "stack();", "prints the current kernel stack, symbolized", "stack();"),
    b("pcap", Statement, "pcap(skb[, dev]);", "writes the packet to the capture file of `--pcap FILE` (pcapng)", "pcap(skb);"),
    b("delete", Statement, "delete(@m[k]);", "removes one key of a map", "delete(@start[tid]);"),
    b("clear", Statement, "clear(@m);", "empties a map", "clear(@drops);"),
    b("exit", Statement, "exit();", "ends the run: the `end` probes run and maps print; later events are counted, not printed", "exit();"),
    b("count", Aggregation, "count()", "number of events", "@[comm] = count()"),
    b("sum", Aggregation, "sum(e)", "the sum of the values of `e`", "@bytes[comm] = sum(skb.len)"),
    b("min", Aggregation, "min(e)", "the least value of `e`", "@first = min(walltime)"),
    b("max", Aggregation, "max(e)", "the greatest value of `e`", "@last = max(walltime)"),
    b("avg", Aggregation, "avg(e)", "the mean of the values of `e`", "@len = avg(skb.len)"),
    b("stats", Aggregation, "stats(e)", "the count, average and total of the values of `e`, printed as `count N, average A, total T` (JSON: an object of the three)", "@len[comm] = stats(skb.len)"),
    b("hist", Aggregation, "hist(e)", "power-of-two histogram", "@lat = hist(nsecs - @start[tid])"),
    b("lhist", Aggregation, "lhist(e, min, max, step)", "linear histogram", "@len = lhist(skb.len, 0, 1500, 100)"),
];

/// Whether `name` is a builtin of `kind`.
pub fn is(name: &str, kind: Kind) -> bool {
    BUILTINS.iter().any(|b| b.name == name && b.kind == kind)
}

/// The names of the builtins of `kind`, each once.
pub fn names(kind: Kind) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for b in BUILTINS.iter().filter(|b| b.kind == kind) {
        if !out.contains(&b.name) {
            out.push(b.name);
        }
    }
    out
}

/// Every name, each once (for completion).
pub fn all_names() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for b in BUILTINS {
        if !out.contains(&b.name) {
            out.push(b.name);
        }
    }
    out
}

/// The entries named `name`.
pub fn lookup(name: &str) -> Vec<&'static Builtin> {
    BUILTINS.iter().filter(|b| b.name == name).collect()
}

/// The docs' table of builtins (docs/language.md, between its markers).
pub fn markdown() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("| builtin | kind | what | example |\n|---|---|---|---|\n");
    for b in BUILTINS {
        out.push_str(&format!("| `{}` | {} | {} | `{}` |\n", cell(b.signature), b.kind.word(), cell(b.doc), cell(b.example)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "<!-- builtins: generated from lang/src/builtins.rs -->\n";
    const END: &str = "<!-- end of builtins -->";

    /// The docs show the catalogue as it is: the table between the markers
    /// of docs/language.md is `markdown()`.
    #[test]
    fn the_docs_table_is_the_catalogue() {
        let docs = include_str!("../../docs/language.md");
        let start = docs.find(START).expect("the start marker in docs/language.md") + START.len();
        let end = docs[start..].find(END).expect("the end marker") + start;
        assert!(docs[start..end] == markdown(), "docs/language.md's builtin table differs from the catalogue; it should read:\n\n{}", markdown());
    }

    #[test]
    fn names_are_unique_within_a_kind() {
        for (i, a) in BUILTINS.iter().enumerate() {
            assert!(!BUILTINS[i + 1..].iter().any(|b| a.name == b.name && a.kind == b.kind), "`{}` twice as a {}", a.name, a.kind.word());
        }
    }
}
