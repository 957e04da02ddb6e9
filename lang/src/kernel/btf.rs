//! `KernelTypes` backed by vmlinux BTF (btf-rs, memory-mapped so startup
//! stays fast: only what a script asks about is decoded; see `btf_open`) and
//! tracefs.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::Path;

use btf_rs::{Btf, BtfType, Type};

use super::btf_names::NameIndex;
use super::btf_open::{self, BtfSource};
use super::{tracefs, KType, KernelFunction, KernelTypes, LookupError, Member, ProbeArg, Tracepoint, TypeId};

/// A tracepoint as a script names it: (category if given, name).
type TracepointKey = (Option<String>, String);

pub struct KernelBtf {
    btf: Btf,
    /// Another kernel's BTF (`ntr compile --btf FILE`): nothing of this
    /// machine (tracefs, /proc/kallsyms, loaded modules) describes it.
    foreign: bool,
    source: BtfSource,
    /// The BTF bytes, and type ids by name built from them on first use
    /// (`None`: bytes the index cannot read; btf-rs's scan serves).
    bytes: memmap2::Mmap,
    names: OnceCell<Option<NameIndex>>,
    /// Enum constant name → (enum type id, value), built on first use.
    constants: OnceCell<HashMap<String, (TypeId, i64)>>,
    /// Kernel symbol addresses looked up so far (`None`: not in kallsyms),
    /// so every `ct()` of a script and every check pass reads the file once.
    symbols: RefCell<HashMap<String, Option<u64>>>,
    /// Members of each struct asked for so far: a script reads the same
    /// few structs' fields over and over, and decoding BTF is slow.
    members: RefCell<HashMap<TypeId, Vec<Member>>>,
    /// Tracefs events (`category:name`), and those and their names, to
    /// suggest in place of a tracepoint not found: read once.
    suggestable: OnceCell<(Vec<String>, Vec<String>)>,
    /// Types resolved so far, by id: a script's values resolve the same
    /// few types again and again.
    resolved: RefCell<HashMap<TypeId, KType>>,
    /// Structs and enums found by name so far (kind, name).
    found: RefCell<HashMap<(&'static str, String), Option<KType>>>,
    /// Tracepoints resolved so far, by (category, name): a script may name
    /// the same one in many probes, and each lookup scans BTF and tracefs.
    tracepoints: RefCell<HashMap<TracepointKey, Result<Tracepoint, LookupError>>>,
    /// Functions vmlinux lacks, looked up in loaded modules so far: each
    /// lookup reads /proc/kallsyms and a module's BTF, and a probe's function
    /// is asked for more than once (bare names, check passes).
    module_functions: RefCell<HashMap<String, Option<KernelFunction>>>,
}

impl KernelBtf {
    /// Every type of the BTF, with its id, in id order.
    fn types(&self) -> impl Iterator<Item = (TypeId, Type)> + '_ {
        (1..).map_while(|id| self.btf.resolve_type_by_id(id).ok().map(|t| (id, t)))
    }

    /// The tracepoints BTF describes (`btf_trace_NAME` typedefs), by name.
    fn btf_tracepoint_names(&self) -> Vec<String> {
        self.types()
            .filter_map(|(_, t)| match t {
                Type::Typedef(t) => self.name_of(&t).strip_prefix("btf_trace_").map(str::to_string),
                _ => None,
            })
            .collect()
    }

    /// Whether tracepoint `name` has a BTF prototype (attachable as tp_btf).
    pub fn has_btf_tracepoint(&self, name: &str) -> bool {
        !self.ids_by_name(&format!("btf_trace_{name}")).is_empty()
    }

    /// Names of the built-in kernel functions BTF describes (kprobe/fentry
    /// targets); loaded modules' are listed by `modules::functions`.
    pub fn functions(&self) -> Vec<String> {
        self.types()
            .filter_map(|(_, t)| match t {
                Type::Func(f) => Some(self.name_of(&f)),
                _ => None,
            })
            .collect()
    }

