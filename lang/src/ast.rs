//! Syntax tree of a `.ntr` script, as the parser builds it. Every node carries
//! the span of the source it came from so later stages can point at it.

use crate::source::Span;

#[derive(Clone, Debug)]
pub struct Script {
    /// `##` lines at the top of the script: its help text.
    pub doc: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug)]
pub enum Item {
    Probe(ProbeBlock),
    Param(ParamDecl),
    Const(ConstDecl),
    Fn(FnDecl),
    Use(UseDecl),
}

/// `on PROBE[, PROBE…] [if EXPR] { … }`
#[derive(Clone, Debug)]
pub struct ProbeBlock {
    pub probes: Vec<ProbeSpec>,
    pub predicate: Option<Expr>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ProbeSpecKind {
    Begin,
    End,
    /// `every 1s`: nanoseconds.
    Every(u64),
    /// Anything else, as written: `kfree_skb`, `skb:kfree_skb`,
    /// `tracepoint:skb:kfree_skb`, `kprobe:nf_hook_slow+0x10`,
    /// `uprobe:/usr/bin/x:main`, `profile:99hz`. Resolved against the kernel
    /// by the checker.
    Named(String),
}

#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub kind: ProbeSpecKind,
    pub span: Span,
}

/// `param NAME: TYPE = DEFAULT`
#[derive(Clone, Debug)]
pub struct ParamDecl {
    pub name: Ident,
    pub ty: TypeName,
    pub default: Expr,
    pub span: Span,
}

/// `const NAME = VALUE`: a name for a number (`const AF_INET6 = 10`), as
/// C headers' `#define`s, which BTF does not carry.
#[derive(Clone, Debug)]
pub struct ConstDecl {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `fn NAME(a, b: u32) { … }`: inlined at each call.
#[derive(Clone, Debug)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<(Ident, Option<TypeName>)>,
    pub body: Block,
    pub span: Span,
}

/// `use NAME` (a stdlib module) or `use "path.ntr"` (relative to the script).
#[derive(Clone, Debug)]
pub struct UseDecl {
    pub target: UseTarget,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum UseTarget {
    Module(String),
    File(String),
}

#[derive(Clone, Debug)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A type as written in `param` declarations, fn parameters and casts.
#[derive(Clone, Debug)]
pub enum TypeNameKind {
    /// `u8 … u64`, `s8 … s64`, `int` (= s64), `bool`, `str`, `duration`,
    /// `ip`, `cidr`, `addr`.
    Named(String),
    /// `enum NAME` (a kernel enum from BTF).
    Enum(String),
    /// `enum NAME[]`: a set of the enum's values, bit N for value N.
    EnumSet(String),
    /// `struct NAME *` (a kernel struct pointer from BTF).
    StructPtr(String),
}

#[derive(Clone, Debug)]
pub struct TypeName {
    pub kind: TypeNameKind,
    pub span: Span,
}

pub type Block = Vec<Stmt>;

#[derive(Clone, Debug)]
pub enum AssignOp {
    Set,
    Add,
    Sub,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    Let {
        name: Ident,
        value: Expr,
    },
    /// `x = e`, `x += e` on a local.
    Assign {
        name: Ident,
        op: AssignOp,
        value: Expr,
    },
    /// `@m[k…] = e`, `@m = count()`, `@m[k] += e`.
    MapAssign {
        map: MapRef,
        op: AssignOp,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Block,
        otherwise: Option<Block>,
    },
    Return(Option<Expr>),
    Expr(Expr),
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
    /// How deeply the statement nests: its deepest expression, plus one per
    /// enclosing `if` inside it. At most `syntax::MAX_NESTING`.
    pub nesting: u32,
}

/// `@name` or `@name[k1, k2]`; `@` alone is the anonymous map `@`.
#[derive(Clone, Debug)]
pub struct MapRef {
    pub name: String,
    pub keys: Vec<Expr>,
    /// The metrics label each key was named with (`site = sym(location)`).
    pub labels: Vec<Option<Ident>>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
    BitNot,
    /// `*p`: the value a typed pointer points to.
    Deref,
}

#[derive(Clone, Debug)]
pub enum Arg {
    Positional(Expr),
    /// `name=value`, as in `tuple(dport=9418)`.
    Named(Ident, Expr),
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Int(u64),
    Str(String),
    Bool(bool),
    /// Nanoseconds.
    Duration(u64),
    Ip(std::net::IpAddr),
    Cidr(std::net::IpAddr, u8),
    Ident(String),
    Field {
        base: Box<Expr>,
        field: Ident,
    },
    Map(MapRef),
    Call {
        name: Ident,
        args: Vec<Arg>,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Cast {
        ty: TypeName,
        operand: Box<Expr>,
    },
    Cond {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// How deeply the expression nests as written: 1 for a leaf, one more
    /// than its deepest operand (parentheses count). At most
    /// `syntax::MAX_NESTING`: the parser never builds a deeper tree, so
    /// walking and dropping one cannot exhaust the stack.
    pub nesting: u32,
}
