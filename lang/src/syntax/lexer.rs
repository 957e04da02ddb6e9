//! Tokens. A logos lexer does the work; this wrapper adds the one
//! context-sensitive rule: after `on` (and after each `,` of the probe list)
//! a probe spec is read raw up to whitespace, `,` or `{`, so specs such as
//! `uprobe:/usr/lib/libc.so.6:malloc` or `kprobe:f+0x10` need no quoting.

use logos::Logos;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    On,
    If,
    Else,
    Let,
    Param,
    Const,
    Fn,
    Use,
    Return,
    Begin,
    End,
    Every,
    True,
    False,
    Struct,
    Enum,
    IntType(String),
    Ident(String),
    /// `@name` (empty for `@`).
    Map(String),
    /// A probe spec as written.
    ProbeText(String),
    Int(u64),
    /// Nanoseconds.
    Duration(u64),
    Str(String),
    Ip(std::net::IpAddr),
    Cidr(std::net::IpAddr, u8),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Semi,
    Colon,
    Dot,
    Question,
    Assign,
    AddAssign,
    SubAssign,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Shl,
    Shr,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Tilde,
    Bang,
    AndAnd,
    OrOr,
}

/// A lexing error, with the byte range it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct LexError {
    pub message: String,
    pub help: Option<String>,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct RawError {
    message: String,
    help: Option<String>,
}

fn err(message: impl Into<String>, help: Option<&str>) -> RawError {
    RawError { message: message.into(), help: help.map(String::from) }
}

#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(error = RawError)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"(#|//)[^\n]*", allow_greedy = true))]
#[logos(skip r"/\*([^*]|\*+[^*/])*\*+/")]
enum Raw {
    #[token("on")]
    On,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("let")]
    Let,
    #[token("param")]
    Param,
    #[token("const")]
    Const,
    #[token("fn")]
    Fn,
    #[token("use")]
    Use,
    #[token("return")]
    Return,
    #[token("begin")]
    Begin,
    #[token("end")]
    End,
    #[token("every")]
    Every,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("struct")]
    Struct,
    #[token("enum")]
    Enum,
    /// Scalar type names: what may follow `(` in a cast.
    #[regex("[us](8|16|32|64)|addr|bool", |l| l.slice().to_string())]
    IntType(String),
    #[regex("[A-Za-z_][A-Za-z0-9_]*", |l| l.slice().to_string(), priority = 1)]
    Ident(String),
    #[regex("@[A-Za-z0-9_]*", |l| l.slice()[1..].to_string())]
    Map(String),
    /// Integers, hex integers and durations; sorted out in `number`.
    #[regex("[0-9][0-9A-Za-z_]*", number)]
    Number(Num),
    #[regex(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?", address)]
    #[regex(r"[0-9a-fA-F]*(:[0-9a-fA-F]*){2,7}(/[0-9]+)?", address)]
    Address((std::net::IpAddr, Option<u8>)),
    #[regex(r#""([^"\\\n]|\\.)*""#, string)]
    Str(String),
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token("?")]
    Question,
    #[token("=")]
    Assign,
    #[token("+=")]
    AddAssign,
    #[token("-=")]
    SubAssign,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("<<")]
    Shl,
    #[token(">>")]
    Shr,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("^")]
    Caret,
    #[token("~")]
    Tilde,
    #[token("!")]
    Bang,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
}

#[derive(Clone, Debug, PartialEq)]
enum Num {
    Int(u64),
    Duration(u64),
}

const UNITS: &str = "valid units: ns, us, ms, s, m, h";

fn number(lex: &mut logos::Lexer<Raw>) -> Result<Num, RawError> {
    let text = lex.slice().replace('_', "");
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).map(Num::Int).map_err(|_| err(format!("invalid hex number `{}`", lex.slice()), None));
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| err(format!("number `{digits}` is too large"), None))?;
    if unit.is_empty() {
        return Ok(Num::Int(n));
    }
    let scale = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "hz" => return Err(err("a rate is only valid in a probe: `profile:99hz`", None)),
        _ => {
            if let Some(message) = super::habits::exponent(lex.slice()) {
                return Err(err(message, None));
            }
            return Err(err(format!("unknown duration unit `{unit}`"), Some(UNITS)));
        }
    };
    n.checked_mul(scale).map(Num::Duration).ok_or_else(|| err("duration is too large", None))
}

fn address(lex: &mut logos::Lexer<Raw>) -> Result<(std::net::IpAddr, Option<u8>), RawError> {
    let text = lex.slice();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: std::net::IpAddr = addr.parse().map_err(|_| {
        let kind = if addr.contains(':') { "IPv6" } else { "IPv4" };
        err(format!("invalid {kind} address `{addr}`"), None)
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => Some(n),
            _ => {
                return Err(err(
                    format!("invalid prefix length `/{p}`"),
                    Some(if max == 32 { "IPv4 prefixes are 0 to 32" } else { "IPv6 prefixes are 0 to 128" }),
                ))
            }
        },
    };
    Ok((ip, prefix))
}

fn string(lex: &mut logos::Lexer<Raw>) -> Result<String, RawError> {
    let body = &lex.slice()[1..lex.slice().len() - 1];
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let b = u8::from_str_radix(&hex, 16).map_err(|_| err(format!("invalid escape `\\x{hex}`"), Some("write two hex digits: `\\x1b`")))?;
                out.push(b as char);
            }
            Some(other) => return Err(err(format!("unknown escape `\\{other}`"), Some("escapes: \\n \\t \\r \\0 \\\\ \\\" \\xNN"))),
            None => return Err(err("unterminated string", None)),
        }
    }
    Ok(out)
}

