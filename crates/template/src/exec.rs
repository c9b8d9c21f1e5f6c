//! The executor: walks parsed templates against data, as Go's
//! `text/template` `exec.go` does (variables and their scopes, pipelines,
//! `if`/`range`/`with`/`template`, `break`/`continue`, field access on maps
//! and records, missing-key handling), calling functions and collecting the
//! dependencies data functions touch. Owns every execution bound (depth,
//! iterations, output size); never performs I/O except through `Source`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use crate::dependency::Dependency;
use crate::funcs::{self, CallErr};
use crate::parse::{Arg, Command, Control, List, Node, Pipe};
use crate::source::Source;
use crate::value::Value;
use crate::{Limits, RenderOptions};

/// An execution failure before it is given a line and column.
#[derive(Debug)]
pub(crate) struct Fail {
    pub pos: usize,
    pub template: String,
    pub context: String,
    pub reason: String,
}

type R<T> = Result<T, Fail>;

/// What a walked list asks its enclosing `range` to do.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// State of one render.
pub(crate) struct Exec<'a> {
    pub trees: &'a BTreeMap<String, List>,
    pub source: &'a mut dyn Source,
    pub opts: &'a RenderOptions,
    pub limits: &'a Limits,
    pub vars: Vec<(String, Value)>,
    pub out: String,
    pub depth: usize,
    pub iterations: u64,
    pub work: u64,
    pub template: String,
    pub used: Vec<Dependency>,
    used_set: HashSet<Dependency>,
    pub missing: Vec<Dependency>,
    missing_set: HashSet<Dependency>,
    scratch: Rc<RefCell<BTreeMap<String, Value>>>,
}

fn context(s: String) -> String {
    s
}

/// A function argument: Go turns an invalid value into a nil interface.
fn arg_value(v: Value) -> Value {
    match v {
        Value::NoValue => Value::Nil,
        v => v,
    }
}

impl<'a> Exec<'a> {
    pub(crate) fn new(
        trees: &'a BTreeMap<String, List>,
        source: &'a mut dyn Source,
        opts: &'a RenderOptions,
        limits: &'a Limits,
        template: &str,
    ) -> Self {
        Exec {
            trees,
            source,
            opts,
            limits,
            vars: Vec::new(),
            out: String::new(),
            depth: 0,
            iterations: 0,
            work: 0,
            template: template.to_string(),
            used: Vec::new(),
            used_set: HashSet::new(),
            missing: Vec::new(),
            missing_set: HashSet::new(),
            scratch: Rc::new(RefCell::new(BTreeMap::new())),
        }
    }

    fn fail<T>(&self, pos: usize, ctx: impl ToString, reason: impl Into<String>) -> R<T> {
        Err(Fail {
            pos,
            template: self.template.clone(),
            context: context(ctx.to_string()),
            reason: reason.into(),
        })
    }

    /// Runs the named template with `dot` as data.
    pub(crate) fn run(&mut self, name: &str, dot: Value) -> R<()> {
        let Some(list) = self.trees.get(name) else {
            return self.fail(0, "", format!("template {name:?} not defined"));
        };
        self.vars = vec![("$".into(), dot.clone())];
        self.walk(&dot, list)?;
        Ok(())
    }

    pub(crate) fn use_dep(&mut self, d: &Dependency) {
        if self.used_set.insert(d.clone()) {
            self.used.push(d.clone());
        }
    }

    pub(crate) fn miss_dep(&mut self, d: &Dependency) {
        if self.missing_set.insert(d.clone()) {
            self.missing.push(d.clone());
        }
    }

    fn write(&mut self, s: &str, pos: usize, ctx: &dyn ToString) -> R<()> {
        if self.out.len() + s.len() > self.limits.max_output_bytes {
            return self.fail(
                pos,
                ctx.to_string(),
                format!(
                    "output exceeds the limit of {} bytes",
                    self.limits.max_output_bytes
                ),
            );
        }
        self.out.push_str(s);
        self.charge(s.len() as u64 + 1, pos, ctx)
    }