    /// Names of the functions loaded module `module` defines, from its BTF.
    pub fn module_functions(&self, module: &str) -> Vec<String> {
        super::modules::functions(&self.btf, module)
    }

    pub fn from_sys() -> Result<KernelBtf, String> {
        KernelBtf::from_file(Path::new("/sys/kernel/btf/vmlinux"))
    }

    /// Another kernel's BTF, for objects to load there: its tracepoints
    /// resolve from BTF alone, and this machine's tracefs, symbols and
    /// modules are left out.
    pub fn from_foreign_file(path: &Path) -> Result<KernelBtf, String> {
        Ok(KernelBtf { foreign: true, ..KernelBtf::from_file(path)? })
    }

    pub fn from_file(path: &Path) -> Result<KernelBtf, String> {
        let (btf, source, bytes) = btf_open::open(path)?;
        Ok(KernelBtf {
            btf,
            foreign: false,
            source,
            bytes,
            names: OnceCell::new(),
            constants: OnceCell::new(),
            symbols: RefCell::default(),
            members: RefCell::default(),
            suggestable: OnceCell::new(),
            resolved: RefCell::default(),
            found: RefCell::default(),
            tracepoints: RefCell::default(),
            module_functions: RefCell::default(),
        })
    }

    /// Whether the file was mapped directly or copied first (it refused mmap).
    pub fn source(&self) -> BtfSource {
        self.source
    }

    /// The ids of the types named `name`.
    fn ids_by_name(&self, name: &str) -> Vec<TypeId> {
        match self.names.get_or_init(|| NameIndex::build(&self.bytes)) {
            Some(index) => index.ids(&self.bytes, name),
            None => self.btf.resolve_ids_by_name(name).unwrap_or_default(),
        }
    }

    fn by_id(&self, id: TypeId) -> Option<Type> {
        self.btf.resolve_type_by_id(id).ok()
    }

    fn name_of(&self, t: &dyn BtfType) -> String {
        self.btf.resolve_name(t).unwrap_or_default()
    }

    /// Follow typedefs and qualifiers to the underlying type id.
    fn strip(&self, mut id: TypeId) -> TypeId {
        for _ in 0..32 {
            match self.by_id(id) {
                Some(Type::Typedef(t)) => id = t.get_type_id().unwrap_or(0),
                Some(Type::Const(t)) => id = t.get_type_id().unwrap_or(0),
                Some(Type::Volatile(t)) => id = t.get_type_id().unwrap_or(0),
                Some(Type::Restrict(t)) => id = t.get_type_id().unwrap_or(0),
                Some(Type::TypeTag(t)) => id = t.get_type_id().unwrap_or(0),
                _ => return id,
            }
        }
        id
    }

    /// The first type named `name` of a kind `pick` accepts (`kind` names
    /// it for the cache: telling a type's kind decodes the whole type).
    fn find(&self, kind: &'static str, name: &str, pick: impl Fn(&Type) -> bool) -> Option<KType> {
        let key = (kind, name.to_string());
        if let Some(found) = self.found.borrow().get(&key) {
            return found.clone();
        }
        let found = self.ids_by_name(name).into_iter().find(|id| self.by_id(*id).is_some_and(|t| pick(&t))).map(|id| self.resolve(id));
        self.found.borrow_mut().insert(key, found.clone());
        found
    }

    /// A function's parameters, return type and BTF id.
    fn func_params(&self, func: &str) -> Option<(Vec<ProbeArg>, KType, TypeId)> {
        for id in self.ids_by_name(func) {
            let Some(Type::Func(f)) = self.by_id(id) else { continue };
            let Some(Type::FuncProto(proto)) = f.get_type_id().and_then(|p| self.by_id(p)) else { continue };
            let args = proto
                .parameters
                .iter()
                .filter(|p| !p.is_variadic())
                // `skb__nullable`: the kernel marks arguments that may be NULL
                // (ntr checks every pointer anyway).
                .map(|p| {
                    let name = self.name_of(p);
                    let name = name.strip_suffix("__nullable").map(String::from).unwrap_or(name);
                    ProbeArg { name, ty: self.resolve(p.get_type_id().unwrap_or(0)) }
                })
                .collect();
            return Some((args, self.resolve(proto.return_type_id()), id));
        }
        None
    }

