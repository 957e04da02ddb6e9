//! Loading and attaching each program the way its probe asks, with errors
//! that say what the kernel lacks.

use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::{BtfTracePoint, FEntry, FExit, KProbe, PerfEvent, ProgramError, RawTracePoint, TracePoint, UProbe};
use aya::Ebpf;
use ntr_compiler::artifact::ProgramInfo;
use ntr_lang::tir::Attach;

use crate::RuntimeError;

/// Turn a load failure into a verifier or privilege error.
pub fn load_error(program: &ProgramInfo, e: ProgramError) -> RuntimeError {
    match e {
        ProgramError::LoadError { io_error, verifier_log } => {
            let log = verifier_log.to_string();
            if io_error.raw_os_error() == Some(libc::EPERM) && log.trim().is_empty() {
                return RuntimeError::Privileges {
                    message: format!("the kernel refused to load probe `{}` (EPERM): ntr needs root, or CAP_BPF and CAP_PERFMON", program.probe),
                };
            }
            let (insn, reason) = crate::verifier::explain(&log);
            RuntimeError::Verifier { program: program.symbol.clone(), insn, reason, log }
        }
        other => RuntimeError::Other(format!("cannot load probe `{}`: {other}", program.probe)),
    }
}

fn attach_error(program: &ProgramInfo, e: impl std::fmt::Display, hint: Option<&str>) -> RuntimeError {
    RuntimeError::Attach { probe: program.probe.clone(), message: e.to_string(), hint: hint.map(String::from) }
}

/// A uprobe that did not attach, with the file, the function, the tables
/// searched and the errno in words.
fn uprobe_error(program: &ProgramInfo, path: &str, symbol: &str, offset: u64, pid: Option<std::num::NonZeroU32>, e: ProgramError) -> RuntimeError {
    use aya::programs::uprobe::UProbeError;
    use ntr_lang::kernel::{elf_symbols, errno, ld_cache};
    // The file a library name stands for, as the check found it.
    let file = if path.contains('/') { Some(std::path::PathBuf::from(path)) } else { ld_cache::find(path).ok().flatten() };
    let shown = file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| path.to_string());
    let error = |message: String, hint: Option<String>| RuntimeError::Attach { probe: program.probe.clone(), message, hint };
    match e {
        ProgramError::UProbeError(UProbeError::SymbolError { error: cause, .. }) => {
            // Searched again, now that the attach failed, for the reason in words.
            let refusal = file.as_deref().map(|f| elf_symbols::check_uprobe(f, symbol, offset));
            match refusal {
                Some(Err(r)) => error(r.message + &r.note.map(|n| format!(" ({n})")).unwrap_or_default(), r.help),
                _ => error(format!("cannot find function `{symbol}` in `{shown}` (.dynsym, .symtab, .gnu_debuglink): {cause}"), None),
            }
        }
        ProgramError::UProbeError(UProbeError::InvalidTarget { .. }) => error(
            format!(
                "no library `{path}`: not in {}{}",
                ld_cache::PATH,
                pid.map(|p| format!(" nor among the files process {p} has mapped")).unwrap_or_default()
            ),
            Some("give the path of the executable or library".into()),
        ),
        ProgramError::UProbeError(UProbeError::InvalidLdSoCache { io_error }) => {
            error(format!("cannot read {} to find library `{path}`: {}", ld_cache::PATH, errno::describe(io_error)), None)
        }
        ProgramError::UProbeError(UProbeError::FileError { filename, io_error }) => {
            error(format!("cannot attach to `{symbol}` in `{shown}`: `{}`: {}", filename.display(), errno::describe(&io_error)), None)
        }
        ProgramError::SyscallError(aya::sys::SyscallError { call, io_error }) => {
            let hint = match io_error.raw_os_error() {
                Some(libc::EINVAL | libc::EILSEQ | 524 | libc::EOPNOTSUPP) => Some(format!(
                    "the offset must fall inside the file, at the start of an instruction the kernel can probe (`objdump -d {shown}` shows them)"
                )),
                Some(libc::EPERM | libc::EACCES) => Some("ntr needs root, or CAP_PERFMON".into()),
                _ => None,
            };
            error(format!("the kernel refused a uprobe on `{symbol}+{offset:#x}` in `{shown}` ({call}): {}", errno::describe(&io_error)), hint)
        }
        other => error(format!("cannot attach to `{symbol}` in `{shown}`: {other}"), None),
    }
}

