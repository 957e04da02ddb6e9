//! `ntr list reasons` and `ntr info reason NAME`: the running kernel's drop
//! reasons (names from BTF) with the stdlib table's explanations.

use ntr_lang::diag::Diagnostic;
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::kernel::{KType, KernelTypes};
use ntr_lang::source::Sources;
use ntr_stdlib::reasons;

use crate::report;

const PREFIX: &str = "SKB_DROP_REASON_";
const UNEXPLAINED: &str = "no explanation yet";

/// A value of `enum skb_drop_reason`: its BTF name and value.
struct Reason {
    btf_name: String,
    value: i64,
}

impl Reason {
    /// The name as ntr prints it: `NO_SOCKET`, `SKB_CONSUMED`.
    fn name(&self) -> &str {
        self.btf_name.strip_prefix(PREFIX).unwrap_or(&self.btf_name)
    }
}

/// This kernel's drop reasons in enum order, or a message saying why none.
fn kernel_reasons() -> Result<Vec<Reason>, String> {
    let kernel = KernelBtf::from_sys().map_err(|e| format!("cannot read this kernel's types: {e}"))?;
    let Some(KType::Enum { id, .. }) = kernel.enum_by_name("skb_drop_reason") else {
        return Err("this kernel's BTF has no enum skb_drop_reason (drop reasons came in Linux 5.17)".into());
    };
    Ok(kernel.enum_values(id).into_iter().map(|(btf_name, value)| Reason { btf_name, value }).collect())
}

/// A failure of these commands: exit status 1, as for other lookups.
fn fail(d: &Diagnostic) -> u8 {
    report::diagnostics(&Sources::new(), std::slice::from_ref(d));
    1
}

/// `ntr list reasons`: every reason of this kernel, with its meaning.
pub fn list() -> u8 {
    let all = match kernel_reasons() {
        Ok(r) => r,
        Err(why) => return fail(&Diagnostic::global(why)),
    };
    let width = all.iter().map(|r| r.name().len()).max().unwrap_or(0);
    for r in &all {
        let meaning = reasons::explain(r.name()).map_or(UNEXPLAINED, |e| e.meaning.as_str());
        println!("{:<width$}  {meaning}", r.name());
    }
    0
}

/// `ntr info reason NAME`: value, meaning and what to check. Names match
/// without case, with or without `SKB_DROP_REASON_`.
pub fn info(name: &str) -> u8 {
    let all = match kernel_reasons() {
        Ok(r) => r,
        Err(why) => return fail(&Diagnostic::global(why)),
    };
    let wanted = name.to_ascii_uppercase();
    let wanted = wanted.strip_prefix(PREFIX).unwrap_or(&wanted);
    let Some(r) = all.iter().find(|r| r.name() == wanted) else {
        let names: Vec<String> = all.iter().map(|r| r.name().to_string()).collect();
        let mut d = Diagnostic::global(format!("no drop reason `{name}` in this kernel's enum skb_drop_reason"));
        let near = ntr_lang::check::near_misses(wanted, &names);
        if !near.is_empty() {
            let quoted: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
            d = d.with_help(format!("did you mean {}?", quoted.join(", ")));
        }
        if reasons::explain(wanted).is_some() {
            d = d.with_note(format!("{wanted} is a reason of other kernels; this one does not have it"));
        }
        return fail(&d.with_note("`ntr list reasons` lists this kernel's reasons"));
    };
    println!("{} ({} = {})", r.name(), r.btf_name, r.value);
    match reasons::explain(r.name()) {
        Some(e) => {
            println!("  meaning: {}", e.meaning);
            println!("  check:   {}", e.check);
            if !e.facts.is_empty() {
                println!("  facts:   {} (looked up in the packet's namespace by `cause`, as dropwatch prints it)", e.facts.join(", "));
            }
        }
        None => println!("  {UNEXPLAINED}"),
    }
    0
}
