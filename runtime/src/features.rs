//! What this kernel allows for attaching to kernel functions, found out
//! once per process and only when a script asks.

use std::cell::OnceCell;
use std::path::Path;

use ntr_lang::kernel::AttachSupport;

#[derive(Default)]
pub struct Features {
    kprobe: OnceCell<Result<(), String>>,
    fentry: OnceCell<Result<(), String>>,
}

impl AttachSupport for Features {
    fn kprobe(&self) -> Result<(), String> {
        self.kprobe.get_or_init(kprobe).clone()
    }

    fn fentry(&self) -> Result<(), String> {
        self.fentry.get_or_init(fentry).clone()
    }
}

fn kprobe() -> Result<(), String> {
    if Path::new("/sys/bus/event_source/devices/kprobe/type").exists() {
        return Ok(());
    }
    let built_without = std::fs::read("/proc/config.gz").is_ok() && config_says_no_kprobes();
    Err(if built_without {
        "this kernel was built without kprobes (CONFIG_KPROBES is not set)".into()
    } else {
        "this kernel offers no kprobe PMU (/sys/bus/event_source/devices/kprobe is missing)".into()
    })
}

/// `zcat /proc/config.gz | grep CONFIG_KPROBES`, without a gzip crate.
fn config_says_no_kprobes() -> bool {
    std::process::Command::new("zcat")
        .arg("/proc/config.gz")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("# CONFIG_KPROBES is not set"))
        .unwrap_or(false)
}

/// Load (not attach) the smallest fentry program: the kernel decides at
/// load time whether it can build a trampoline.
fn fentry() -> Result<(), String> {
    use ntr_compiler::bpf::Insn;
    use ntr_compiler::elf::{self, ProgramDef};
    use ntr_compiler::encode::CompiledFunction;
    let code = CompiledFunction {
        insns: vec![Insn::mov_imm(0, 0), Insn::exit()],
        spans: vec![Default::default(); 2],
        map_relocs: Vec::new(),
        stack_size: 0,
    };
    let bytes = elf::write(&[ProgramDef { section: "fentry/probe".into(), symbol: "ntr_feature".into(), code: &code }], &[], "GPL");
    let mut ebpf = aya::EbpfLoader::new().load(&bytes).map_err(|e| format!("cannot load a test program: {e}"))?;
    let btf = aya::Btf::from_sys_fs().map_err(|e| format!("no kernel BTF: {e}"))?;
    let prog: &mut aya::programs::FEntry = ebpf.program_mut("ntr_feature").ok_or("test program missing")?.try_into().map_err(|e| format!("{e}"))?;
    match prog.load("vfs_read", &btf) {
        Ok(()) => Ok(()),
        Err(aya::programs::ProgramError::LoadError { io_error, .. }) if io_error.raw_os_error() == Some(libc::EPERM) => {
            Err("the kernel refused to load an fentry program (EPERM): BPF trampolines are not available here".into())
        }
        Err(e) => Err(format!("loading an fentry program failed: {e}")),
    }
}