    fn tracefs_events(&self) -> Vec<String> {
        if self.foreign {
            return self.btf_tracepoint_names();
        }
        tracefs::root().map(|r| tracefs::events(&r)).unwrap_or_default()
    }

    /// Members of struct or union `id`, decoded from BTF.
    fn decode_members(&self, id: TypeId) -> Vec<Member> {
        let members = match self.by_id(self.strip(id)) {
            Some(Type::Struct(s)) | Some(Type::Union(s)) => s.members,
            _ => return Vec::new(),
        };
        let mut out = Vec::new();
        for m in members {
            let name = self.name_of(&m);
            let ty = self.resolve(m.get_type_id().unwrap_or(0));
            let offset_bits = m.bit_offset();
            if name.is_empty() {
                if let KType::Struct { id, .. } | KType::Union { id, .. } = ty {
                    out.extend(self.members(id).into_iter().map(|mut inner| {
                        inner.offset_bits += offset_bits;
                        inner
                    }));
                }
                continue;
            }
            let bitfield_bits = m.bitfield_size().filter(|b| *b > 0).map(|b| b as u8);
            out.push(Member { name, offset_bits, bitfield_bits, ty });
        }
        out
    }

    fn resolve_uncached(&self, id: TypeId) -> KType {
        let id = self.strip(id);
        match self.by_id(id) {
            None | Some(Type::Void) => KType::Void,
            // pahole does not set the CHAR encoding: recognise `char` by name.
            // `unsigned char` and `signed char` (`__u8`, `__s8`) hold bytes,
            // not text: their arrays read as lists (`in6_addr.u6_addr8`).
            Some(Type::Int(i)) => {
                let is_char = i.is_char() || (i.size() == 1 && self.name_of(&i) == "char");
                KType::Int { size: i.size() as u8, signed: i.is_signed(), is_char, is_bool: i.is_bool() }
            }
            Some(Type::Ptr(p)) => KType::Ptr { target: self.strip(p.get_type_id().unwrap_or(0)) },
            Some(Type::Struct(s)) => KType::Struct { id, name: self.name_of(&s), size: s.size() as u32 },
            Some(Type::Union(u)) => KType::Union { id, name: self.name_of(&u), size: u.size() as u32 },
            Some(Type::Enum(e)) => KType::Enum { id, name: self.name_of(&e), size: e.size() as u8, signed: e.is_signed() },
            Some(Type::Enum64(e)) => KType::Enum { id, name: self.name_of(&e), size: e.size() as u8, signed: e.is_signed() },
            Some(Type::Array(a)) => KType::Array { elem: Box::new(self.resolve(a.get_type_id().unwrap_or(0))), len: a.len() as u32 },
            Some(Type::Float(f)) => KType::Opaque { name: self.name_of(&f), size: f.size() as u32 },
            Some(Type::Fwd(f)) => KType::Opaque { name: self.name_of(&f), size: 0 },
            Some(other) => KType::Opaque { name: other.name().to_string(), size: 0 },
        }
    }

