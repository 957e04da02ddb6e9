//! Text → AST: the logos lexer, the lalrpop grammar, and syntax errors as
//! diagnostics.

mod habits;
pub mod lexer;
pub mod modules;

use lalrpop_util::{lalrpop_mod, ParseError};

use crate::ast::{Arg, BinOp, Expr, ExprKind, Ident, Script, Stmt, StmtKind, UnOp};
use crate::diag::Diagnostic;
use crate::source::{FileId, Sources, Span};
use lexer::{LexError, Lexer, Tok};

lalrpop_mod!(
    #[allow(clippy::all, unused_parens)]
    grammar,
    "/syntax/grammar.rs"
);

/// How deeply expressions and `if` blocks may nest. The checker and the
/// code generator recurse over the tree, so the parser refuses to build a
/// deeper one; scripts people write stay far below it.
pub const MAX_NESTING: u32 = 256;

type Parsed<T> = Result<T, ParseError<usize, Tok, LexError>>;

/// Refuse nesting beyond `MAX_NESTING`, pointing at `span`.
pub(crate) fn nested(what: &str, nesting: u32, span: Span) -> Parsed<u32> {
    if nesting <= MAX_NESTING {
        return Ok(nesting);
    }
    Err(ParseError::User {
        error: LexError {
            message: format!("{what} nests deeper than {MAX_NESTING} levels"),
            help: Some("split it up: give parts of it names with `let`".into()),
            start: span.start as usize,
            end: span.end as usize,
        },
    })
}

/// An expression with operands `inner` levels deep.
pub(crate) fn expr(kind: ExprKind, inner: u32, file: FileId, l: usize, r: usize) -> Parsed<Expr> {
    let span = Span::new(file, l, r);
    Ok(Expr { kind, span, nesting: nested("expression", inner + 1, span)? })
}

pub(crate) fn leaf(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span, nesting: 1 }
}

pub(crate) fn bin(op: BinOp, lhs: Expr, rhs: Expr, file: FileId, l: usize, r: usize) -> Parsed<Expr> {
    let inner = lhs.nesting.max(rhs.nesting);
    expr(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, inner, file, l, r)
}

pub(crate) fn un(op: UnOp, operand: Expr, file: FileId, l: usize, r: usize) -> Parsed<Expr> {
    let inner = operand.nesting;
    expr(ExprKind::Unary { op, operand: Box::new(operand) }, inner, file, l, r)
}

/// The deepest nesting among `exprs` (0 for none).
pub(crate) fn deepest<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> u32 {
    exprs.into_iter().map(|e| e.nesting).max().unwrap_or(0)
}

fn arg_expr(a: &Arg) -> &Expr {
    match a {
        Arg::Positional(e) | Arg::Named(_, e) => e,
    }
}

pub(crate) fn call(name: Ident, args: Vec<Arg>, file: FileId, l: usize, r: usize) -> Parsed<Expr> {
    let inner = deepest(args.iter().map(arg_expr));
    expr(ExprKind::Call { name, args }, inner, file, l, r)
}

/// `if cond { then } else { otherwise }`: one deeper than its condition and blocks.
pub(crate) fn if_stmt(cond: Expr, then: Vec<Stmt>, otherwise: Option<Vec<Stmt>>, file: FileId, l: usize, r: usize) -> Parsed<Stmt> {
    let span = Span::new(file, l, r);
    let blocks = then.iter().chain(otherwise.iter().flatten()).map(|s| s.nesting).max().unwrap_or(0);
    let nesting = nested("`if`", cond.nesting.max(blocks) + 1, span)?;
    Ok(Stmt { kind: StmtKind::If { cond, then, otherwise }, span, nesting })
}

/// Parse one file of `sources`.
pub fn parse(sources: &Sources, file: FileId) -> Result<Script, Diagnostic> {
    let text = sources.text(file);
    let items = grammar::ItemsParser::new().parse(file, Lexer::new(text)).map_err(|e| diagnostic(e, file, text))?;
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
        Tok::Const => "const",
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

/// Whether only a duration fits here (`every 1s`).
fn only_duration(expected: &[String]) -> bool {
    !expected.is_empty() && expected.iter().all(|e| e == "\"duration\"")
}

/// lalrpop's expected-terminal names, in words.
fn expected_words(expected: &[String]) -> String {
    if only_duration(expected) {
        return "a duration (`1s`, `500ms`)".into();
    }
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

fn diagnostic(e: ParseError<usize, Tok, LexError>, file: FileId, text: &str) -> Diagnostic {
    let len = text.len();
    if let ParseError::UnrecognizedToken { token: (l, tok, r), expected } = &e {
        let after_probe = expected.iter().any(|e| e == "\"if\"");
        if let Some(h) = habits::at_token(text, tok, *l, *r).filter(|_| after_probe || !matches!(tok, Tok::Slash)) {
            return Diagnostic::error(h.message, Span::new(file, h.start, h.end), "the habit of another tool").with_help(h.help);
        }
    }
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
            let d = Diagnostic::error(message, Span::new(file, l, r), format!("expected {words}"));
            match tok {
                Tok::Int(n) if only_duration(&expected) => d.with_help(format!("a duration needs a unit: `{n}s` (or ms, us, ns, m, h)")),
                _ => d,
            }
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