impl Raw {
    fn into_tok(self) -> Tok {
        match self {
            Raw::On => Tok::On,
            Raw::If => Tok::If,
            Raw::Else => Tok::Else,
            Raw::Let => Tok::Let,
            Raw::Param => Tok::Param,
            Raw::Const => Tok::Const,
            Raw::Fn => Tok::Fn,
            Raw::Use => Tok::Use,
            Raw::Return => Tok::Return,
            Raw::Begin => Tok::Begin,
            Raw::End => Tok::End,
            Raw::Every => Tok::Every,
            Raw::True => Tok::True,
            Raw::False => Tok::False,
            Raw::Struct => Tok::Struct,
            Raw::Enum => Tok::Enum,
            Raw::IntType(s) => Tok::IntType(s),
            Raw::Ident(s) => Tok::Ident(s),
            Raw::Map(s) => Tok::Map(s),
            Raw::Number(Num::Int(n)) => Tok::Int(n),
            Raw::Number(Num::Duration(n)) => Tok::Duration(n),
            Raw::Address((ip, None)) => Tok::Ip(ip),
            Raw::Address((ip, Some(p))) => Tok::Cidr(ip, p),
            Raw::Str(s) => Tok::Str(s),
            Raw::LBrace => Tok::LBrace,
            Raw::RBrace => Tok::RBrace,
            Raw::LParen => Tok::LParen,
            Raw::RParen => Tok::RParen,
            Raw::LBracket => Tok::LBracket,
            Raw::RBracket => Tok::RBracket,
            Raw::Comma => Tok::Comma,
            Raw::Semi => Tok::Semi,
            Raw::Colon => Tok::Colon,
            Raw::Dot => Tok::Dot,
            Raw::Question => Tok::Question,
            Raw::Assign => Tok::Assign,
            Raw::AddAssign => Tok::AddAssign,
            Raw::SubAssign => Tok::SubAssign,
            Raw::EqEq => Tok::EqEq,
            Raw::Ne => Tok::Ne,
            Raw::Lt => Tok::Lt,
            Raw::Le => Tok::Le,
            Raw::Gt => Tok::Gt,
            Raw::Ge => Tok::Ge,
            Raw::Shl => Tok::Shl,
            Raw::Shr => Tok::Shr,
            Raw::Plus => Tok::Plus,
            Raw::Minus => Tok::Minus,
            Raw::Star => Tok::Star,
            Raw::Slash => Tok::Slash,
            Raw::Percent => Tok::Percent,
            Raw::Amp => Tok::Amp,
            Raw::Pipe => Tok::Pipe,
            Raw::Caret => Tok::Caret,
            Raw::Tilde => Tok::Tilde,
            Raw::Bang => Tok::Bang,
            Raw::AndAnd => Tok::AndAnd,
            Raw::OrOr => Tok::OrOr,
        }
    }
}

/// The token stream lalrpop reads: `(start, token, end)` byte offsets.
pub struct Lexer<'s> {
    inner: logos::Lexer<'s, Raw>,
    /// Inside `on …` before `if`/`{`: the next spec is read raw.
    probe_list: bool,
    /// The next token is a probe spec (after `on` or a probe-list `,`).
    expect_spec: bool,
}

impl<'s> Lexer<'s> {
    pub fn new(text: &'s str) -> Lexer<'s> {
        Lexer { inner: Raw::lexer(text), probe_list: false, expect_spec: false }
    }

    /// Read a raw probe spec at the current position, if one starts here.
    fn probe_spec(&mut self) -> Option<(usize, Tok, usize)> {
        let rest = self.inner.remainder();
        let skip = rest.len() - rest.trim_start().len();
        let spec: &str = rest[skip..].split(|c: char| c.is_whitespace() || c == ',' || c == '{').next().unwrap_or("");
        if spec.is_empty() || matches!(spec, "every" | "if") {
            return None; // let the ordinary lexer report or handle it
        }
        let start = self.inner.span().end + skip;
        self.inner.bump(skip + spec.len());
        let tok = match spec {
            "begin" => Tok::Begin,
            "end" => Tok::End,
            _ => Tok::ProbeText(spec.to_string()),
        };
        Some((start, tok, start + spec.len()))
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<(usize, Tok, usize), LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.expect_spec {
            self.expect_spec = false;
            if let Some(spec) = self.probe_spec() {
                return Some(Ok(spec));
            }
        }
        let raw = self.inner.next()?;
        let span = self.inner.span();
        let tok = match raw {
            Ok(raw) => raw.into_tok(),
            Err(e) => {
                let mut error = LexError { message: e.message, help: e.help, start: span.start, end: span.end };
                if error.message.is_empty() {
                    if self.inner.slice().starts_with('"') {
                        error.message = "unterminated string".into();
                        error.help = Some("close it with `\"` on the same line".into());
                    } else if self.inner.slice() == "$" {
                        let habit = super::habits::dollar(self.inner.source(), span.start);
                        (error.message, error.help, error.end) = (habit.message, Some(habit.help), habit.end);
                    } else {
                        error.message = format!("unexpected character `{}`", self.inner.slice());
                    }
                }
                return Some(Err(error));
            }
        };
        match tok {
            Tok::On => {
                self.probe_list = true;
                self.expect_spec = true;
            }
            Tok::Comma if self.probe_list => self.expect_spec = true,
            Tok::If | Tok::LBrace => self.probe_list = false,
            _ => {}
        }
        Some(Ok((span.start, tok, span.end)))
    }
}

/// The `##` lines at the very top of a script (its help text).
pub fn doc_comment(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.trim_start().starts_with("##"))
        .map(|l| {
            let l = l.trim_start().trim_start_matches("##");
            l.strip_prefix(' ').unwrap_or(l)
        })
        .collect();
    if lines.is_empty() {
        None
    } else {
        Some(lines.join("\n").trim_end().to_string())
    }
}
