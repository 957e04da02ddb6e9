//! Fail fast on a probe too large for one BPF program, before register
//! allocation: every instruction and jump is measured at the fewest BPF
//! instructions it can encode to (spill code only adds), so a bound broken
//! here is broken by the final program too.

use ntr_lang::source::Span;

use crate::encode::{order, BackendError};
use crate::ir::{Function, Inst, Operand, Terminator};

/// The most instructions the kernel loads in one program (for root:
/// `BPF_COMPLEXITY_LIMIT_INSNS`).
pub const MAX_INSNS: u64 = 1_000_000;
/// The farthest a BPF jump reaches (16-bit offsets).
const MAX_JUMP: u64 = i16::MAX as u64;

/// The fewest BPF instructions `inst` encodes to.
fn min_size(inst: &Inst) -> u64 {
    match inst {
        // Elided when source and destination share a register.
        Inst::Ctx { .. } | Inst::Mov { src: Operand::Reg(_), .. } => 0,
        Inst::LoadImm64 { .. } | Inst::LoadMap { .. } | Inst::StackAddr { .. } => 2,
        _ => 1,
    }
}

fn too_large(span: Span, label: String) -> BackendError {
    BackendError::TooLarge { span, label }
}

/// Check `f` (after dead code is gone) against the kernel's size and jump
/// limits, laid out in the encoder's block order.
pub fn check(f: &Function) -> Result<(), BackendError> {
    let order = order(f);
    let mut start = vec![0u64; f.blocks.len()];
    // (position of a jump, target block, span)
    let mut jumps = Vec::new();
    let mut pos = 0u64;
    for (i, &b) in order.iter().enumerate() {
        start[b] = pos;
        let next = order.get(i + 1).copied();
        let block = &f.blocks[b];
        for (inst, span) in &block.insts {
            pos += min_size(inst);
            if pos > MAX_INSNS {
                return Err(too_large(*span, format!("over {MAX_INSNS} instructions by here, the most the kernel loads")));
            }
        }
        let span = block.term.1;
        match &block.term.0 {
            Terminator::Jump(t) => {
                if next != Some(*t) {
                    jumps.push((pos, *t, span));
                    pos += 1;
                }
            }
            Terminator::Branch { then, otherwise, .. } => {
                // The encoder flips the condition to fall through to the next
                // block; the jump then targets the other side.
                let (then, otherwise) = if next == Some(*then) { (*otherwise, *then) } else { (*then, *otherwise) };
                jumps.push((pos, then, span));
                pos += 1;
                if next != Some(otherwise) {
                    jumps.push((pos, otherwise, span));
                    pos += 1;
                }
            }
            Terminator::Exit { value } => pos += 1 + matches!(value, Operand::Imm(_)) as u64,
        }
    }
    for (at, target, span) in jumps {
        let distance = start[target].abs_diff(at + 1);
        if distance > MAX_JUMP {
            return Err(too_large(span, format!("this jump spans at least {distance} instructions; BPF jumps reach {MAX_JUMP}")));
        }
    }
    Ok(())
}