    fn enter(&mut self, pos: usize, ctx: &dyn ToString) -> R<()> {
        if self.depth >= self.limits.max_depth {
            return self.fail(
                pos,
                ctx.to_string(),
                format!(
                    "exceeded maximum template depth ({})",
                    self.limits.max_depth
                ),
            );
        }
        self.depth += 1;
        Ok(())
    }

    fn walk(&mut self, dot: &Value, list: &List) -> R<Flow> {
        for node in list {
            match node {
                Node::Text(t) => self.write(t, 0, &"")?,
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.write(&v.to_output(), pipe.pos, pipe)?;
                    }
                }
                Node::If(c) => match self.walk_if_with(dot, c, false)? {
                    Flow::Normal => {}
                    f => return Ok(f),
                },
                Node::With(c) => match self.walk_if_with(dot, c, true)? {
                    Flow::Normal => {}
                    f => return Ok(f),
                },
                Node::Range(c) => self.walk_range(dot, c)?,
                Node::Template { pos, name, pipe } => self.walk_template(dot, *pos, name, pipe)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if_with(&mut self, dot: &Value, c: &Control, with: bool) -> R<Flow> {
        self.enter(c.pipe.pos, &c.pipe)?;
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &c.pipe)?;
        let flow = if val.is_true() {
            let d = if with { &val } else { dot };
            self.walk(d, &c.list)
        } else if let Some(e) = &c.else_list {
            self.walk(dot, e)
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        flow
    }

    fn walk_range(&mut self, dot: &Value, c: &Control) -> R<()> {
        self.enter(c.pipe.pos, &c.pipe)?;
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &c.pipe)?;
        let body_mark = self.vars.len();
        let items: Vec<(Value, Value)> = match &val {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(m) => m
                .entries
                .iter()
                .map(|(k, v)| (Value::str(k.clone()), v.clone()))
                .collect(),
            Value::Int(n) => {
                if c.pipe.decl.len() > 1 {
                    return self.fail(
                        c.pipe.pos,
                        &c.pipe,
                        format!("can't use {n} to iterate over more than one variable"),
                    );
                }
                let n = (*n).max(0) as u64;
                if self.iterations.saturating_add(n) > self.limits.max_iterations {
                    return self.too_many_iterations(c);
                }
                (0..n as i64)
                    .map(|i| (Value::Int(i), Value::Int(i)))
                    .collect()
            }
            Value::Nil | Value::NoValue => Vec::new(),
            other => {
                let mut s = String::new();
                other.write_v(&mut s, true);
                return self.fail(c.pipe.pos, &c.pipe, format!("range can't iterate over {s}"));
            }
        };
        if items.is_empty() {
            if let Some(e) = &c.else_list {
                self.walk(dot, e)?;
            }
        }
        for (index, elem) in items {
            self.iterations += 1;
            if self.iterations > self.limits.max_iterations {
                return self.too_many_iterations(c);
            }
            self.charge(1, c.pipe.pos, &c.pipe)?;
            let decl = &c.pipe.decl;
            if c.pipe.is_assign {
                match decl.len() {
                    1 => self.set_var(&decl[0], elem.clone(), &c.pipe)?,
                    2 => {
                        self.set_var(&decl[0], index, &c.pipe)?;
                        self.set_var(&decl[1], elem.clone(), &c.pipe)?;
                    }
                    _ => {}
                }
            } else {
                match decl.len() {
                    1 => self.vars[body_mark - 1].1 = elem.clone(),
                    2 => {
                        self.vars[body_mark - 2].1 = index;
                        self.vars[body_mark - 1].1 = elem.clone();
                    }
                    _ => {}
                }
            }
            let flow = self.walk(&elem, &c.list)?;
            self.vars.truncate(body_mark);
            if let Flow::Break = flow {
                break;
            }
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(())
    }

    fn too_many_iterations<T>(&self, c: &Control) -> R<T> {
        self.fail(
            c.pipe.pos,
            &c.pipe,
            format!(
                "range iterations exceed the limit of {}",
                self.limits.max_iterations
            ),
        )
    }

    fn walk_template(&mut self, dot: &Value, pos: usize, name: &str, pipe: &Option<Pipe>) -> R<()> {
        let ctx = format!("{{{{template {name:?}}}}}");
        let trees = self.trees;
        let Some(list) = trees.get(name) else {
            return self.fail(pos, ctx, format!("template {name:?} not defined"));
        };
        self.enter(pos, &ctx)?;
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::NoValue,
        };
        let vars = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let caller = std::mem::replace(&mut self.template, name.to_string());
        let r = self.walk(&new_dot, list);
        self.template = caller;
        self.vars = vars;
        self.depth -= 1;
        r.map(|_| ())
    }

