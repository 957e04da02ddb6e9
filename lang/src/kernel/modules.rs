//! Kernel functions defined in loaded modules. Distribution kernels build
//! much of the network stack as modules (`nf_conntrack_in` is in
//! nf_conntrack on Debian, built in on others): vmlinux BTF does not
//! describe them, each module's own BTF does (`/sys/kernel/btf/MODULE`,
//! split BTF whose type ids continue vmlinux's).
//!
//! A module's types are translated into vmlinux's: a pointer to a struct
//! vmlinux also has becomes that struct's pointer, so `skb.len` reads the
//! same as for a built-in function. What only the module defines stays
//! opaque rather than guessed.

use std::path::Path;

use btf_rs::{Btf, BtfType, Type};

use super::btf::KernelBtf;
use super::{KType, KernelFunction, KernelTypes, ProbeArg};

const BTF_DIR: &str = "/sys/kernel/btf";

/// Why ntr gives a module's function no fentry/fexit: attaching one needs
/// the module's BTF object as the target, which aya 0.14's loader does not
/// pass. kprobes attach by name and work.
pub const NO_FENTRY: &str = "ntr attaches fentry/fexit only to functions built into the kernel, not to a module's";

/// Names of the loaded modules that have BTF.
pub fn with_btf() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(BTF_DIR)
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n != "vmlinux").collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// A module's BTF over vmlinux's. The sysfs file is small and read whole
/// (older kernels refuse to map it).
pub fn open(base: &Btf, module: &str) -> Option<Btf> {
    Btf::from_split_file(Path::new(BTF_DIR).join(module), base).ok()
}

/// Names of the functions a module's BTF describes.
pub fn functions(base: &Btf, module: &str) -> Vec<String> {
    let Some(btf) = open(base, module) else { return Vec::new() };
    let mut names = Vec::new();
    let mut id = first_own_id(base);
    while let Ok(t) = btf.resolve_type_by_id(id) {
        if let Type::Func(f) = t {
            names.extend(btf.resolve_name(&f).ok());
        }
        id += 1;
    }
    names
}

/// The first type id past vmlinux's, where a module's own types start.
fn first_own_id(base: &Btf) -> u32 {
    let (mut known, mut unknown) = (0u32, 1u32);
    while in_base(base, unknown) {
        known = unknown;
        unknown *= 2;
    }
    while unknown - known > 1 {
        let mid = known + (unknown - known) / 2;
        if in_base(base, mid) {
            known = mid;
        } else {
            unknown = mid;
        }
    }
    unknown
}

/// The prototype of function `name` defined in `module`.
pub fn function(kernel: &KernelBtf, base: &Btf, module: &str, name: &str) -> Option<KernelFunction> {
    let btf = open(base, module)?;
    let ids = btf.resolve_ids_by_name(name).ok()?;
    for id in ids {
        let Ok(Type::Func(f)) = btf.resolve_type_by_id(id) else { continue };
        let Some(Ok(Type::FuncProto(proto))) = f.get_type_id().map(|p| btf.resolve_type_by_id(p)) else { continue };
        let t = Translate { kernel, base, module: &btf };
        let params = proto
            .parameters
            .iter()
            .filter(|p| !p.is_variadic())
            .map(|p| ProbeArg { name: btf.resolve_name(p).unwrap_or_default(), ty: t.ktype(p.get_type_id().unwrap_or(0)) })
            .collect();
        return Some(KernelFunction { params, ret: t.ktype(proto.return_type_id()), module: Some(module.to_string()), btf_id: id });
    }
    None
}

/// Whether type `id` is one of vmlinux's (split BTF numbers a module's own
/// types after the last of vmlinux's).
fn in_base(base: &Btf, id: u32) -> bool {
    base.resolve_type_by_id(id).is_ok()
}

struct Translate<'a> {
    kernel: &'a KernelBtf,
    base: &'a Btf,
    module: &'a Btf,
}

impl Translate<'_> {
    /// A module type id as a vmlinux KType.
    fn ktype(&self, id: u32) -> KType {
        let id = self.strip(id);
        if in_base(self.base, id) {
            return self.kernel.resolve(id);
        }
        let name = |t: &dyn BtfType| self.module.resolve_name(t).unwrap_or_default();
        match self.module.resolve_type_by_id(id) {
            Ok(Type::Ptr(p)) => match self.ktype(p.get_type_id().unwrap_or(0)) {
                KType::Struct { id, .. } | KType::Union { id, .. } | KType::Enum { id, .. } => KType::Ptr { target: id },
                // A pointer to what only the module knows: an address.
                _ => KType::Ptr { target: 0 },
            },
            Ok(Type::Int(i)) => KType::Int { size: i.size() as u8, signed: i.is_signed(), is_char: i.is_char(), is_bool: i.is_bool() },
            // The module's own struct: the kernel's struct of that name and
            // size when vmlinux has one, else nothing to look into.
            Ok(Type::Struct(s)) => match self.kernel.struct_by_name(&name(&s)) {
                Some(k @ KType::Struct { size, .. }) if size == s.size() as u32 => k,
                _ => KType::Opaque { name: format!("struct {}", name(&s)), size: s.size() as u32 },
            },
            // Its own enum: a number (the names are the module's).
            Ok(Type::Enum(e)) => KType::Int { size: e.size() as u8, signed: e.is_signed(), is_char: false, is_bool: false },
            Ok(Type::Enum64(e)) => KType::Int { size: e.size() as u8, signed: e.is_signed(), is_char: false, is_bool: false },
            Ok(Type::Void) | Err(_) => KType::Void,
            Ok(other) => KType::Opaque { name: other.name().to_string(), size: 0 },
        }
    }

    /// Follow the module's typedefs and qualifiers.
    fn strip(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            if in_base(self.base, id) {
                return id;
            }
            let next = match self.module.resolve_type_by_id(id) {
                Ok(Type::Typedef(t)) => t.get_type_id(),
                Ok(Type::Const(t)) => t.get_type_id(),
                Ok(Type::Volatile(t)) => t.get_type_id(),
                Ok(Type::Restrict(t)) => t.get_type_id(),
                Ok(Type::TypeTag(t)) => t.get_type_id(),
                _ => return id,
            };
            id = next.unwrap_or(0);
        }
        id
    }
}