/// Load `program`; attach it unless it is `begin`/`end` (run by test-run).
pub fn load_and_attach(ebpf: &mut Ebpf, program: &ProgramInfo, pid: Option<std::num::NonZeroU32>) -> Result<(), RuntimeError> {
    let missing = || RuntimeError::Other(format!("program {} missing from the object", program.symbol));
    let prog = ebpf.program_mut(&program.symbol).ok_or_else(missing)?;
    let wrong = |e: ProgramError| RuntimeError::Other(format!("program {}: {e}", program.symbol));
    match &program.attach {
        Attach::Begin | Attach::End => {
            let p: &mut RawTracePoint = prog.try_into().map_err(wrong)?;
            p.load().map_err(|e| load_error(program, e))?;
        }
        Attach::RawTracepoint { name } => {
            let p: &mut RawTracePoint = prog.try_into().map_err(wrong)?;
            p.load().map_err(|e| load_error(program, e))?;
            p.attach(name).map_err(|e| attach_error(program, e, None))?;
        }
        // The front end looked the BTF ids up in the kernel's mapped BTF:
        // aya need not parse it.
        Attach::TpBtf { btf_id, .. } => {
            let p: &mut BtfTracePoint = prog.try_into().map_err(wrong)?;
            p.load_with_btf_id(*btf_id).map_err(|e| load_error(program, e))?;
            p.attach().map_err(|e| attach_error(program, e, None))?;
        }
        Attach::Tracepoint { category, name } => {
            ntr_lang::kernel::tracefs::root().map_err(RuntimeError::Other)?;
            let p: &mut TracePoint = prog.try_into().map_err(wrong)?;
            p.load().map_err(|e| load_error(program, e))?;
            p.attach(category, name).map_err(|e| attach_error(program, e, None))?;
        }
        Attach::Every { period_ns } => {
            let p: &mut PerfEvent = prog.try_into().map_err(wrong)?;
            p.load().map_err(|e| load_error(program, e))?;
            let scope = PerfEventScope::AllProcessesOneCpu { cpu: 0 };
            p.attach(PerfEventConfig::Software(SoftwareEvent::CpuClock), scope, SamplePolicy::Period(*period_ns), false)
                .map_err(|e| attach_error(program, e, None))?;
        }
        Attach::Profile { hz } => {
            let p: &mut PerfEvent = prog.try_into().map_err(wrong)?;
            p.load().map_err(|e| load_error(program, e))?;
            let cpus = aya::util::online_cpus().map_err(|(_, e)| RuntimeError::Other(format!("cannot list CPUs: {e}")))?;
            for cpu in cpus {
                let scope = PerfEventScope::AllProcessesOneCpu { cpu };
                p.attach(PerfEventConfig::Software(SoftwareEvent::CpuClock), scope, SamplePolicy::Frequency(*hz), false)
                    .map_err(|e| attach_error(program, e, None))?;
            }
        }
        Attach::Kprobe { function, offset } => {
            let p: &mut KProbe = prog.try_into().map_err(wrong)?;
            p.load().map_err(|e| load_error(program, e))?;
            p.attach(function, *offset)
                .map_err(|e| attach_error(program, e, Some("this kernel may lack kprobes: try the tracepoint `kfree_skb`")))?;
        }
        Attach::Kretprobe { function } => {
            let p: &mut KProbe = prog.try_into().map_err(wrong)?;
            p.load().map_err(|e| load_error(program, e))?;
            p.attach(function, 0).map_err(|e| attach_error(program, e, None))?;
        }
        Attach::Fentry { btf_id, .. } => {
            let p: &mut FEntry = prog.try_into().map_err(wrong)?;
            p.load_with_btf_id(*btf_id).map_err(|e| load_error(program, e))?;
            p.attach().map_err(|e| attach_error(program, e, None))?;
        }
        Attach::Fexit { btf_id, .. } => {
            let p: &mut FExit = prog.try_into().map_err(wrong)?;
            p.load_with_btf_id(*btf_id).map_err(|e| load_error(program, e))?;
            p.attach().map_err(|e| attach_error(program, e, None))?;
        }
        Attach::Uprobe { path, symbol, offset, .. } => {
            let p: &mut UProbe = prog.try_into().map_err(wrong)?;
            p.load().map_err(|e| load_error(program, e))?;
            let location = aya::programs::uprobe::UProbeAttachLocation::SymbolOffset(symbol, *offset);
            let scope = match pid {
                Some(pid) => aya::programs::uprobe::UProbeScope::OneProcess(pid),
                None => aya::programs::uprobe::UProbeScope::AllProcesses,
            };
            p.attach(location, path, scope).map_err(|e| uprobe_error(program, path, symbol, *offset, pid, e))?;
        }
    }
    Ok(())
}

/// Threads detaching at once: each detach of a perf-event tracepoint waits
/// for an RCU grace period in the kernel, and waits on several threads
/// overlap (360 syscall tracepoints: 25 s one after the other).
const DETACH_THREADS: usize = 32;

/// Detach and unload every program of `ebpf`, on several threads when there
/// are many.
pub fn detach_all(mut ebpf: Ebpf, programs: &[ProgramInfo]) {
    let mut taken: Vec<aya::programs::Program> = programs.iter().filter_map(|p| ebpf.take_program(&p.symbol)).collect();
    if taken.len() <= 1 {
        return;
    }
    let per_thread = taken.len().div_ceil(DETACH_THREADS);
    std::thread::scope(|s| {
        while !taken.is_empty() {
            let chunk: Vec<_> = taken.drain(..per_thread.min(taken.len())).collect();
            s.spawn(move || drop(chunk));
        }
    });
}

/// Run a loaded `begin`/`end` program once.
pub fn test_run(ebpf: &Ebpf, program: &ProgramInfo) -> Result<(), RuntimeError> {
    use aya::programs::{RawTracePointRunOptions, TestRun};
    let prog = ebpf.program(&program.symbol).ok_or_else(|| RuntimeError::Other(format!("program {} missing", program.symbol)))?;
    let p: &RawTracePoint = prog.try_into().map_err(|e: ProgramError| RuntimeError::Other(e.to_string()))?;
    p.test_run(RawTracePointRunOptions::new()).map_err(|e| RuntimeError::Other(format!("running `{}` failed: {e}", program.probe)))?;
    Ok(())
}
