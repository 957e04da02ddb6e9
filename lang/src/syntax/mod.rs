//! Text → AST: the logos lexer, the lalrpop grammar, and syntax errors as
//! diagnostics.

pub mod lexer;
pub mod modules;

use lalrpop_util::{lalrpop_mod, ParseError};

use crate::ast::{BinOp, Expr, ExprKind, Script, UnOp};
use crate::diag::Diagnostic;
use crate::source::{FileId, Sources, Span};
use lexer::{LexError, Lexer, Tok};

lalrpop_mod!(
    #[allow(clippy::all, unused_parens)]
    grammar,
    "/syntax/grammar.rs"
);

pub(crate) fn bin(op: BinOp, lhs: Expr, rhs: Expr, file: FileId, l: usize, r: usize) -> Expr {
    Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span: Span::new(file, l, r) }
}

pub(crate) fn un(op: UnOp, operand: Expr, file: FileId, l: usize, r: usize) -> Expr {
    Expr { kind: ExprKind::Unary { op, operand: Box::new(operand) }, span: Span::new(file, l, r) }
}

/// Parse one file of `sources`.
pub fn parse(sources: &Sources, file: FileId) -> Result<Script, Diagnostic> {
    let text = sources.text(file);
    let items = grammar::ItemsParser::new().parse(file, Lexer::new(text)).map_err(|e| diagnostic(e, file, text.len()))?;
    Ok(Script { doc: lexer::doc_comment(text), items })
}

/// How a token is named in messages.
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::IntType(s) => format!("`{s}`"),
        Tok::Map(s) => format!("`@{s}`"),
        Tok::ProbeText(s) => format!("`{s}`"),
        Tok::Int(n) => format!("`{n}`"),
        Tok::Duration(_) => "a duration".into(),
        Tok::Str(_) => "a string".into(),
        Tok::Ip(ip) => format!("`{ip}`"),
        Tok::Cidr(ip, p) => format!("`{ip}/{p}`"),
        other => format!("`{}`", punct(other)),
    }
}

fn punct(tok: &Tok) -> &'static str {
    match tok {
        Tok::On => "on",
        Tok::If => "if",
        Tok::Else => "else",
        Tok::Let => "let",
        Tok::Param => "param",
        Tok::Fn => "fn",
        Tok::Use => "use",
        Tok::Return => "return",
        Tok::Begin => "begin",
        Tok::End => "end",
        Tok::Every => "every",
        Tok::True => "true",
        Tok::False => "false",
        Tok::Struct => "struct",
        Tok::Enum => "enum",
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::Comma => ",",
        Tok::Semi => ";",
        Tok::Colon => ":",
        Tok::Dot => ".",
        Tok::Question => "?",
        Tok::Assign => "=",
        Tok::AddAssign => "+=",
        Tok::SubAssign => "-=",
        Tok::EqEq => "==",
        Tok::Ne => "!=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Shl => "<<",
        Tok::Shr => ">>",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Amp => "&",
        Tok::Pipe => "|",
        Tok::Caret => "^",
        Tok::Tilde => "~",
        Tok::Bang => "!",
        Tok::AndAnd => "&&",
        Tok::OrOr => "||",
        _ => "token",
    }
}

/// lalrpop's expected-terminal names, in words.
fn expected_words(expected: &[String]) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut push = |w: String| {
        if !words.contains(&w) {
            words.push(w);
        }
    };
    let mut expression = false;
    for e in expected {
        let name = e.trim_matches('"');
        match name {
            "integer" | "duration" | "string" | "address" | "prefix" | "true" | "false" | "(" | "!" | "-" | "~" => expression = true,
            "identifier" => push("a name".into()),
            "map" => push("a map (`@name`)".into()),
            "probe" => push("a probe (e.g. `kfree_skb`)".into()),
            "int type" => push("a type".into()),
            other => push(format!("`{other}`")),
        }
    }
    if expression {
        words.insert(0, "an expression".into());
    }
    match words.len() {
        0 => "something else".into(),
        1 => words.remove(0),
        n if n <= 6 => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
        _ => format!("{}, …", words[..6].join(", ")),
    }
}

fn diagnostic(e: ParseError<usize, Tok, LexError>, file: FileId, len: usize) -> Diagnostic {
    match e {
        ParseError::InvalidToken { location } => Diagnostic::error("invalid token", Span::new(file, location, location + 1), "not understood"),
        ParseError::UnrecognizedEof { location, expected } => {
            let at = Span::new(file, location.min(len), len);
            let mut d = Diagnostic::error("unexpected end of the script", at, format!("expected {}", expected_words(&expected)));
            if expected.iter().any(|e| e == "\"}\"") {
                d = d.with_help("a `{` is not closed");
            }
            d
        }
        ParseError::UnrecognizedToken { token: (l, tok, r), expected } => {
            let words = expected_words(&expected);
            let message = if matches!(tok, Tok::LBrace) && expected.iter().any(|e| e == "\"probe\"") {
                "missing probe before `{`".to_string()
            } else {
                format!("unexpected {}", describe(&tok))
            };
            Diagnostic::error(message, Span::new(file, l, r), format!("expected {words}"))
        }
        ParseError::ExtraToken { token: (l, tok, r) } => {
            Diagnostic::error(format!("unexpected {}", describe(&tok)), Span::new(file, l, r), "extra token")
        }
        ParseError::User { error } => {
            let d = Diagnostic::error(error.message, Span::new(file, error.start, error.end.max(error.start + 1)), "here");
            match error.help {
                Some(h) => d.with_help(h),
                None => d,
            }
        }
    }
}
