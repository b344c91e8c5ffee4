//! The parser of C litmus tests, in the kernel's format (`tools/memory-model/litmus-tests/`):
//! the header line `C NAME`, comments, the init block, threads `P0..Pn` as C functions over the
//! kernel's primitives, then `locations`, `filter` and the final condition.

use super::ast::{
    Atom, BinOp, Expr, Ins, Litmus, Observation, Prop, Quantifier, ReadKind, Stated, Thread, Value,
    WriteKind,
};
use crate::lkmm::{Rmw, RmwOrder};
use emm_proofs::Barrier;
use std::fmt;

/// A parse error, at a line and column of the file (both from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Num(i64),
    /// Punctuation, including the two-character operators and `/\`, `\/`.
    Punct(&'static str),
    Str,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
    column: usize,
}

const PUNCTS: [&str; 29] = [
    "/\\", "\\/", "==", "!=", "<=", ">=", "&&", "||", "->", "(", ")", "{", "}", "[", "]", ";", ",",
    "*", "&", "=", "<", ">", "+", "-", "!", ":", "~", "|", "^",
];

/// Splits `text` into tokens, dropping `(* *)`, `/* */` and `//` comments and `"..."` strings
/// (herd's documentation strings).
fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line, mut column) = (0, 1, 1);
    let mut out = Vec::new();
    let advance = |i: &mut usize, line: &mut usize, column: &mut usize, n: usize| {
        for _ in 0..n {
            if chars[*i] == '\n' {
                *line += 1;
                *column = 1;
            } else {
                *column += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut column, 1);
        } else if (rest == "(*"
            // herd's comments; `(*p` is C's dereference
            && chars.get(i + 2).is_none_or(|c| c.is_whitespace() || *c == '*'))
            || rest == "/*"
        {
            let close = if rest == "(*" { "*)" } else { "*/" };
            let (l, col) = (line, column);
            advance(&mut i, &mut line, &mut column, 2);
            loop {
                if i + 1 >= chars.len() {
                    return Err(ParseError {
                        line: l,
                        column: col,
                        message: "comment not closed".into(),
                    });
                }
                if chars[i] == close.as_bytes()[0] as char
                    && chars[i + 1] == close.as_bytes()[1] as char
                {
                    advance(&mut i, &mut line, &mut column, 2);
                    break;
                }
                advance(&mut i, &mut line, &mut column, 1);
            }
        } else if rest == "//" {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut column, 1);
            }
        } else if c == '"' {
            let (l, col) = (line, column);
            advance(&mut i, &mut line, &mut column, 1);
            while i < chars.len() && chars[i] != '"' {
                advance(&mut i, &mut line, &mut column, 1);
            }
            if i >= chars.len() {
                return Err(ParseError {
                    line: l,
                    column: col,
                    message: "string not closed".into(),
                });
            }
            advance(&mut i, &mut line, &mut column, 1);
            out.push(Token {
                tok: Tok::Str,
                line: l,
                column: col,
            });
        } else if c.is_ascii_alphabetic() || c == '_' {
            let (l, col, start) = (line, column, i);
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                advance(&mut i, &mut line, &mut column, 1);
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                line: l,
                column: col,
            });
        } else if c.is_ascii_digit() {
            let (l, col, start) = (line, column, i);
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                advance(&mut i, &mut line, &mut column, 1);
            }
            let text: String = chars[start..i].iter().collect();
            let value = if let Some(hex) = text.strip_prefix("0x") {
                i64::from_str_radix(hex, 16).ok()
            } else {
                text.parse().ok()
            };
            let Some(value) = value else {
                return Err(ParseError {
                    line: l,
                    column: col,
                    message: format!("`{text}` is not a number"),
                });
            };
            out.push(Token {
                tok: Tok::Num(value),
                line: l,
                column: col,
            });
        } else if let Some(p) = PUNCTS.iter().find(|p| {
            let n = p.chars().count();
            chars[i..].iter().take(n).copied().eq(p.chars())
        }) {
            out.push(Token {
                tok: Tok::Punct(p),
                line,
                column,
            });
            advance(&mut i, &mut line, &mut column, p.chars().count());
        } else {
            return Err(ParseError {
                line,
                column,
                message: format!("unexpected character `{c}`"),
            });
        }
    }
    Ok(out)
}