    /// Resolve a tracepoint from tracefs and BTF.
    fn lookup_tracepoint(&self, category: Option<&str>, name: &str) -> Result<Tracepoint, LookupError> {
        let root = if self.foreign { Err("another kernel's BTF: this machine's tracefs does not describe it".to_string()) } else { tracefs::root() };
        let category = match (category, &root) {
            (Some(c), _) => Some(c.to_string()),
            (None, Ok(root)) => {
                let found = tracefs::categories_of(root, name);
                match found.len() {
                    0 => None,
                    1 => found.into_iter().next(),
                    _ => return Err(LookupError::Ambiguous { candidates: found.iter().map(|c| format!("{c}:{name}")).collect() }),
                }
            }
            (None, Err(_)) => None,
        };
        let format = match (&category, &root) {
            (Some(c), Ok(root)) => tracefs::format(root, c, name).map(|mut fields| {
                for f in &mut fields {
                    if let Some(e) = f.decl.strip_prefix("enum ").and_then(|d| d.split_whitespace().next()) {
                        f.ty = self.enum_by_name(e);
                    }
                }
                fields
            }),
            _ => None,
        };
        // A category that is not the event's: BTF knows events by name only,
        // so `tracepoint:nosuchcat:kfree_skb` must not pass as skb's.
        if let (Some(c), Ok(root), None) = (&category, &root, &format) {
            let real = tracefs::categories_of(root, name);
            if !real.is_empty() && !real.contains(c) {
                return Err(LookupError::NotFound { suggestions: real.iter().map(|r| format!("{r}:{name}")).collect() });
            }
        }
        let btf_id = self.ids_by_name(&format!("btf_trace_{name}")).into_iter().find(|id| matches!(self.by_id(*id), Some(Type::Typedef(_))));
        let btf_args = if btf_id.is_some() {
            // Argument names: `__bpf_trace_X` exists per event class, so only
            // for events that are their own class; `__probestub_X` per event
            // since 6.7; `__traceiter_X` per event on older kernels (6.1).
            self.func_params(&format!("__bpf_trace_{name}"))
                .or_else(|| self.func_params(&format!("__probestub_{name}")))
                .or_else(|| self.func_params(&format!("__traceiter_{name}")))
                .map(|(args, ..)| args.into_iter().skip(1).collect())
        } else {
            None
        };
        if format.is_none() && btf_args.is_none() {
            let (all, candidates) = self.suggestable.get_or_init(|| {
                let all = self.tracefs_events();
                let mut candidates = all.clone();
                candidates.extend(all.iter().filter_map(|e| e.split_once(':').map(|(_, n)| n.to_string())));
                (all, candidates)
            });
            let wanted = match category {
                Some(c) => format!("{c}:{name}"),
                None => name.to_string(),
            };
            let near = crate::check::near_misses(&wanted, candidates);
            // Show suggestions as category:name, which always resolves.
            let suggestions = near
                .into_iter()
                .map(|n| if n.contains(':') { n } else { all.iter().find(|e| e.ends_with(&format!(":{n}"))).cloned().unwrap_or(n) })
                .fold(Vec::new(), |mut v, s| {
                    if !v.contains(&s) {
                        v.push(s);
                    }
                    v
                });
            if let Err(why) = root {
                if suggestions.is_empty() {
                    return Err(LookupError::Unavailable(why));
                }
            }
            return Err(LookupError::NotFound { suggestions });
        }
        Ok(Tracepoint { category: category.unwrap_or_default(), name: name.to_string(), btf_args, btf_id, format })
    }
}

impl KernelTypes for KernelBtf {
    fn tracepoint(&self, category: Option<&str>, name: &str) -> Result<Tracepoint, LookupError> {
        let key = (category.map(str::to_string), name.to_string());
        if let Some(t) = self.tracepoints.borrow().get(&key) {
            return t.clone();
        }
        let t = self.lookup_tracepoint(category, name);
        self.tracepoints.borrow_mut().insert(key, t.clone());
        t
    }

    fn tracepoints(&self) -> Vec<String> {
        self.tracefs_events()
    }

    fn other_kernel(&self) -> bool {
        self.foreign
    }

    fn function_names(&self) -> Vec<String> {
        self.functions()
    }

    fn resolve(&self, id: TypeId) -> KType {
        if let Some(t) = self.resolved.borrow().get(&id) {
            return t.clone();
        }
        let t = self.resolve_uncached(id);
        self.resolved.borrow_mut().insert(id, t.clone());
        t
    }

