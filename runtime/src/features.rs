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

/// `/proc/config.gz` says `# CONFIG_KPROBES is not set` (read here: no
/// `zcat` looked up through $PATH as root).
fn config_says_no_kprobes() -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open("/proc/config.gz") else { return false };
    // The kernel's config is some hundred kilobytes; bound what is read.
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).take(16 << 20).read_to_string(&mut text).is_ok() && text.contains("# CONFIG_KPROBES is not set")
}

/// Load (not attach) the smallest fentry program: the kernel decides at
/// load time whether it can build a trampoline.
fn fentry() -> Result<(), String> {
    use ntr_compiler::bpf::Insn;
    use ntr_compiler::elf::{self, ProgramDef};
    let insns = [Insn::mov_imm(0, 0), Insn::exit()];
    let bytes = elf::write(&[ProgramDef { section: "fentry/probe", symbol: "ntr_feature", insns: &insns, map_relocs: &[] }], &[], "GPL");
    use ntr_lang::kernel::KernelTypes;
    let kernel = ntr_lang::kernel::btf::KernelBtf::from_sys()?;
    let target = kernel.function("vfs_read").ok_or("no function vfs_read in the kernel's BTF")?;
    let mut ebpf = aya::EbpfLoader::new().btf(None).load(&bytes).map_err(|e| format!("cannot load a test program: {e}"))?;
    let prog: &mut aya::programs::FEntry = ebpf.program_mut("ntr_feature").ok_or("test program missing")?.try_into().map_err(|e| format!("{e}"))?;
    match prog.load_with_btf_id(target.btf_id) {
        Ok(()) => Ok(()),
        Err(aya::programs::ProgramError::LoadError { io_error, .. }) if io_error.raw_os_error() == Some(libc::EPERM) => {
            Err("the kernel refused to load an fentry program (EPERM): BPF trampolines are not available here".into())
        }
        Err(e) => Err(format!("loading an fentry program failed: {e}")),
    }
}