    /// `executeTemplate`: renders a defined template into a string.
    fn execute_template(&mut self, name: &str, dot: Value, cmd: &Command) -> R<Value> {
        let trees = self.trees;
        let Some(list) = trees.get(name) else {
            return self.fail(
                cmd.pos,
                cmd,
                format!("error calling executeTemplate: template: no template {name:?} associated with template {:?}", self.template),
            );
        };
        self.enter(cmd.pos, cmd)?;
        let outer = std::mem::take(&mut self.out);
        let vars = std::mem::replace(&mut self.vars, vec![("$".into(), dot.clone())]);
        let caller = std::mem::replace(&mut self.template, name.to_string());
        let r = self.walk(&dot, list);
        self.template = caller;
        self.vars = vars;
        let inner = std::mem::replace(&mut self.out, outer);
        self.depth -= 1;
        r?;
        if self.out.len() + inner.len() > self.limits.max_output_bytes {
            return self.fail(cmd.pos, cmd, "output exceeds the limit");
        }
        Ok(Value::String(inner))
    }

    fn set_var(&mut self, name: &str, v: Value, ctx: &dyn ToString) -> R<()> {
        for (n, val) in self.vars.iter_mut().rev() {
            if n == name {
                *val = v;
                return Ok(());
            }
        }
        self.fail(0, ctx.to_string(), format!("undefined variable: {name}"))
    }

