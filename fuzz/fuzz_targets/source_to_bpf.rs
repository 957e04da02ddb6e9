//! Any script that parses is checked against this kernel's types (read
//! once) and, when it checks, compiled to BPF: every step ends in a result
//! or a diagnostic, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntr_lang::check::{self, CheckOptions};
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::kernel::AttachSupport;
use ntr_lang::source::Sources;

struct Attach;

impl AttachSupport for Attach {
    fn kprobe(&self) -> Result<(), String> {
        Ok(())
    }
    fn fentry(&self) -> Result<(), String> {
        Ok(())
    }
}

thread_local! {
    // Read once: its caches make later inputs as fast as the first is slow.
    static KERNEL: KernelBtf = KernelBtf::from_sys().expect("kernel BTF (/sys/kernel/btf/vmlinux)");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut sources = Sources::new();
    let file = sources.add("fuzz.ntr", text);
    let Ok(script) = ntr_lang::syntax::parse(&sources, file) else { return };
    let options = CheckOptions { params: &[], attach: &Attach, host: None, cpid: None, snaplen: Some(256) };
    KERNEL.with(|kernel| {
        if let Ok(program) = check::check(&[&script], kernel, &options) {
            let _ = ntr_compiler::compile(&program);
        }
    });
});
