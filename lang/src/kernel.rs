//! What ntr asks about the running kernel's types and probe points. The
//! checker and the REPL's completion go through `KernelTypes`; the BTF and
//! tracefs implementation lives in `kernel/btf.rs` and `kernel/tracefs.rs`.

pub mod btf;
pub mod btf_names;
pub mod btf_open;
pub mod elf_symbols;
pub mod errno;
pub mod history;
pub mod kallsyms;
pub mod ld_cache;
pub mod modules;
pub mod tracefs;

/// The highest rate perf events may sample at (`kernel.perf_event_max_sample_rate`).
pub fn max_sample_rate() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate").ok()?.trim().parse().ok()
}

/// A BTF type id in vmlinux BTF.
pub type TypeId = u32;

/// A kernel C type, with qualifiers and typedefs stripped (the typedef name is
/// kept for display where it matters, e.g. `u32`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KType {
    Void,
    /// Integers, `char` and `_Bool` included.
    Int {
        size: u8,
        signed: bool,
        is_char: bool,
        is_bool: bool,
    },
    /// Pointer; `target` is the pointee's type id (qualifiers and typedefs
    /// already stripped by `resolve`).
    Ptr {
        target: TypeId,
    },
    Struct {
        id: TypeId,
        name: String,
        size: u32,
    },
    Union {
        id: TypeId,
        name: String,
        size: u32,
    },
    Enum {
        id: TypeId,
        name: String,
        size: u8,
        signed: bool,
    },
    Array {
        elem: Box<KType>,
        len: u32,
    },
    /// Function pointers' targets and anything else ntr cannot look into.
    Opaque {
        name: String,
        size: u32,
    },
}

impl KType {
    /// Size in bytes (pointers are 8).
    pub fn size(&self) -> u32 {
        match self {
            KType::Void => 0,
            KType::Int { size, .. } | KType::Enum { size, .. } => *size as u32,
            KType::Ptr { .. } => 8,
            KType::Struct { size, .. } | KType::Union { size, .. } | KType::Opaque { size, .. } => *size,
            KType::Array { elem, len } => elem.size() * len,
        }
    }
}

/// A struct or union member, anonymous members flattened into their parent
/// (their offsets added).
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    /// Offset from the start of the outer struct, in bits.
    pub offset_bits: u32,
    /// Width for bitfields.
    pub bitfield_bits: Option<u8>,
    pub ty: KType,
}

/// A named argument of a probe (tp_btf, fentry) or a field of a classic
/// tracepoint record.
#[derive(Clone, Debug)]
pub struct ProbeArg {
    pub name: String,
    pub ty: KType,
}

/// A kernel function's prototype, and where it is defined.
#[derive(Clone, Debug)]
pub struct KernelFunction {
    pub params: Vec<ProbeArg>,
    pub ret: KType,
    /// The module that defines it (`nf_conntrack`), `None` when built in.
    pub module: Option<String>,
    /// Its BTF id (of kind FUNC), in vmlinux's BTF or the module's.
    pub btf_id: TypeId,
}

/// One field of a classic tracepoint's record (`/sys/kernel/tracing/events/C/N/format`).
#[derive(Clone, Debug)]
pub struct FormatField {
    pub name: String,
    /// The C declaration as tracefs prints it, e.g. `void * skbaddr`.
    pub decl: String,
    pub offset: u16,
    pub size: u16,
    pub signed: bool,
    /// `__data_loc` fields: a u32 whose low 16 bits are the offset of the data.
    pub data_loc: bool,
    /// Set when the declaration names a BTF type (enum, pointer to struct).
    pub ty: Option<KType>,
}

#[derive(Clone, Debug)]
pub struct Tracepoint {
    pub category: String,
    pub name: String,
    /// Arguments of the BTF prototype (`__bpf_trace_<name>` minus `__data`),
    /// when vmlinux BTF has the event: attach as `tp_btf`.
    pub btf_args: Option<Vec<ProbeArg>>,
    /// The BTF id of its `btf_trace_<name>` typedef, which `tp_btf` attaches to.
    pub btf_id: Option<TypeId>,
    /// The tracefs record layout, when tracefs has the event.
    pub format: Option<Vec<FormatField>>,
}

#[derive(Clone, Debug)]
pub enum LookupError {
    /// Nothing by that name; near misses, best first.
    NotFound { suggestions: Vec<String> },
    /// A bare name that exists in several categories: `category:name` for each.
    Ambiguous { candidates: Vec<String> },
    /// The kernel could not be asked (no BTF, tracefs not mountable, …).
    Unavailable(String),
}

/// Which attach methods for kernel functions this kernel allows. Asked
/// lazily (finding out costs a trial load), only for scripts that probe
/// kernel functions. `Err` says why not, in plain words.
pub trait AttachSupport {
    fn kprobe(&self) -> Result<(), String>;
    fn fentry(&self) -> Result<(), String>;
}

pub trait KernelTypes {
    /// Resolve a tracepoint, by `category` and `name` or by bare name across
    /// categories.
    fn tracepoint(&self, category: Option<&str>, name: &str) -> Result<Tracepoint, LookupError>;
    /// Names of all tracepoints as `category:name` (for `ntr list` and completion).
    fn tracepoints(&self) -> Vec<String>;
    /// Resolve a type id, stripping typedefs and qualifiers.
    fn resolve(&self, id: TypeId) -> KType;
    /// Members of a struct or union (anonymous members flattened).
    fn members(&self, id: TypeId) -> Vec<Member>;
    /// The member `name` of a struct or union, if it has one.
    fn member(&self, id: TypeId, name: &str) -> Option<Member> {
        self.members(id).into_iter().find(|m| m.name == name)
    }
    fn struct_by_name(&self, name: &str) -> Option<KType>;
    fn enum_by_name(&self, name: &str) -> Option<KType>;
    /// The enum constants of an enum type: (name, value).
    fn enum_values(&self, id: TypeId) -> Vec<(String, i64)>;
    /// Which enum defines the constant `name` (e.g. `NO_SOCKET` is not a BTF
    /// name, `SKB_DROP_REASON_NO_SOCKET` is; callers try both).
    fn enum_constant(&self, name: &str) -> Option<(KType, i64)>;
    /// A kernel function's prototype, for fentry/kprobe arguments: built-in
    /// functions from vmlinux BTF, loaded modules' from their own BTF.
    fn function(&self, name: &str) -> Option<KernelFunction>;
    /// Names of the built-in kernel functions (kprobe/fentry targets), for
    /// probe wildcards.
    fn function_names(&self) -> Vec<String>;
    /// Display name of a type (`struct sk_buff *`, `enum skb_drop_reason`, `u32`).
    fn type_name(&self, ty: &KType) -> String;
    /// Whether these types are another kernel's (`ntr compile --btf FILE`),
    /// which this machine's tracefs and symbols do not describe.
    fn other_kernel(&self) -> bool {
        false
    }
    /// The running kernel's address of each of `names` that it has.
    fn symbol_addresses(&self, names: &[&str]) -> std::collections::HashMap<String, u64>;
}