/// The `Result:` a test's comment states (`Result: Never`), if any.
fn stated_result(text: &str) -> Option<Stated> {
    let at = text.find("Result:")?;
    let word = text[at + "Result:".len()..].split_whitespace().next()?;
    match word {
        "Never" => Some(Stated::Observation(Observation::Never)),
        "Sometimes" => Some(Stated::Observation(Observation::Sometimes)),
        "Always" => Some(Stated::Observation(Observation::Always)),
        "DEADLOCK" => Some(Stated::Deadlock),
        _ => None,
    }
}

/// Type words that may precede a declared name.
const TYPE_WORDS: [&str; 12] = [
    "int",
    "long",
    "unsigned",
    "short",
    "char",
    "atomic_t",
    "atomic_long_t",
    "spinlock_t",
    "struct",
    "srcu_struct",
    "intptr_t",
    "const",
];

struct Parser {
    toks: Vec<Token>,
    at: usize,
    /// The end of the file, for errors there.
    end: (usize, usize),
    locations: Vec<String>,
    initial: Vec<Value>,
}

/// How a primitive call is compiled; the `bool` of a read or write says whether its pointer
/// argument is written `*p` (`READ_ONCE(*p)`) rather than `p` (`smp_load_acquire(p)`).
enum Call {
    Read(ReadKind, bool),
    Write(WriteKind, bool),
    Rmw {
        kind: RmwKind,
        order: RmwOrder,
        returns_new: bool,
    },
}

#[derive(Clone, Copy)]
enum RmwKind {
    Inc,
    Dec,
    Add,
    Sub,
    Xchg,
    Cmpxchg,
    AddUnless,
    IncNotZero,
}

/// The primitive named `name` that reads, writes or read-modify-writes a location.
fn call_of(name: &str) -> Option<Call> {
    match name {
        "READ_ONCE" => return Some(Call::Read(ReadKind::Once, true)),
        "rcu_dereference" | "srcu_dereference" | "rcu_dereference_raw" => {
            return Some(Call::Read(ReadKind::Acquire, true))
        }
        "smp_load_acquire" | "atomic_read_acquire" => {
            return Some(Call::Read(ReadKind::Acquire, false))
        }
        "atomic_read" | "atomic_long_read" => return Some(Call::Read(ReadKind::Once, false)),
        "WRITE_ONCE" => return Some(Call::Write(WriteKind::Once, true)),
        "rcu_assign_pointer" => return Some(Call::Write(WriteKind::Release, true)),
        "smp_store_release" | "atomic_set_release" => {
            return Some(Call::Write(WriteKind::Release, false))
        }
        "atomic_set" | "atomic_long_set" => return Some(Call::Write(WriteKind::Once, false)),
        _ => {}
    }
    let (base, order) = [
        ("_relaxed", RmwOrder::Relaxed),
        ("_acquire", RmwOrder::Acquire),
        ("_release", RmwOrder::Release),
    ]
    .iter()
    .find_map(|(suffix, order)| name.strip_suffix(suffix).map(|b| (b, Some(*order))))
    .unwrap_or((name, None));
    let full = order.unwrap_or(RmwOrder::Full);
    let (kind, order, returns_new) = match base {
        "atomic_inc" => (RmwKind::Inc, order.unwrap_or(RmwOrder::Relaxed), false),
        "atomic_dec" => (RmwKind::Dec, order.unwrap_or(RmwOrder::Relaxed), false),
        "atomic_add" => (RmwKind::Add, order.unwrap_or(RmwOrder::Relaxed), false),
        "atomic_sub" => (RmwKind::Sub, order.unwrap_or(RmwOrder::Relaxed), false),
        "atomic_inc_return" => (RmwKind::Inc, full, true),
        "atomic_dec_return" => (RmwKind::Dec, full, true),
        "atomic_add_return" => (RmwKind::Add, full, true),
        "atomic_sub_return" => (RmwKind::Sub, full, true),
        "atomic_fetch_inc" => (RmwKind::Inc, full, false),
        "atomic_fetch_dec" => (RmwKind::Dec, full, false),
        "atomic_fetch_add" => (RmwKind::Add, full, false),
        "atomic_fetch_sub" => (RmwKind::Sub, full, false),
        "xchg" | "atomic_xchg" => (RmwKind::Xchg, full, false),
        "cmpxchg" | "atomic_cmpxchg" => (RmwKind::Cmpxchg, full, false),
        "atomic_add_unless" => (RmwKind::AddUnless, full, false),
        "atomic_inc_not_zero" => (RmwKind::IncNotZero, full, false),
        _ => return None,
    };
    Some(Call::Rmw {
        kind,
        order,
        returns_new,
    })
}

