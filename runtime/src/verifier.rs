//! The verifier's log, made useful: the instruction it stopped at and its
//! complaint in plain words.

/// (failing instruction index, plain-words reason) from a verifier log.
pub fn explain(log: &str) -> (Option<usize>, String) {
    let lines: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // The complaint is the last line that is neither statistics nor an
    // instruction or state dump.
    let complaint = lines
        .iter()
        .rev()
        .find(|l| {
            !l.starts_with("processed ")
                && !l.starts_with("verification time")
                && !l.starts_with("stack depth")
                && !is_insn(l)
                && !l.starts_with(';')
                && !l.starts_with("from ")
        })
        .copied()
        .unwrap_or("");
    let at = lines.iter().position(|l| *l == complaint).unwrap_or(lines.len());
    let insn = lines[..at].iter().rev().find(|l| is_insn(l)).and_then(|l| l.split(':').next()?.trim().parse().ok());
    (insn, plain(complaint))
}

/// `12: (79) r1 = *(u64 *)(r6 +0)`
fn is_insn(line: &str) -> bool {
    let Some((n, rest)) = line.split_once(':') else { return false };
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && rest.trim_start().starts_with('(')
}

fn plain(complaint: &str) -> String {
    let c = complaint;
    let why = if c.contains("invalid mem access 'scalar'") {
        "reads memory through a value that is not a known pointer"
    } else if c.contains("unbounded min value") || c.contains("unbounded memory access") {
        "uses an offset or size the kernel cannot prove is in bounds"
    } else if c.contains("invalid write to stack") || c.contains("invalid read from stack") {
        "reads or writes outside the 512-byte BPF stack"
    } else if c.contains("misaligned stack access") {
        "accesses the stack at a misaligned offset"
    } else if c.contains("Unreleased reference") {
        "keeps a kernel reference it never releases"
    } else if c.contains("infinite loop") || c.contains("back-edge") {
        "contains a loop the kernel cannot prove ends"
    } else if c.contains("!read_ok") {
        "uses a register that holds no value at this point"
    } else if c.contains("too large") || c.contains("too complex") || c.contains("jumps is too complex") {
        "is too complex for the kernel to verify (too many paths)"
    } else if c.contains("invalid access to map value") {
        "reads or writes past the end of a map value"
    } else if c.contains("map_value_or_null") {
        "uses a map value without checking it exists"
    } else if c.contains("_or_null") {
        "reads through a pointer that may be NULL without checking it"
    } else if c.contains("permission denied") || c.contains("unknown func") {
        "calls a kernel helper this program type may not use"
    } else {
        return format!("the verifier says: {c}");
    };
    format!("{why} (verifier: {c})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_failing_instruction_and_explains_it() {
        let log = "func#0 @0\n0: R1=ctx() R10=fp0\n0: (bf) r6 = r1\n1: (79) r1 = *(u64 *)(r6 +0)\n2: (61) r2 = *(u32 *)(r1 +0)\nR1 invalid mem access 'scalar'\nprocessed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        let (insn, why) = explain(log);
        assert_eq!(insn, Some(2));
        assert!(why.starts_with("reads memory through a value that is not a known pointer"), "{why}");
    }

    #[test]
    fn unknown_complaints_are_quoted() {
        let (insn, why) = explain("0: (95) exit\nsomething new\n");
        assert_eq!(insn, Some(0));
        assert_eq!(why, "the verifier says: something new");
    }
}