    fn members(&self, id: TypeId) -> Vec<Member> {
        if let Some(m) = self.members.borrow().get(&id) {
            return m.clone();
        }
        let m = self.decode_members(id);
        self.members.borrow_mut().insert(id, m.clone());
        m
    }

    fn member(&self, id: TypeId, name: &str) -> Option<Member> {
        if !self.members.borrow().contains_key(&id) {
            self.members(id);
        }
        self.members.borrow().get(&id)?.iter().find(|m| m.name == name).cloned()
    }
    fn struct_by_name(&self, name: &str) -> Option<KType> {
        self.find("struct", name, |t| matches!(t, Type::Struct(_)))
    }

    fn enum_by_name(&self, name: &str) -> Option<KType> {
        self.find("enum", name, |t| matches!(t, Type::Enum(_) | Type::Enum64(_)))
    }

    fn enum_values(&self, id: TypeId) -> Vec<(String, i64)> {
        match self.by_id(self.strip(id)) {
            Some(Type::Enum(e)) => {
                let signed = e.is_signed();
                e.members.iter().map(|m| (self.name_of(m), if signed { m.val() as i32 as i64 } else { m.val() as i64 })).collect()
            }
            Some(Type::Enum64(e)) => e.members.iter().map(|m| (self.name_of(m), m.val() as i64)).collect(),
            _ => Vec::new(),
        }
    }

    fn enum_constant(&self, name: &str) -> Option<(KType, i64)> {
        let index = self.constants.get_or_init(|| {
            let mut map = HashMap::new();
            for (id, _) in self.types().filter(|(_, t)| matches!(t, Type::Enum(_) | Type::Enum64(_))) {
                for (n, v) in self.enum_values(id) {
                    map.entry(n).or_insert((id, v));
                }
            }
            map
        });
        index.get(name).map(|(id, v)| (self.resolve(*id), *v))
    }

    fn function(&self, name: &str) -> Option<KernelFunction> {
        if let Some((params, ret, btf_id)) = self.func_params(name) {
            return Some(KernelFunction { params, ret, module: None, btf_id });
        }
        if let Some(f) = self.module_functions.borrow().get(name) {
            return f.clone();
        }
        if self.foreign {
            return None;
        }
        let f = super::kallsyms::module_of(name).and_then(|module| super::modules::function(self, &self.btf, &module, name));
        self.module_functions.borrow_mut().insert(name.to_string(), f.clone());
        f
    }

    fn symbol_addresses(&self, names: &[&str]) -> HashMap<String, u64> {
        // This machine's addresses are not another kernel's.
        if self.foreign {
            return HashMap::new();
        }
        let mut known = self.symbols.borrow_mut();
        let missing: Vec<&str> = names.iter().copied().filter(|n| !known.contains_key(*n)).collect();
        if !missing.is_empty() {
            let found = super::kallsyms::addresses(&missing);
            for name in missing {
                known.insert(name.to_string(), found.get(name).copied());
            }
        }
        names.iter().filter_map(|n| Some((n.to_string(), known.get(*n).copied().flatten()?))).collect()
    }

    fn type_name(&self, ty: &KType) -> String {
        match ty {
            KType::Void => "void".into(),
            KType::Int { size, signed, is_char, is_bool } => match (is_bool, is_char, size, signed) {
                (true, ..) => "bool".into(),
                (_, true, ..) => "char".into(),
                (_, _, s, true) => format!("s{}", *s as u32 * 8),
                (_, _, s, false) => format!("u{}", *s as u32 * 8),
            },
            KType::Ptr { target } => format!("{} *", self.type_name(&self.resolve(*target))),
            KType::Struct { name, .. } => format!("struct {name}"),
            KType::Union { name, .. } => format!("union {name}"),
            KType::Enum { name, .. } => format!("enum {name}"),
            KType::Array { elem, len } => format!("{}[{len}]", self.type_name(elem)),
            KType::Opaque { name, .. } => name.clone(),
        }
    }
}