/// One thread being compiled: its registers and code.
struct Body<'p> {
    parser: &'p mut Parser,
    thread: Thread,
}

impl Parser {
    fn error_at(&self, at: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = self.toks.get(at).map_or(self.end, |t| (t.line, t.column));
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.at, message)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.at + k).map(|t| &t.tok)
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w == word)
    }

    fn eat(&mut self, p: &str) -> bool {
        let yes = self.is(p);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn expect(&mut self, p: &str) -> Result<(), ParseError> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{p}`, found {}", self.describe())))
        }
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the file".into(),
            Some(Tok::Ident(w)) => format!("`{w}`"),
            Some(Tok::Num(n)) => format!("`{n}`"),
            Some(Tok::Punct(p)) => format!("`{p}`"),
            Some(Tok::Str) => "a string".into(),
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Some(Tok::Ident(w)) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            _ => Err(self.error(format!("expected a name, found {}", self.describe()))),
        }
    }

    fn number(&mut self) -> Result<i64, ParseError> {
        let negative = self.eat("-");
        match self.peek() {
            Some(Tok::Num(n)) => {
                let n = *n;
                self.at += 1;
                Ok(if negative { -n } else { n })
            }
            _ => Err(self.error(format!("expected a number, found {}", self.describe()))),
        }
    }

    /// The number of shared location `name`, created (holding 0) if new.
    fn location(&mut self, name: &str) -> u8 {
        if let Some(i) = self.locations.iter().position(|l| l == name) {
            return i as u8;
        }
        self.locations.push(name.to_owned());
        self.initial.push(Value::Int(0));
        (self.locations.len() - 1) as u8
    }

    fn skip_types(&mut self) {
        while matches!(self.peek(), Some(Tok::Ident(w)) if TYPE_WORDS.contains(&w.as_str())) {
            self.at += 1;
        }
        while self.eat("*") {}
    }

    /// An initial value: a number, a location's name (its address), `&name` or
    /// `ATOMIC_INIT(n)`.
    fn init_value(&mut self) -> Result<Value, ParseError> {
        if self.is_ident("ATOMIC_INIT") {
            self.at += 1;
            self.expect("(")?;
            let n = self.number()?;
            self.expect(")")?;
            return Ok(Value::Int(n));
        }
        if self.eat("&") {
            let name = self.ident()?;
            return Ok(Value::Loc(self.location(&name)));
        }
        if let Some(Tok::Ident(_)) = self.peek() {
            let name = self.ident()?;
            return Ok(Value::Loc(self.location(&name)));
        }
        Ok(Value::Int(self.number()?))
    }

    /// The init block: `{ x=1; int *p=&y; 0:r1=2; }`; register initialisations are returned.
    fn init(&mut self) -> Result<Vec<(usize, String, Value)>, ParseError> {
        self.expect("{")?;
        let mut registers = Vec::new();
        while !self.eat("}") {
            if self.eat(";") {
                continue;
            }
            if let (Some(Tok::Num(t)), Some(Tok::Punct(":"))) = (self.peek(), self.peek_at(1)) {
                let thread = *t as usize;
                self.at += 2;
                let name = self.ident()?;
                self.expect("=")?;
                let value = self.init_value()?;
                registers.push((thread, name, value));
                continue;
            }
            self.skip_types();
            let name = self.ident()?;
            let x = self.location(&name);
            if self.eat("=") {
                let value = self.init_value()?;
                self.initial[x as usize] = value;
            }
            if !self.is("}") {
                self.expect(";")?;
            }
        }
        Ok(registers)
    }

    /// A thread: `Pn(int *x, spinlock_t *l) { ... }`.
    fn thread(&mut self, n: usize) -> Result<Thread, ParseError> {
        let at = self.at;
        let name = self.ident()?;
        if name != format!("P{n}") {
            return Err(self.error_at(at, format!("expected thread `P{n}`, found `{name}`")));
        }
        self.expect("(")?;
        while !self.eat(")") {
            self.skip_types();
            let param = self.ident()?;
            self.location(&param);
            if !self.is(")") {
                self.expect(",")?;
            }
        }
        let mut body = Body {
            parser: self,
            thread: Thread::default(),
        };
        body.block()?;
        Ok(body.thread)
    }

    /// A proposition of `filter` or the final condition.
    fn prop(&mut self, threads: &[Thread]) -> Result<Prop, ParseError> {
        let mut left = self.prop_and(threads)?;
        while self.eat("\\/") {
            let right = self.prop_and(threads)?;
            left = Prop::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn prop_and(&mut self, threads: &[Thread]) -> Result<Prop, ParseError> {
        let mut left = self.prop_atom(threads)?;
        while self.eat("/\\") {
            let right = self.prop_atom(threads)?;
            left = Prop::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn prop_atom(&mut self, threads: &[Thread]) -> Result<Prop, ParseError> {
        if self.eat("~") {
            return Ok(Prop::Not(Box::new(self.prop_atom(threads)?)));
        }
        if self.eat("(") {
            let p = self.prop(threads)?;
            self.expect(")")?;
            return Ok(p);
        }
        if self.is_ident("true") || self.is_ident("false") {
            let yes = self.is_ident("true");
            self.at += 1;
            return Ok(Prop::Const(yes));
        }
        let at = self.at;
        let atom =
            if let (Some(Tok::Num(t)), Some(Tok::Punct(":"))) = (self.peek(), self.peek_at(1)) {
                let thread = *t as usize;
                self.at += 2;
                let name = self.ident()?;
                let register = threads
                    .get(thread)
                    .and_then(|th| th.registers.iter().position(|r| *r == name))
                    .ok_or_else(|| self.error_at(at, format!("no register `{thread}:{name}`")))?;
                self.expect("=")?;
                let value = self.condition_value()?;
                Atom::Register {
                    thread,
                    register,
                    value,
                }
            } else {
                let name = self.ident()?;
                let location = self
                    .locations
                    .iter()
                    .position(|l| *l == name)
                    .ok_or_else(|| self.error_at(at, format!("no location `{name}`")))?
                    as u8;
                self.expect("=")?;
                let value = self.condition_value()?;
                Atom::Location { location, value }
            };
        Ok(Prop::Atom(atom))
    }

    fn condition_value(&mut self) -> Result<Value, ParseError> {
        if let Some(Tok::Ident(name)) = self.peek() {
            let name = name.clone();
            let at = self.at;
            self.at += 1;
            return self
                .locations
                .iter()
                .position(|l| *l == name)
                .map(|i| Value::Loc(i as u8))
                .ok_or_else(|| self.error_at(at, format!("no location `{name}`")));
        }
        self.eat("&");
        Ok(Value::Int(self.number()?))
    }
}

impl Body<'_> {
    fn register(&mut self, name: &str) -> usize {
        if let Some(i) = self.thread.registers.iter().position(|r| r == name) {
            return i;
        }
        self.thread.registers.push(name.to_owned());
        self.thread.initial.push(Value::Int(0));
        self.thread.registers.len() - 1
    }

    fn emit(&mut self, ins: Ins) -> usize {
        self.thread.code.push(ins);
        self.thread.code.len() - 1
    }

    fn block(&mut self) -> Result<(), ParseError> {
        self.parser.expect("{")?;
        while !self.parser.eat("}") {
            if self.parser.peek().is_none() {
                return Err(self.parser.error("`}` missing at the end of the thread"));
            }
            self.statement()?;
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<(), ParseError> {
        let p = &mut *self.parser;
        if p.eat(";") {
            return Ok(());
        }
        if p.is("{") {
            return self.block();
        }
        if p.is_ident("if") {
            p.at += 1;
            p.expect("(")?;
            let cond = self.expr()?;
            self.parser.expect(")")?;
            let jump = self.emit(Ins::JumpUnless {
                cond,
                target: usize::MAX,
            });
            self.statement()?;
            if self.parser.is_ident("else") {
                self.parser.at += 1;
                let skip = self.emit(Ins::Jump { target: usize::MAX });
                let here = self.thread.code.len();
                self.patch(jump, here);
                self.statement()?;
                let end = self.thread.code.len();
                self.patch(skip, end);
            } else {
                let end = self.thread.code.len();
                self.patch(jump, end);
            }
            return Ok(());
        }
        if matches!(p.peek(), Some(Tok::Ident(w)) if TYPE_WORDS.contains(&w.as_str())) {
            // A declaration: `int r0;`, `int *r1 = READ_ONCE(*x);`.
            p.skip_types();
            let name = p.ident()?;
            let dst = self.register(&name);
            if self.parser.eat("=") {
                self.assignment(dst)?;
            }
            return self.parser.expect(";");
        }
        if p.is("(")
            && matches!(p.peek_at(1), Some(Tok::Ident(w)) if w == "void")
            && matches!(p.peek_at(2), Some(Tok::Punct(")")))
        {
            // `(void)atomic_add_unless(...)`: the value is dropped.
            p.at += 3;
            self.call(None)?;
            return self.parser.expect(";");
        }
        if p.eat("*") {
            // A plain write `*p = e;`, taken as WRITE_ONCE.
            let ptr = self.unary()?;
            self.parser.expect("=")?;
            let value = self.expr()?;
            self.emit(Ins::Write {
                ptr,
                value,
                kind: WriteKind::Once,
            });
            return self.parser.expect(";");
        }
        let at = self.parser.at;
        let name = self.parser.ident()?;
        if self.parser.eat("=") {
            if self.parser.locations.contains(&name) && !self.thread.registers.contains(&name) {
                return Err(self.parser.error_at(
                    at,
                    format!(
                        "`{name}` is a shared location: write it with WRITE_ONCE(*{name}, ...)"
                    ),
                ));
            }
            let dst = self.register(&name);
            self.assignment(dst)?;
            return self.parser.expect(";");
        }
        self.parser.at = at;
        self.call(None)?;
        self.parser.expect(";")
    }

    fn patch(&mut self, at: usize, to: usize) {
        match &mut self.thread.code[at] {
            Ins::JumpUnless { target, .. } | Ins::Jump { target } => *target = to,
            _ => unreachable!("only jumps are patched"),
        }
    }

    /// The right side of `dst = ...`: a primitive call or an expression.
    fn assignment(&mut self, dst: usize) -> Result<(), ParseError> {
        if let (Some(Tok::Ident(name)), Some(Tok::Punct("("))) =
            (self.parser.peek(), self.parser.peek_at(1))
        {
            if !matches!(name.as_str(), "if") {
                return self.call(Some(dst));
            }
        }
        if self.parser.is("*") {
            // A plain read `r = *p;`, taken as READ_ONCE.
            self.parser.at += 1;
            let ptr = self.unary()?;
            self.emit(Ins::Read {
                dst,
                ptr,
                kind: ReadKind::Once,
            });
            return Ok(());
        }
        let value = self.expr()?;
        self.emit(Ins::Assign { dst, value });
        Ok(())
    }

    /// The pointer argument of a primitive: `*p` where `deref`, else `p`.
    fn pointer(&mut self, deref: bool) -> Result<Expr, ParseError> {
        if deref {
            self.parser.expect("*")?;
        } else {
            self.parser.eat("&");
        }
        self.unary()
    }

    fn args_end(&mut self) -> Result<(), ParseError> {
        self.parser.expect(")")
    }

    /// A primitive call; `dst` receives its value.
    fn call(&mut self, dst: Option<usize>) -> Result<(), ParseError> {
        let at = self.parser.at;
        let name = self.parser.ident()?;
        self.parser.expect("(")?;
        let needs_value = |p: &Parser, what: &str| -> ParseError {
            p.error_at(at, format!("`{name}` returns no value to assign ({what})"))
        };
        if let Some(fence) = Barrier::from_name(&name) {
            self.args_end()?;
            if dst.is_some() {
                return Err(needs_value(self.parser, "a barrier"));
            }
            self.emit(Ins::Barrier(fence));
            return Ok(());
        }
        match call_of(&name) {
            Some(Call::Read(kind, deref)) => {
                let ptr = self.pointer(deref)?;
                self.args_end()?;
                let Some(dst) = dst else {
                    return Err(self
                        .parser
                        .error_at(at, format!("the value of `{name}` must be assigned")));
                };
                self.emit(Ins::Read { dst, ptr, kind });
                return Ok(());
            }
            Some(Call::Write(kind, deref)) => {
                let ptr = self.pointer(deref)?;
                self.parser.expect(",")?;
                let value = self.expr()?;
                self.args_end()?;
                if dst.is_some() {
                    return Err(needs_value(self.parser, "a write"));
                }
                self.emit(Ins::Write { ptr, value, kind });
                return Ok(());
            }
            Some(Call::Rmw {
                kind,
                order,
                returns_new,
            }) => {
                let one = Expr::Const(Value::Int(1));
                let (op, ptr) = match kind {
                    RmwKind::Inc | RmwKind::Dec => {
                        let ptr = self.pointer(false)?;
                        let delta = if matches!(kind, RmwKind::Inc) { 1 } else { -1 };
                        (Rmw::Add(Expr::Const(Value::Int(delta))), ptr)
                    }
                    RmwKind::Add | RmwKind::Sub => {
                        let amount = self.expr()?;
                        self.parser.expect(",")?;
                        let ptr = self.pointer(false)?;
                        let amount = if matches!(kind, RmwKind::Sub) {
                            Expr::Binary(
                                BinOp::Sub,
                                Box::new(Expr::Const(Value::Int(0))),
                                Box::new(amount),
                            )
                        } else {
                            amount
                        };
                        (Rmw::Add(amount), ptr)
                    }
                    RmwKind::Xchg => {
                        let ptr = self.pointer(false)?;
                        self.parser.expect(",")?;
                        (Rmw::Xchg(self.expr()?), ptr)
                    }
                    RmwKind::Cmpxchg => {
                        let ptr = self.pointer(false)?;
                        self.parser.expect(",")?;
                        let old = self.expr()?;
                        self.parser.expect(",")?;
                        (Rmw::Cmpxchg(old, self.expr()?), ptr)
                    }
                    RmwKind::AddUnless => {
                        let ptr = self.pointer(false)?;
                        self.parser.expect(",")?;
                        let amount = self.expr()?;
                        self.parser.expect(",")?;
                        (Rmw::AddUnless(amount, self.expr()?), ptr)
                    }
                    RmwKind::IncNotZero => {
                        let ptr = self.pointer(false)?;
                        (Rmw::AddUnless(one, Expr::Const(Value::Int(0))), ptr)
                    }
                };
                self.args_end()?;
                self.emit(Ins::Rmw {
                    dst,
                    ptr,
                    op,
                    order,
                    returns_new,
                });
                return Ok(());
            }
            None => {}
        }
        let no_value = |body: &Body<'_>| -> Result<(), ParseError> {
            if dst.is_some() {
                Err(needs_value(body.parser, "it is a statement"))
            } else {
                Ok(())
            }
        };
        match name.as_str() {
            "spin_lock" | "spin_unlock" => {
                let ptr = self.pointer(false)?;
                self.args_end()?;
                no_value(self)?;
                self.emit(if name == "spin_lock" {
                    Ins::Lock(ptr)
                } else {
                    Ins::Unlock(ptr)
                });
            }
            "spin_trylock" | "spin_is_locked" => {
                let ptr = self.pointer(false)?;
                self.args_end()?;
                let Some(dst) = dst else {
                    return Err(self
                        .parser
                        .error_at(at, format!("the value of `{name}` must be assigned")));
                };
                self.emit(if name == "spin_trylock" {
                    Ins::TryLock { dst, ptr }
                } else {
                    Ins::IsLocked { dst, ptr }
                });
            }
            "rcu_read_lock" | "rcu_read_unlock" | "synchronize_rcu" => {
                self.args_end()?;
                no_value(self)?;
                self.emit(match name.as_str() {
                    "rcu_read_lock" => Ins::ReadLock {
                        domain: None,
                        dst: None,
                    },
                    "rcu_read_unlock" => Ins::ReadUnlock {
                        domain: None,
                        index: None,
                    },
                    _ => Ins::Synchronize { domain: None },
                });
                if name == "synchronize_rcu" {
                    self.emit(Ins::SynchronizeWait);
                }
            }
            "srcu_read_lock" => {
                let domain = self.pointer(false)?;
                self.args_end()?;
                self.emit(Ins::ReadLock {
                    domain: Some(domain),
                    dst,
                });
            }
            "srcu_read_unlock" => {
                let domain = self.pointer(false)?;
                self.parser.expect(",")?;
                let index = self.expr()?;
                self.args_end()?;
                no_value(self)?;
                self.emit(Ins::ReadUnlock {
                    domain: Some(domain),
                    index: Some(index),
                });
            }
            "synchronize_srcu" => {
                let domain = self.pointer(false)?;
                self.args_end()?;
                no_value(self)?;
                self.emit(Ins::Synchronize {
                    domain: Some(domain),
                });
                self.emit(Ins::SynchronizeWait);
            }
            _ => {
                return Err(self
                    .parser
                    .error_at(at, format!("unsupported primitive `{name}`")))
            }
        }
        Ok(())
    }

    /// An expression: C's operators over registers, numbers and location addresses.
    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.binary(0)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, ParseError> {
        const LEVELS: [&[(&str, BinOp)]; 7] = [
            &[("||", BinOp::Or)],
            &[("&&", BinOp::And)],
            &[("|", BinOp::BitOr)],
            &[("^", BinOp::BitXor)],
            &[("&", BinOp::BitAnd)],
            &[
                ("==", BinOp::Eq),
                ("!=", BinOp::Ne),
                ("<=", BinOp::Le),
                (">=", BinOp::Ge),
                ("<", BinOp::Lt),
                (">", BinOp::Gt),
            ],
            &[("+", BinOp::Add), ("-", BinOp::Sub), ("*", BinOp::Mul)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        'more: loop {
            for (p, op) in LEVELS[level] {
                if self.parser.eat(p) {
                    let right = self.binary(level + 1)?;
                    left = Expr::Binary(*op, Box::new(left), Box::new(right));
                    continue 'more;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.parser.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.parser.eat("-") {
            let e = self.unary()?;
            return Ok(Expr::Binary(
                BinOp::Sub,
                Box::new(Expr::Const(Value::Int(0))),
                Box::new(e),
            ));
        }
        if self.parser.eat("(") {
            let e = self.expr()?;
            self.parser.expect(")")?;
            return Ok(e);
        }
        if self.parser.eat("&") {
            let name = self.parser.ident()?;
            return Ok(Expr::Const(Value::Loc(self.parser.location(&name))));
        }
        if self.parser.eat("*") {
            // A plain read inside an expression (`if (*p == 1)`), taken as READ_ONCE into a
            // register of its own, read before the expression is evaluated.
            let ptr = self.unary()?;
            let dst = self.register(&format!("*{}", self.thread.registers.len()));
            self.emit(Ins::Read {
                dst,
                ptr,
                kind: ReadKind::Once,
            });
            return Ok(Expr::Reg(dst));
        }
        match self.parser.peek() {
            Some(Tok::Num(_)) => Ok(Expr::Const(Value::Int(self.parser.number()?))),
            Some(Tok::Ident(_)) => {
                let at = self.parser.at;
                let name = self.parser.ident()?;
                if let Some(r) = self.thread.registers.iter().position(|r| *r == name) {
                    return Ok(Expr::Reg(r));
                }
                if let Some(l) = self.parser.locations.iter().position(|l| *l == name) {
                    return Ok(Expr::Const(Value::Loc(l as u8)));
                }
                Err(self
                    .parser
                    .error_at(at, format!("`{name}` is neither a register nor a location")))
            }
            _ => Err(self.parser.error(format!(
                "expected an expression, found {}",
                self.parser.describe()
            ))),
        }
    }
}

/// Parses a C litmus test.
pub fn parse(text: &str) -> Result<Litmus, ParseError> {
    // The header `C NAME`: the name runs to the end of its line and may hold any of `+-.=`.
    let header = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty());
    let Some((header_line, header)) = header else {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: "empty file: expected the header `C NAME`".into(),
        });
    };
    let name = match header.trim().split_once(char::is_whitespace) {
        Some(("C", name)) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => {
            return Err(ParseError {
                line: header_line + 1,
                column: 1,
                message: format!(
                    "expected the header `C NAME` (a C litmus test), found `{}`",
                    header.trim()
                ),
            })
        }
    };
    // Tokenize the rest, the header blanked out so that lines and columns stay the file's.
    let body: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == header_line {
                String::new()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let toks = tokenize(&body)?;
    let lines: Vec<&str> = text.lines().collect();
    let end = (lines.len().max(1), lines.last().map_or(1, |l| l.len() + 1));
    let mut p = Parser {
        toks,
        at: 0,
        end,
        locations: Vec::new(),
        initial: Vec::new(),
    };
    while matches!(p.peek(), Some(Tok::Str)) {
        p.at += 1;
    }
    let registers = p.init()?;
    let mut threads = Vec::new();
    while matches!(p.peek(), Some(Tok::Ident(w)) if w.starts_with('P') && w[1..].chars().all(|c| c.is_ascii_digit()) && w.len() > 1)
    {
        let n = threads.len();
        threads.push(p.thread(n)?);
    }
    if threads.is_empty() {
        return Err(p.error("expected a thread `P0(...) { ... }`"));
    }
    for (thread, name, value) in registers {
        let Some(th) = threads.get_mut(thread) else {
            return Err(p.error_at(
                0,
                format!("the init block names thread {thread}, which does not exist"),
            ));
        };
        let r = match th.registers.iter().position(|r| *r == name) {
            Some(r) => r,
            None => {
                th.registers.push(name.clone());
                th.initial.push(Value::Int(0));
                th.registers.len() - 1
            }
        };
        th.initial[r] = value;
    }
    let mut shown = Vec::new();
    let mut filter = None;
    loop {
        if p.is_ident("locations") {
            p.at += 1;
            p.expect("[")?;
            while !p.eat("]") {
                if let (Some(Tok::Num(_)), Some(Tok::Punct(":"))) = (p.peek(), p.peek_at(1)) {
                    // A register: registers of the condition are listed anyway.
                    p.at += 3;
                } else {
                    let at = p.at;
                    let name = p.ident()?;
                    let l = p
                        .locations
                        .iter()
                        .position(|l| *l == name)
                        .ok_or_else(|| p.error_at(at, format!("no location `{name}`")))?;
                    shown.push(l as u8);
                }
                p.eat(";");
            }
        } else if p.is_ident("filter") {
            p.at += 1;
            filter = Some(p.prop(&threads)?);
        } else {
            break;
        }
    }
    let quantifier = if p.is_ident("exists") {
        p.at += 1;
        Quantifier::Exists
    } else if p.is("~") && matches!(p.peek_at(1), Some(Tok::Ident(w)) if w == "exists") {
        p.at += 2;
        Quantifier::NotExists
    } else if p.is_ident("forall") {
        p.at += 1;
        Quantifier::Forall
    } else {
        return Err(p.error(format!(
            "expected the final condition (`exists`, `~exists` or `forall`), found {}",
            p.describe()
        )));
    };
    let condition = p.prop(&threads)?;
    if p.peek().is_some() {
        return Err(p.error(format!(
            "unexpected {} after the final condition",
            p.describe()
        )));
    }
    if p.locations.len() > crate::lkmm::MAX_LOCATIONS {
        return Err(p.error(format!(
            "the test has {} shared locations; the checker's views hold at most {}",
            p.locations.len(),
            crate::lkmm::MAX_LOCATIONS
        )));
    }
    Ok(Litmus {
        name,
        result: stated_result(text),
        locations: p.locations,
        initial: p.initial,
        threads,
        shown,
        filter,
        quantifier,
        condition,
    })
}