    fn var(&self, name: &str, pos: usize) -> R<Value> {
        for (n, v) in self.vars.iter().rev() {
            if n == name {
                return Ok(v.clone());
            }
        }
        self.fail(pos, name, format!("undefined variable: {name}"))
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        self.enter(pipe.pos, pipe)?;
        let mut val: Option<Value> = None;
        for cmd in &pipe.cmds {
            val = Some(self.eval_command(dot, cmd, val)?);
        }
        // Go digs a nil interface out to an invalid value: it prints as
        // "<no value>" (a missing key of parsed JSON, scratch.Get of nothing).
        let v = match val {
            None | Some(Value::Nil) => Value::NoValue,
            Some(v) => v,
        };
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, v.clone(), pipe)?;
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        self.depth -= 1;
        Ok(v)
    }

    fn not_a_function(&self, cmd: &Command, fin: &Option<Value>) -> R<()> {
        if cmd.args.len() > 1 || fin.is_some() {
            return self.fail(
                cmd.args[0].pos(),
                &cmd.args[0],
                format!("can't give argument to non-function {}", cmd.args[0]),
            );
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Command, fin: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.eval_field_chain(dot, dot.clone(), first, idents, cmd, fin)
            }
            Arg::Chain { node, fields, .. } => {
                let recv = self.eval_arg(dot, node)?;
                self.eval_field_chain(dot, recv, first, fields, cmd, fin)
            }
            Arg::Identifier(_, name) => self.eval_function(dot, name, cmd, fin),
            Arg::Pipe(_, p) => {
                self.not_a_function(cmd, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Variable { pos, name, idents } => {
                let v = self.var(name, *pos)?;
                if idents.is_empty() {
                    self.not_a_function(cmd, &fin)?;
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, first, idents, cmd, fin)
            }
            Arg::Nil(pos) => self.fail(*pos, "nil", "nil is not a command"),
            Arg::Dot(_) | Arg::Bool(..) | Arg::Number(..) | Arg::Str(..) => {
                self.not_a_function(cmd, &fin)?;
                self.eval_arg(dot, first)
            }
        }
    }

    fn eval_arg(&mut self, dot: &Value, arg: &Arg) -> R<Value> {
        Ok(match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => Value::Nil,
            Arg::Bool(_, b) => Value::Bool(*b),
            Arg::Number(pos, n) => {
                let text = n.text.to_ascii_lowercase();
                let floaty = !text.contains("0x")
                    && !text.starts_with('\'')
                    && text.contains(['.', 'e', 'p']);
                match (floaty, n.int, n.float) {
                    (false, Some(i), _) => Value::Int(i),
                    (true, _, Some(f)) => Value::Float(f),
                    _ => return self.fail(*pos, &n.text, format!("{} overflows int", n.text)),
                }
            }
            Arg::Str(_, _, s) => Value::str(s.clone()),
            Arg::Pipe(_, p) => self.eval_pipeline(dot, p)?,
            Arg::Field { pos, .. } | Arg::Variable { pos, .. } => {
                let cmd = Command {
                    pos: *pos,
                    args: vec![arg.clone()],
                };
                return self.eval_command(dot, &cmd, None);
            }
            Arg::Identifier(pos, name) => {
                let cmd = Command {
                    pos: *pos,
                    args: vec![arg.clone()],
                };
                return self.eval_function(dot, name, &cmd, None);
            }
            Arg::Chain { pos, .. } => {
                let cmd = Command {
                    pos: *pos,
                    args: vec![arg.clone()],
                };
                return self.eval_command(dot, &cmd, None);
            }
        })
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        receiver: Value,
        node: &Arg,
        idents: &[String],
        cmd: &Command,
        fin: Option<Value>,
    ) -> R<Value> {
        let n = idents.len();
        let mut r = receiver;
        for id in &idents[..n - 1] {
            r = self.eval_field(dot, id, node, None, r)?;
        }
        let has_args = cmd.args.len() > 1 || fin.is_some();
        if has_args {
            if let Value::Scratch(s) = &r {
                let mut args = Vec::new();
                for a in &cmd.args[1..] {
                    let v = self.eval_arg(dot, a)?;
                    args.push(arg_value(v));
                }
                args.extend(fin.map(arg_value));
                let s = s.clone();
                let extra = std::cell::Cell::new(0);
                let r = funcs::scratch_method(&s, &idents[n - 1], args, &extra)
                    .or_else(|e| self.fail(cmd.pos, cmd, e.message(&idents[n - 1])))?;
                self.charge(extra.get() + 1, cmd.pos, cmd)?;
                return Ok(r);
            }
        }
        self.eval_field(dot, &idents[n - 1], node, Some((cmd, has_args)), r)
    }

    fn eval_field(
        &mut self,
        _dot: &Value,
        name: &str,
        node: &Arg,
        call: Option<(&Command, bool)>,
        receiver: Value,
    ) -> R<Value> {
        let has_args = call.is_some_and(|(_, a)| a);
        match &receiver {
            Value::NoValue | Value::Nil => {
                if self.opts.error_on_missing_key {
                    return self.fail(
                        node.pos(),
                        node,
                        format!("nil data; no entry for key {name:?}"),
                    );
                }
                Ok(Value::NoValue)
            }
            Value::Record(r) => {
                let Some(v) = r.get(name) else {
                    return self.fail(
                        node.pos(),
                        node,
                        format!("can't evaluate field {name} in type {}", r.type_name),
                    );
                };
                if has_args {
                    return self.fail(
                        node.pos(),
                        node,
                        format!("{name} has arguments but cannot be invoked as function"),
                    );
                }
                Ok(v.clone())
            }
            Value::Map(m) => {
                if has_args {
                    return self.fail(
                        node.pos(),
                        node,
                        format!("{name} is not a method but has arguments"),
                    );
                }
                match m.entries.get(name) {
                    Some(v) => Ok(v.clone()),
                    None if self.opts.error_on_missing_key => self.fail(
                        node.pos(),
                        node,
                        format!("map has no entry for key {name:?}"),
                    ),
                    None => Ok(m.zero.clone()),
                }
            }
            Value::Scratch(s) => {
                let s = s.clone();
                let extra = std::cell::Cell::new(0);
                funcs::scratch_method(&s, name, Vec::new(), &extra)
                    .or_else(|e| self.fail(node.pos(), node, e.message(name)))
            }
            other => self.fail(
                node.pos(),
                node,
                format!("can't evaluate field {name} in type {}", other.type_name()),
            ),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        cmd: &Command,
        fin: Option<Value>,
    ) -> R<Value> {
        let rest = &cmd.args[1..];
        if name == "and" || name == "or" {
            if rest.is_empty() && fin.is_none() {
                return self.fail(
                    cmd.pos,
                    cmd,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                );
            }
            let mut last = Value::Nil;
            for a in rest {
                let v = self.eval_arg(dot, a)?;
                let t = v.is_true();
                if (name == "and" && !t) || (name == "or" && t) {
                    return Ok(v);
                }
                last = v;
            }
            if let Some(f) = fin {
                return Ok(f);
            }
            return Ok(last);
        }
        let mut args = Vec::with_capacity(rest.len() + 1);
        for a in rest {
            let v = self.eval_arg(dot, a)?;
            args.push(arg_value(v));
        }
        if let Some(f) = fin {
            args.push(arg_value(f));
        }
        let r = match name {
            "scratch" => {
                if !args.is_empty() {
                    Err(CallErr::Plain(format!(
                        "wrong number of args for scratch: want 0 got {}",
                        args.len()
                    )))
                } else {
                    Ok(Value::Scratch(self.scratch.clone()))
                }
            }
            "executeTemplate" => {
                let tname = match args.first() {
                    Some(Value::String(s)) => s.clone(),
                    _ => return self.fail(
                        cmd.pos,
                        cmd,
                        "error calling executeTemplate: the first argument must be a template name",
                    ),
                };
                if args.len() > 2 {
                    return self.fail(cmd.pos, cmd, format!("error calling executeTemplate: executeTemplate: wrong number of arguments, expected 1 or 2, but got {}", args.len()));
                }
                // A missing or nil context is Go's invalid value, as
                // consul-template passes `nil` to ExecuteTemplate.
                let d = match args.get(1) {
                    None | Some(Value::Nil) => Value::NoValue,
                    Some(v) => v.clone(),
                };
                return self.execute_template(&tname, d, cmd);
            }
            _ => match crate::data::call(self, name, &args) {
                Some(r) => r,
                None => funcs::call(name, &args, self.opts, self.limits),
            },
        };
        let v = r.or_else(|e| self.fail(cmd.pos, cmd, e.message(name)))?;
        self.charge(funcs::cost(name, &args, &v), cmd.pos, cmd)?;
        Ok(v)
    }

    /// Counts work against the render's budget, so no template runs for
    /// long (quadratic string building, scans of large lists in loops).
    fn charge(&mut self, units: u64, pos: usize, ctx: &dyn ToString) -> R<()> {
        self.work = self.work.saturating_add(units);
        if self.work > self.limits.max_work {
            return self.fail(
                pos,
                ctx.to_string(),
                format!(
                    "the render exceeds its work limit of {}",
                    self.limits.max_work
                ),
            );
        }
        Ok(())
    }
}
