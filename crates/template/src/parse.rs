//! The parser: tokens to a tree of nodes, following Go's `text/template/parse`
//! grammar (actions, pipelines, declarations, `if`/`range`/`with` with `else`
//! and `else if`, `define`/`template`/`block`, `break`/`continue`).
//! Owns syntax checks Go makes at parse time (undefined functions and
//! variables, misplaced `end`/`else`); never evaluates anything.

use std::collections::BTreeMap;
use std::fmt;

use crate::lex::{Keyword, Tok, Token};

/// A sequence of nodes.
pub(crate) type List = Vec<Node>;

/// A statement-level node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    Range(Control),
    With(Control),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// The shared shape of `if`, `range` and `with`.
#[derive(Debug, Clone)]
pub(crate) struct Control {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

/// A pipeline with optional variable declarations.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

/// One stage of a pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// A parsed number constant (Go's `NumberNode`).
#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub int: Option<i64>,
    pub float: Option<f64>,
    pub text: String,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.A.B`: fields of dot.
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.A.B`.
    Variable {
        pos: usize,
        name: String,
        idents: Vec<String>,
    },
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number(usize, Number),
    /// A string literal: its text as written and its value.
    Str(usize, String, String),
    /// A function name.
    Identifier(usize, String),
    /// `(pipeline).A.B` or `fn.A`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    /// A parenthesized pipeline.
    Pipe(usize, Box<Pipe>),
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool(pos, _)
            | Arg::Number(pos, _)
            | Arg::Str(pos, _, _)
            | Arg::Identifier(pos, _)
            | Arg::Chain { pos, .. }
            | Arg::Pipe(pos, _) => *pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { name, idents, .. } => {
                write!(f, "{name}")?;
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => f.write_str(&n.text),
            Arg::Str(_, text, _) => f.write_str(text),
            Arg::Identifier(_, name) => f.write_str(name),
            Arg::Chain { node, fields, .. } => {
                write!(f, "{node}")?;
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Pipe(_, p) => write!(f, "({p})"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Arg::Pipe(_, p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A parse failure at a byte offset.
#[derive(Debug, Clone)]
pub(crate) struct ParseError {
    pub pos: usize,
    pub reason: String,
}

type PResult<T> = Result<T, ParseError>;

/// Every template defined by one source: the main one under its name and the
/// ones `define` and `block` add.
pub(crate) struct Parsed {
    pub trees: BTreeMap<String, List>,
}

struct Parser<'f> {
    tokens: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    max_depth: usize,
    has_func: &'f dyn Fn(&str) -> bool,
    trees: BTreeMap<String, List>,
}

/// Parses `tokens` (from [`crate::lex::lex`]) into the templates they define.
pub(crate) fn parse(
    name: &str,
    tokens: Vec<Token>,
    max_depth: usize,
    has_func: &dyn Fn(&str) -> bool,
) -> PResult<Parsed> {
    let mut p = Parser {
        tokens,
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        max_depth,
        has_func,
        trees: BTreeMap::new(),
    };
    let mut root = Vec::new();
    while !matches!(p.peek().kind, Tok::Eof) {
        if matches!(p.peek().kind, Tok::LeftDelim) {
            let save = p.i;
            p.next();
            if matches!(p.next_non_space().kind, Tok::Keyword(Keyword::Define)) {
                p.parse_definition()?;
                continue;
            }
            p.i = save;
        }
        let tok = p.peek().clone();
        match p.text_or_action()? {
            Item::Node(n) => root.push(n),
            Item::End => return p.fail(tok.pos, "unexpected {{end}}"),
            Item::Else => return p.fail(tok.pos, "unexpected {{else}}"),
        }
    }
    // The main template is added last, under the same rules as definitions.
    let end = p.peek().pos;
    p.add_tree(end, name.to_string(), root)?;
    Ok(Parsed { trees: p.trees })
}

enum Item {
    Node(Node),
    End,
    Else,
}

impl Parser<'_> {
    fn fail<T>(&self, pos: usize, reason: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            pos,
            reason: reason.into(),
        })
    }

    fn peek(&self) -> &Token {
        // The lexer always ends with Eof; never read past it.
        let i = self.i.min(self.tokens.len().saturating_sub(1));
        &self.tokens[i]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        // Always advance (peek clamps to the final Eof), so one step back
        // is always the token just read.
        self.i += 1;
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Tok::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let save = self.i;
        let t = self.next_non_space();
        self.i = save;
        t
    }

    fn skip_space(&mut self) {
        while self.peek().kind == Tok::Space {
            self.next();
        }
    }

    fn enter(&mut self, pos: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return self.fail(
                pos,
                format!("nesting deeper than {} levels", self.max_depth),
            );
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn unexpected<T>(&self, t: &Token, context: &str) -> PResult<T> {
        self.fail(
            t.pos,
            format!("unexpected {} in {context}", describe(&t.kind)),
        )
    }

    fn expect_right_delim(&mut self, context: &str) -> PResult<Token> {
        let t = self.next_non_space();
        if t.kind != Tok::RightDelim {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let t = self.next_non_space();
        let name = match &t.kind {
            Tok::Str(s) | Tok::RawStr(s) => unquote(s).map_err(|r| ParseError {
                pos: t.pos,
                reason: r,
            })?,
            _ => return self.unexpected(&t, "define clause"),
        };
        self.expect_right_delim("define clause")?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if !matches!(end, Item::End) {
            return self.fail(t.pos, "unexpected {{else}} in define clause");
        }
        self.add_tree(t.pos, name, list)
    }

    /// Go's `(*Tree).add`: an empty definition never replaces one; two
    /// non-empty ones of the same name are an error.
    fn add_tree(&mut self, pos: usize, name: String, list: List) -> PResult<()> {
        match self.trees.get(&name) {
            Some(old) if !is_empty(old) => {
                if is_empty(&list) {
                    return Ok(());
                }
                self.fail(
                    pos,
                    format!("template: multiple definition of template {name:?}"),
                )
            }
            _ => {
                self.trees.insert(name, list);
                Ok(())
            }
        }
    }

    /// Nodes up to an `{{end}}` or `{{else}}`, which is returned too.
    fn item_list(&mut self) -> PResult<(List, Item)> {
        let mut list = Vec::new();
        loop {
            if matches!(self.peek().kind, Tok::Eof) {
                let pos = self.peek().pos;
                return self.fail(pos, "unexpected EOF");
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::LeftDelim => self.action(),
            _ => self.unexpected(&t, "input"),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Tok::Keyword(Keyword::Block) => self.block_control(t.pos).map(Item::Node),
            Tok::Keyword(Keyword::Break) => self.loop_control(t.pos, true).map(Item::Node),
            Tok::Keyword(Keyword::Continue) => self.loop_control(t.pos, false).map(Item::Node),
            Tok::Keyword(Keyword::Else) => {
                let peek = self.peek_non_space();
                if !matches!(
                    peek.kind,
                    Tok::Keyword(Keyword::If) | Tok::Keyword(Keyword::With)
                ) {
                    self.expect_right_delim("else")?;
                }
                Ok(Item::Else)
            }
            Tok::Keyword(Keyword::End) => {
                self.expect_right_delim("end")?;
                Ok(Item::End)
            }
            Tok::Keyword(Keyword::If) => Ok(Item::Node(Node::If(self.control("if", t.pos)?))),
            Tok::Keyword(Keyword::Range) => {
                Ok(Item::Node(Node::Range(self.control("range", t.pos)?)))
            }
            Tok::Keyword(Keyword::With) => Ok(Item::Node(Node::With(self.control("with", t.pos)?))),
            Tok::Keyword(Keyword::Template) => self.template_control(t.pos).map(Item::Node),
            Tok::Keyword(Keyword::Define) => {
                self.fail(t.pos, "unexpected define: {{define}} only at the top level")
            }
            _ => {
                self.i -= 1;
                let pos = self.peek().pos;
                let pipe = self.pipeline("command", true, pos)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    fn loop_control(&mut self, pos: usize, is_break: bool) -> PResult<Node> {
        let word = if is_break { "break" } else { "continue" };
        let t = self.next_non_space();
        if t.kind != Tok::RightDelim {
            return self.unexpected(&t, &format!("{{{{{word}}}}}"));
        }
        if self.range_depth == 0 {
            return self.fail(pos, format!("{{{{{word}}}}} outside {{{{range}}}}"));
        }
        Ok(if is_break {
            Node::Break
        } else {
            Node::Continue
        })
    }

    fn control(&mut self, context: &str, pos: usize) -> PResult<Control> {
        self.enter(pos)?;
        let vars = self.vars.len();
        let pipe = self.pipeline(context, true, pos)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Item::Else = next {
            let peek = self.peek_non_space();
            let chained = match (&peek.kind, context) {
                (Tok::Keyword(Keyword::If), "if") => Some(true),
                (Tok::Keyword(Keyword::With), "with") => Some(false),
                _ => None,
            };
            if let Some(is_if) = chained {
                self.next_non_space();
                let inner = self.control(context, peek.pos)?;
                else_list = Some(vec![if is_if {
                    Node::If(inner)
                } else {
                    Node::With(inner)
                }]);
            } else {
                let (l, end) = self.item_list()?;
                if !matches!(end, Item::End) {
                    return self.fail(pos, "expected end; found {{else}}");
                }
                else_list = Some(l);
            }
        }
        self.vars.truncate(vars);
        self.leave();
        Ok(Control {
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, context: &str) -> PResult<String> {
        let t = self.next_non_space();
        match &t.kind {
            Tok::Str(s) | Tok::RawStr(s) => unquote(s).map_err(|r| ParseError {
                pos: t.pos,
                reason: r,
            }),
            _ => self.unexpected(&t, context),
        }
    }

    fn template_control(&mut self, pos: usize) -> PResult<Node> {
        // Go places a {{template}} node at its name.
        let pos = self.peek_non_space().pos.max(pos);
        let name = self.template_name("template clause")?;
        let pipe = if self.peek_non_space().kind == Tok::RightDelim {
            self.next_non_space();
            None
        } else {
            Some(self.pipeline("template clause", true, pos)?)
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn block_control(&mut self, pos: usize) -> PResult<Node> {
        self.enter(pos)?;
        let name = self.template_name("block clause")?;
        let pipe = self.pipeline("block clause", true, pos)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        if !matches!(end, Item::End) {
            return self.fail(pos, "unexpected {{else}} in block clause");
        }
        self.add_tree(pos, name.clone(), list)?;
        self.leave();
        Ok(Node::Template {
            pos,
            name,
            pipe: Some(pipe),
        })
    }

    /// A pipeline ending at a right delimiter (`delim`) or a right paren.
    fn pipeline(&mut self, context: &str, delim: bool, pos: usize) -> PResult<Pipe> {
        let mut pipe = Pipe {
            pos,
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, `$i, $v :=` (range only).
        'decls: loop {
            let v = self.peek_non_space();
            let Tok::Variable(name) = &v.kind else {
                break;
            };
            let save = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.kind {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.kind == Tok::Assign;
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    break 'decls;
                }
                Tok::Char(',') => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        let p = self.peek_non_space();
                        if matches!(p.kind, Tok::Variable(_) | Tok::RightDelim | Tok::RightParen) {
                            continue 'decls;
                        }
                        return self.fail(p.pos, "range can only initialize variables");
                    }
                    return self.fail(v.pos, format!("too many declarations in {context}"));
                }
                _ => {
                    self.i = save;
                    break 'decls;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            match &t.kind {
                Tok::RightDelim if delim => break,
                Tok::RightParen if !delim => break,
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Identifier(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&t, context),
            }
        }
        if pipe.cmds.is_empty() {
            return self.fail(pos, format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::Str(..))
            ) {
                return self.fail(
                    c.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(pipe)
    }

    fn command(&mut self) -> PResult<Command> {
        self.skip_space();
        let pos = self.peek().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(a) = self.operand()? {
                args.push(a);
            }
            let t = self.next();
            match t.kind {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => {
                    self.i -= 1;
                }
                Tok::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.fail(pos, "empty command");
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        while let Tok::Field(f) = &self.peek().kind {
            fields.push(f[1..].to_string());
            self.next();
        }
        if fields.is_empty() {
            return Ok(Some(node));
        }
        Ok(Some(match node {
            Arg::Field { pos, mut idents } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable {
                pos,
                name,
                mut idents,
            } => {
                idents.extend(fields);
                Arg::Variable { pos, name, idents }
            }
            Arg::Bool(pos, _)
            | Arg::Str(pos, _, _)
            | Arg::Number(pos, _)
            | Arg::Nil(pos)
            | Arg::Dot(pos) => {
                return self.fail(
                    pos,
                    format!("unexpected . after term {:?}", node.to_string()),
                )
            }
            other => Arg::Chain {
                pos: other.pos(),
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.kind {
            Tok::Identifier(name) => {
                if !(self.has_func)(&name) {
                    return self.fail(pos, format!("function {name:?} not defined"));
                }
                Arg::Identifier(pos, name)
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return self.fail(pos, format!("undefined variable {name:?}"));
                }
                Arg::Variable {
                    pos,
                    name,
                    idents: Vec::new(),
                }
            }
            Tok::Field(f) => Arg::Field {
                pos,
                idents: vec![f[1..].to_string()],
            },
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Number(text) => Arg::Number(
                pos,
                parse_number(&text).map_err(|reason| ParseError { pos, reason })?,
            ),
            Tok::CharConst(text) => {
                let v = unquote_char(&text).map_err(|reason| ParseError { pos, reason })?;
                Arg::Number(
                    pos,
                    Number {
                        int: Some(v as i64),
                        float: Some(v as u32 as f64),
                        text,
                    },
                )
            }
            Tok::LeftParen => {
                self.enter(pos)?;
                let p = self.pipeline("parenthesized pipeline", false, pos)?;
                self.leave();
                Arg::Pipe(pos, Box::new(p))
            }
            Tok::Str(text) | Tok::RawStr(text) => {
                let v = unquote(&text).map_err(|reason| ParseError { pos, reason })?;
                Arg::Str(pos, text, v)
            }
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }
}

fn is_empty(list: &List) -> bool {
    list.iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(s) => format!("{s:?}"),
        Tok::LeftDelim => "<left delimiter>".into(),
        Tok::RightDelim => "<right delimiter>".into(),
        Tok::Space => "space".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::LeftParen => "\"(\"".into(),
        Tok::RightParen => "\")\"".into(),
        Tok::Char(c) => format!("\"{c}\""),
        Tok::Str(s) | Tok::RawStr(s) | Tok::CharConst(s) | Tok::Number(s) => format!("{s:?}"),
        Tok::Bool(b) => format!("\"{b}\""),
        Tok::Dot => "\".\"".into(),
        Tok::Field(s) | Tok::Variable(s) | Tok::Identifier(s) => format!("{s:?}"),
        Tok::Keyword(k) => format!("<{}>", format!("{k:?}").to_lowercase()),
        Tok::Nil => "nil".into(),
        Tok::Eof => "EOF".into(),
    }
}

/// Go's number constant rules: ints (with 0x/0o/0b and leading-0 octal,
/// underscores), floats, and rune values.
pub(crate) fn parse_number(text: &str) -> Result<Number, String> {
    let bad = || format!("illegal number syntax: {text:?}");
    if text.ends_with('i') {
        return Err(format!("complex constants are not supported: {text:?}"));
    }
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    if body.is_empty() {
        return Err(bad());
    }
    let lower = body.to_ascii_lowercase();
    let radix_int = |digits: &str, radix: u32| -> Option<i64> {
        let v = i128::from_str_radix(digits, radix).ok()?;
        let v = if neg { -v } else { v };
        i64::try_from(v).ok()
    };
    let is_hex = lower.starts_with("0x");
    let int = if let Some(d) = lower.strip_prefix("0x") {
        radix_int(d, 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        radix_int(d, 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        radix_int(d, 2)
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        radix_int(&lower[1..], 8)
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        radix_int(&lower, 10)
    } else {
        None
    };
    let float = if is_hex {
        int.map(|i| i as f64)
    } else {
        clean.parse::<f64>().ok().filter(|f| f.is_finite())
    };
    if int.is_none() && float.is_none() {
        return Err(bad());
    }
    // "1e3" and "1.0" are floats even when integral: Go keeps them floats.
    let looks_float = !is_hex && lower.contains(['.', 'e']);
    Ok(Number {
        int: if looks_float {
            float
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        } else {
            int
        },
        float: float.or(int.map(|i| i as f64)),
        text: text.to_string(),
    })
}

/// Go's `strconv.Unquote` for "..." and `...` strings.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Ok(s[1..s.len() - 1].replace('\r', ""));
    }
    if s.len() < 2 || !s.starts_with('"') || !s.ends_with('"') {
        return Err("invalid syntax".into());
    }
    unescape(&s[1..s.len() - 1], '"')
}

fn unquote_char(s: &str) -> Result<char, String> {
    if s.len() < 2 || !s.starts_with('\'') || !s.ends_with('\'') {
        return Err(format!("malformed character constant: {s}"));
    }
    let v = unescape(&s[1..s.len() - 1], '\'')
        .map_err(|_| format!("malformed character constant: {s}"))?;
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!("malformed character constant: {s}")),
    }
}

fn unescape(body: &str, quote: char) -> Result<String, String> {
    let bad = || "invalid syntax".to_string();
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == quote || c == '\n' {
            return Err(bad());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' | '"' if e == quote => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(n).collect();
                if hex.len() != n {
                    return Err(bad());
                }
                let v = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                if e == 'x' {
                    // A byte; Go strings may hold invalid UTF-8, ours hold the char.
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                } else {
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                }
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                if rest.len() != 2 {
                    return Err(bad());
                }
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8).map_err(|_| bad())?;
                if v > 255 {
                    return Err(bad());
                }
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}
