//! Where a kernel stack starts: the frames between the traced code and the
//! program (the tracing machinery) depend on how the program is attached.

use ntr_lang::tir::Attach;

/// How `bpf_get_stackid` sees the machinery of one kind of probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machinery {
    /// Frames always there, skipped by the kernel (the program's own).
    pub skip: u8,
    /// Frames there may be after those (`bpf_trace_run4`, a `__traceiter_`
    /// when the tracepoint has several callbacks, a `perf_trace_` callback,
    /// a trampoline): taken too, and dropped by name when printed, so
    /// `kstack(N)` still has N frames of the traced code.
    pub slack: u8,
}

/// The machinery of a probe attached by `attach`.
pub fn machinery(attach: &Attach) -> Machinery {
    match attach {
        // Perf events hand over the sampled registers: the first frame is
        // the code that was running. Kprobes hand over the probed
        // function's, uprobes user registers (no kernel frames).
        Attach::Every { .. } | Attach::Profile { .. } | Attach::Kprobe { .. } | Attach::Kretprobe { .. } | Attach::Uprobe { .. } => {
            Machinery { skip: 0, slack: 0 }
        }
        // The registers the perf callback (`perf_syscall_enter`,
        // `perf_trace_*`) saved: it is the first frame.
        Attach::Tracepoint { .. } => Machinery { skip: 0, slack: 3 },
        // The program's own frame, then the tracepoint's (or trampoline's).
        Attach::TpBtf { .. } | Attach::RawTracepoint { .. } | Attach::Fentry { .. } | Attach::Fexit { .. } | Attach::Begin | Attach::End => {
            Machinery { skip: 1, slack: 3 }
        }
    }
}
