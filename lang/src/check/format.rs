//! printf format strings: `%d %i %u %x %X %s %p %c %r` with flags, width
//! and precision, `%%`.

use crate::tir::FmtPiece;

/// Split a format into literal text and conversions. Errors name the
/// offending conversion.
pub(crate) fn parse(fmt: &str) -> Result<Vec<FmtPiece>, String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            lit.push('%');
            continue;
        }
        let mut spec = String::new();
        while let Some(&f) = chars.peek() {
            if "-+ 0#.".contains(f) || f.is_ascii_digit() {
                spec.push(f);
                chars.next();
            } else {
                break;
            }
        }
        // Length modifiers (`%lu`, `%llx`) are accepted and ignored: values are 64-bit.
        while chars.peek().is_some_and(|c| matches!(c, 'l' | 'h' | 'z')) {
            chars.next();
        }
        let conv = match chars.next() {
            Some(c @ ('d' | 'i' | 'u' | 'x' | 'X' | 's' | 'p' | 'c' | 'r')) => c,
            Some(other) => return Err(format!("unknown conversion `%{spec}{other}`: use %d %u %x %s %p %c %r")),
            None => return Err("the format ends in the middle of a conversion".into()),
        };
        if !lit.is_empty() {
            pieces.push(FmtPiece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(FmtPiece::Arg { conv, spec });
    }
    if !lit.is_empty() {
        pieces.push(FmtPiece::Lit(lit));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_literals_and_conversions() {
        let p = parse("drop %-8s at %p: %lu%%\n").unwrap();
        assert_eq!(
            p,
            vec![
                FmtPiece::Lit("drop ".into()),
                FmtPiece::Arg { conv: 's', spec: "-8".into() },
                FmtPiece::Lit(" at ".into()),
                FmtPiece::Arg { conv: 'p', spec: String::new() },
                FmtPiece::Lit(": ".into()),
                FmtPiece::Arg { conv: 'u', spec: String::new() },
                FmtPiece::Lit("%\n".into()),
            ]
        );
    }

    #[test]
    fn rejects_unknown_conversions() {
        assert!(parse("%q").unwrap_err().contains("%q"));
        assert!(parse("abc %").is_err());
    }
}
