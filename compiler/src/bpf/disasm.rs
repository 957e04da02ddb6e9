//! Readable instructions, in the style of `bpftool prog dump`.

use super::*;

fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        W => "u32",
        H => "u16",
        B => "u8",
        _ => "u64",
    }
}

fn alu_op(op: u8) -> &'static str {
    match op {
        ADD => "+=",
        SUB => "-=",
        MUL => "*=",
        DIV => "/=",
        OR => "|=",
        AND => "&=",
        LSH => "<<=",
        RSH => ">>=",
        MOD => "%=",
        XOR => "^=",
        MOV => "=",
        ARSH => "s>>=",
        _ => "?=",
    }
}

fn jmp_op(op: u8) -> &'static str {
    match op {
        JEQ => "==",
        JGT => ">",
        JGE => ">=",
        JSET => "&",
        JNE => "!=",
        JSGT => "s>",
        JSGE => "s>=",
        JLT => "<",
        JLE => "<=",
        JSLT => "s<",
        JSLE => "s<=",
        _ => "?",
    }
}

/// One line per slot; the second slot of an ld_imm64 is an empty line.
/// `maps` names the map each relocated ld_imm64 loads (slot → symbol).
pub fn disasm_with_maps(insns: &[Insn], maps: &[(usize, String)]) -> Vec<String> {
    let mut out = Vec::with_capacity(insns.len());
    let mut i = 0;
    while i < insns.len() {
        let n = insns[i];
        let class = n.code & 0x07;
        let text = match class {
            LD if n.is_ld_imm64() => {
                let hi = insns.get(i + 1).map(|h| h.imm as u32 as u64).unwrap_or(0);
                let imm = (n.imm as u32 as u64) | (hi << 32);
                let line = match maps.iter().find(|(s, _)| *s == i) {
                    Some((_, m)) => format!("r{} = map[{m}] ll", n.dst),
                    None => format!("r{} = {imm:#x} ll", n.dst),
                };
                out.push(line);
                out.push(String::new());
                i += 2;
                continue;
            }
            LDX => format!("r{} = *({} *)(r{} {:+})", n.dst, size_name(n.code), n.src, n.off),
            ST => format!("*({} *)(r{} {:+}) = {}", size_name(n.code), n.dst, n.off, n.imm),
            STX if n.code & 0xe0 == ATOMIC => format!("lock *({} *)(r{} {:+}) += r{}", size_name(n.code), n.dst, n.off, n.src),
            STX => format!("*({} *)(r{} {:+}) = r{}", size_name(n.code), n.dst, n.off, n.src),
            ALU64 => {
                let op = n.code & 0xf0;
                let signed = if n.off == 1 && (op == DIV || op == MOD) { "s" } else { "" };
                if op == NEG {
                    format!("r{} = -r{}", n.dst, n.dst)
                } else if n.code & X != 0 {
                    format!("r{} {signed}{} r{}", n.dst, alu_op(op), n.src)
                } else {
                    format!("r{} {signed}{} {}", n.dst, alu_op(op), n.imm)
                }
            }
            JMP => match n.code & 0xf0 {
                JA => format!("goto {:+}", n.off),
                CALL => format!("call {}", helpers::name(n.imm as u32)),
                EXIT => "exit".to_string(),
                op if n.code & X != 0 => format!("if r{} {} r{} goto {:+}", n.dst, jmp_op(op), n.src, n.off),
                op => format!("if r{} {} {:#x} goto {:+}", n.dst, jmp_op(op), n.imm, n.off),
            },
            _ => format!("(unknown {:#04x})", n.code),
        };
        out.push(text);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_bpftool() {
        let mut prog = vec![Insn::load(W, 1, 6, 8), Insn::alu_imm(ADD, 1, 5), Insn::jump_imm(JEQ, 0, 0, 2), Insn::call(1)];
        prog.extend(Insn::ld_imm64(2, 0, 0));
        prog.push(Insn::exit());
        let lines = disasm_with_maps(&prog, &[(4, "ntr_m0".into())]);
        assert_eq!(lines[0], "r1 = *(u32 *)(r6 +8)");
        assert_eq!(lines[1], "r1 += 5");
        assert_eq!(lines[2], "if r0 == 0x0 goto +2");
        assert_eq!(lines[3], "call bpf_map_lookup_elem");
        assert_eq!(lines[4], "r2 = map[ntr_m0] ll");
        assert_eq!(lines[5], "");
        assert_eq!(lines[6], "exit");
    }
}
