//! Text shown on a terminal: control characters in it (ESC above all) drawn
//! as escapes (`\x1b`, `\u{9b}`), so text that came from elsewhere (a
//! process name, a file name, a script's source) cannot move the cursor,
//! recolour or retitle the terminal. Ordinary UTF-8 is left as it is.

use std::borrow::Cow;
use std::fmt::Write;

fn shown(c: char, keep: &[char]) -> bool {
    !c.is_control() || keep.contains(&c)
}

/// `s` with its control characters escaped, except those in `keep`.
pub fn escape<'a>(s: &'a str, keep: &[char]) -> Cow<'a, str> {
    if s.chars().all(|c| shown(c, keep)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if shown(c, keep) {
            out.push(c);
        } else if c.is_ascii() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Where byte `offset` of `s` lands in `escape(s, keep)`.
pub fn offset(s: &str, keep: &[char], offset: usize) -> usize {
    let mut boundary = offset.min(s.len());
    while !s.is_char_boundary(boundary) {
        boundary -= 1;
    }
    let grown: usize =
        s[..boundary].chars().filter(|c| !shown(*c, keep)).map(|c| escape(c.encode_utf8(&mut [0; 4]), keep).len() - c.len_utf8()).sum();
    offset + grown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_keeps_the_rest() {
        assert_eq!(escape("a\x1b[31mb", &[]), "a\\x1b[31mb");
        assert_eq!(escape("tab\tnl\n\u{7f}\u{9b}", &[]), "tab\\x09nl\\x0a\\x7f\\u{9b}");
        assert_eq!(escape("line\n\tnext", &['\n', '\t']), "line\n\tnext");
        assert!(matches!(escape("héllo wörld ✓", &[]), Cow::Borrowed(_)));
    }

    #[test]
    fn offsets_follow_the_escapes() {
        let s = "ab\x1bc\u{9b}d";
        let e = escape(s, &[]);
        for (i, c) in [(0, 'a'), (3, 'c'), (6, 'd')] {
            assert_eq!(e[offset(s, &[], i)..].chars().next(), Some(c), "{i}");
        }
        assert_eq!(offset(s, &[], s.len()), e.len());
    }
}
