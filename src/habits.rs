//! Command lines written for bpftrace: on the flags ntr spells otherwise,
//! the error names the ntr spelling instead of clap's "unexpected argument".

/// What to say for a bpftrace flag in `args` (the arguments after `ntr`),
/// looked at when clap refused them, and for `-f json` always (`-f` is a
/// tcpdump filter in ntr, and `json` would be a filter that matches
/// nothing).
pub fn hint(args: &[String], clap_refused: bool) -> Option<String> {
    let subcommand = args.first().map(String::as_str).filter(|a| !a.starts_with('-'));
    for (i, arg) in args.iter().enumerate() {
        let next = args.get(i + 1).map(String::as_str);
        let format = arg.strip_prefix("-f").map(|f| if f.is_empty() { next.unwrap_or("") } else { f });
        if let Some(fmt @ ("json" | "text")) = format {
            let how = if fmt == "json" { "--json" } else { "no flag (text is the default)" };
            return Some(format!("`-f {fmt}` is bpftrace's output format; in ntr use {how} (`-f` takes a tcpdump filter)"));
        }
        if !clap_refused {
            continue;
        }
        match arg.as_str() {
            "-l" => {
                let pattern = next.filter(|n| !n.starts_with('-')).unwrap_or("PATTERN");
                return Some(format!("`-l` is bpftrace's; ntr lists probes with `ntr list '{pattern}'`"));
            }
            "-o" if subcommand != Some("compile") => {
                return Some("`-o FILE` is bpftrace's; ntr prints to standard output: redirect it (`> FILE`), or write stacks with --folded FILE / --flamegraph FILE.svg".into());
            }
            "-p" | "--param" if next.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) => {
                let pid = next.unwrap_or_default();
                return Some(format!(
                    "`-p` sets a script parameter (NAME=VALUE); for bpftrace's `-p {pid}`, use `--pid {pid}` (uprobes fire only in that process) or `if pid == {pid}` in the script"
                ));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::hint;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn bpftrace_flags_get_the_ntr_spelling() {
        assert!(hint(&words("-l tracepoint:skb:*"), true).unwrap().contains("ntr list 'tracepoint:skb:*'"));
        assert!(hint(&words("run dropwatch -f json"), false).unwrap().contains("--json"));
        assert!(hint(&words("-fjson -e x"), false).unwrap().contains("--json"));
        assert!(hint(&words("-p 1234 -e x"), true).unwrap().contains("--pid 1234"));
        assert!(hint(&words("-o out.txt -e x"), true).unwrap().contains("redirect"));
    }

    #[test]
    fn ntr_spellings_are_left_alone() {
        assert_eq!(hint(&words("compile x.ntr -o x.o"), true), None);
        assert_eq!(hint(&words("run dropwatch -p port=9418"), true), None);
        assert_eq!(hint(&words("run dropwatch -f udp"), false), None);
    }
}
