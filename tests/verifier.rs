//! A verifier rejection is reported on the source expression that produced
//! the rejected instruction. ntr's compiler guards every read the verifier
//! would refuse, so the defect is made by hand: the NULL check ntr puts
//! before a read through a nullable tracepoint argument (`pi_task` of
//! sched_pi_setprio, a rejection ntr once produced) is turned into a jump,
//! and the real kernel verifier judges the result.

mod common;

use common::*;
use ntr_lang::check::{self, CheckOptions};
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::source::Sources;
use ntr_runtime::{RunOptions, RuntimeError};

const SCRIPT: &str = "on sched_pi_setprio {\n    printf(\"%d\\n\", pi_task.pid);\n}\n";

#[test]
fn a_rejected_instruction_maps_back_to_its_source_expression() {
    let _k = kernel_lock();
    let mut sources = Sources::new();
    let file = sources.add("pi.ntr", SCRIPT);
    let script = ntr_lang::syntax::parse(&sources, file).expect("parses");
    let kernel = KernelBtf::from_sys().expect("kernel BTF");
    let attach = ntr_runtime::features::Features::default();
    let program = check::check(&[&script], &kernel, &CheckOptions { params: &[], attach: &attach, host: None, cpid: None, snaplen: None }).expect("checks");
    let mut artifact = ntr_compiler::compile(&program).expect("compiles");

    // The guard: `if rN != 0 goto <read>`, in the span of `pi_task.pid`.
    let prog = &artifact.programs[0];
    let field = SCRIPT.find("pi_task.pid").unwrap() as u32;
    let guard = (0..prog.insns.len())
        .find(|&i| {
            let b = prog.insns[i].to_bytes();
            b[0] == 0x55 && b[4..8] == [0; 4] && prog.insn_spans[i].start == field
        })
        .expect("a NULL check on pi_task");
    let bytes = prog.insns[guard].to_bytes();
    let at = artifact.elf.windows(8).position(|w| w == bytes).expect("the guard in the ELF");
    assert_eq!(artifact.elf.windows(8).filter(|w| *w == bytes).count(), 1, "the guard's bytes are unique");
    artifact.elf[at] = 0x05; // ja: always take the read
    artifact.elf[at + 1] = 0; // with no registers

    let options = RunOptions {
        duration: Some(std::time::Duration::from_millis(100)),
        json: false,
        utc: false,
        verbose: false,
        pid: None,
        folded: None,
        flamegraph: None,
        buffer_bytes: None,
        map_size: None,
        metrics: None,
        command: None,
        pcap: None,
    };
    let err = ntr_runtime::run(&artifact, &options, &mut Vec::new()).expect_err("the verifier rejects the unguarded read");
    let RuntimeError::Verifier { insn: Some(insn), reason, .. } = err else { panic!("not a verifier rejection: {err:?}") };
    let span = artifact.programs[0].insn_spans[insn];
    assert_eq!(&SCRIPT[span.start as usize..span.end as usize], "pi_task.pid", "rejected instruction {insn}");
    assert!(reason.starts_with("reads through a pointer that may be NULL"), "{reason}");
    assert_nothing_left();
}
