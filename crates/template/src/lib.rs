//! consul-template's template language for Praetor (issue 18, item 2): Go
//! `text/template` syntax with consul-template's data functions (`key`,
//! `keyExists`, `keyOrDefault`, `ls`, `safeLs`, `tree`, `safeTree`,
//! `service`, `services`, `node`, `nodes`, `env`, `file`) and helpers, so
//! existing consul-template templates render unchanged.
//!
//! This crate owns parsing and rendering only. It never performs I/O, reads a
//! clock or talks HTTP: every datum comes from the caller's [`Source`], and
//! `timestamp` uses the instant in [`RenderOptions`]. The CLI (`praetor
//! template`) implements `Source` with blocking queries against the agent.
//!
//! # Why our own engine
//!
//! The issue asks for a maintained Rust implementation of Go templates if one
//! fits. The candidate is `gtmpl` (crates.io): its last release, 0.7.1, is of
//! 6 August 2021 and its manifest marks it `passively-maintained`; forks
//! (`gtmpl-ng`, `go-template`) carry the same design. It does not fit:
//! - custom functions are plain `fn(&[Value]) -> Result<Value, FuncError>`
//!   pointers (`gtmpl_value::Func`), so a data function cannot reach a
//!   caller's data source or record the dependencies it touched without
//!   global state;
//! - its lexer runs on a spawned OS thread per parse, feeding a channel;
//! - it has no bounds on template size, nesting, iterations or output, so
//!   hostile templates are not contained;
//! - `range` over a map walks a `HashMap` in hash order (its own tests sort
//!   the output's characters to pass), while Go ranges in key order, which
//!   consul-template output depends on (`byTag`, `byKey`, `explode`);
//! - `range … else` runs the `else` list even after iterating
//!   (`walk_range` in 0.7.1's `exec.rs`).
//!
//! So the engine is written here, following Go's `text/template` lexer,
//! parser and executor, with its own tests and a corpus of consul-template's
//! documented examples (`tests/corpus/`).
//!
//! # Driving it (what `praetor template` does)
//!
//! 1. [`Template::parse_with`] once per template (delimiters from the config).
//! 2. [`Template::render`] with a [`Source`] that answers from a cache of
//!    fetched data and says [`Lookup::Pending`] for anything not fetched yet.
//! 3. For each of [`Rendered::dependencies`]: fetch
//!    [`Dependency::consul_api_path`] (as a blocking query), turn the body
//!    into [`Data`] with [`Data::from_consul_json`], store it in the cache;
//!    on any change, render again.
//! 4. Write [`Rendered::output`] only when [`Rendered::is_complete`].
//!
//! # Rendering model
//!
//! As consul-template does, a render runs the whole template: a data
//! function whose data the source does not have yet yields an empty value
//! and is reported in [`Rendered::missing`]; the caller fetches it, watches
//! every dependency in [`Rendered::dependencies`], and renders again. Output
//! is only to be written when [`Rendered::is_complete`]. `key` of a key that
//! does not exist stays missing (it blocks, as in consul-template);
//! `keyOrDefault` renders its default and is complete; `safeLs`/`safeTree`
//! of an empty prefix stay missing.
//!
//! # Supported
//!
//! Go syntax: `{{ }}` and custom delimiters, `{{-`/`-}}` trimming, comments,
//! pipelines, variables (`:=`, `=`, `$`), `if`/`else if`/`else`, `range`
//! (lists, maps in key order, integers; `$i, $v :=`; `else`; `break`,
//! `continue`), `with`/`else with`/`else`, `define`/`template`/`block`, field
//! chains on maps and records, and Go's predefined functions (`and`, `or`,
//! `not`, `len`, `index`, `slice`, `print`, `printf`, `println`, `html`, `js`,
//! `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`).
//!
//! consul-template functions: the data functions above plus `datacenters`,
//! `mustEnv` and `envOrDefault`; `scratch` (`Key`, `Get`, `Set`, `SetX`, `MapSet`,
//! `MapSetX`, `MapValues`); `executeTemplate`; `base64Encode`/`Decode` (and
//! URL forms), `byKey`, `byTag`, `byMeta`, `contains`, `containsAll`,
//! `containsAny`, `containsNone`, `containsNotAll`, `explode`, `explodeMap`,
//! `in`, `indent`, `loop`, `join`, `trim`, `trimPrefix`, `trimSuffix`,
//! `trimSpace`, `parseBool`, `parseFloat`, `parseInt`, `parseUint`,
//! `parseJSON`, `regexMatch`, `regexReplaceAll`, `replaceAll`, `split`,
//! `splitToMap`, `timestamp`, `toLower`, `toUpper`, `toTitle`, `toJSON`,
//! `toJSONPretty`, `toUnescapedJSON`, `toUnescapedJSONPretty`, `toYAML`, and
//! the math functions `add`, `subtract`, `multiply`, `divide`, `modulo`,
//! `minimum`, `maximum`.
//!
//! Not supported (a template using them fails to parse, naming the
//! function): Vault, Nomad and Connect functions (`secret`, `secrets`,
//! `pkiCert`, `caLeaf`, `caRoots`, `connect`, `nomad*`), `partitions`, `peerings`, `exportedServices`, `importedServices`,
//! `plugin`, `sockaddr`, `writeToFile`, `toTOML`, `parseYAML`, `sha256Hex`,
//! `md5sum`, `hmacSHA256Hex`, `byPort`, `mergeMap*`, `spew_*` and `sprig_*`.
//! Go's complex numbers, unsigned integers as a type of their own, and
//! method calls other than the scratchpad's are not modelled.

#![warn(missing_docs)]

mod consul_json;
mod data;
mod dependency;
mod encode;
mod error;
mod exec;
mod format;
mod funcs;
mod helpers;
mod lex;
mod parse;
mod source;
mod timefmt;
mod value;

use std::collections::BTreeMap;

pub use dependency::{
    parse_key, parse_key_list, parse_node, parse_nodes, parse_service, parse_services, Dependency,
    DependencyError, Scope,
};
pub use error::TemplateError;
pub use source::{
    aggregated_status, CatalogNode, Check, Data, HealthEntry, KvEntry, Lookup, NodeInfo,
    NodeService, ServiceAddress, Source, SourceError,
};
pub use value::Value;

/// Bounds on what one template may cost; exceeding one is an error, never a
/// panic or an unbounded allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest template text accepted, in bytes.
    pub max_template_bytes: usize,
    /// Deepest nesting of control structures and parentheses at parse time,
    /// and of control structures, pipelines and `template` calls at run time.
    pub max_depth: usize,
    /// Most `range` iterations in one render (also the longest list `loop`
    /// or any function may produce).
    pub max_iterations: u64,
    /// Largest output, and largest string any function may produce, in bytes.
    pub max_output_bytes: usize,
    /// Work budget of one render: every function call is charged what it
    /// returns plus what it scans (a byte of a string one unit, an element
    /// of a collection 32), every byte written one. Bounds the time any
    /// template can take (a fraction of a second at the default).
    pub max_work: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_template_bytes: 1 << 20,
            max_depth: 200,
            max_iterations: 1_000_000,
            max_output_bytes: 16 << 20,
            max_work: 1 << 28,
        }
    }
}

/// How to parse a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Left delimiter (consul-template's `left_delimiter`); empty means `{{`.
    pub left_delimiter: String,
    /// Right delimiter (`right_delimiter`); empty means `}}`.
    pub right_delimiter: String,
    /// Bounds for parsing and for every render of the template.
    pub limits: Limits,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            left_delimiter: "{{".into(),
            right_delimiter: "}}".into(),
            limits: Limits::default(),
        }
    }
}

/// How to render a template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// consul-template's `error_on_missing_key`: a missing map key (or a
    /// field of nil data) fails the render instead of yielding a zero value.
    pub error_on_missing_key: bool,
    /// The current time in Unix seconds, for `timestamp` (which fails
    /// without it: this crate reads no clock).
    pub now_unix: Option<i64>,
}

/// The result of one render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The rendered text (partial while [`Rendered::missing`] is not empty).
    pub output: String,
    /// Every dependency the render touched, in first-use order: the caller
    /// watches these (with blocking queries) and renders again on change.
    /// `Env` entries are read once and need no watch.
    pub dependencies: Vec<Dependency>,
    /// The dependencies whose data was not available: while any remain the
    /// output must not be written (consul-template's rule).
    pub missing: Vec<Dependency>,
}

impl Rendered {
    /// Whether all data was available, so `output` may be written.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Functions consul-template has that this engine does not.
const UNSUPPORTED: &[&str] = &[
    "secret",
    "secrets",
    "pkiCert",
    "caLeaf",
    "caRoots",
    "connect",
    "partitions",
    "peerings",
    "exportedServices",
    "importedServices",
    "plugin",
    "sockaddr",
    "writeToFile",
    "toTOML",
    "parseYAML",
    "sha256Hex",
    "md5sum",
    "hmacSHA256Hex",
    "byPort",
    "mergeMap",
    "mergeMapWithOverride",
    "nomadService",
    "nomadServices",
    "nomadVar",
    "nomadVarList",
    "nomadVarListSafe",
    "nomadVarExists",
];

/// A parsed template (with the templates it `define`s), ready to render any
/// number of times.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    text: String,
    trees: BTreeMap<String, parse::List>,
    limits: Limits,
}

impl Template {
    /// Parses `text` with the default delimiters and limits; `name` (the
    /// file name, for the CLI) appears in every error.
    ///
    /// # Errors
    /// [`TemplateError::Parse`] with the line and Go's reason for malformed
    /// text, [`TemplateError::TooLarge`] past the size limit.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        Template::parse_with(name, text, &ParseOptions::default())
    }

    /// Parses `text` with the given delimiters and limits.
    ///
    /// # Errors
    /// As [`Template::parse`].
    pub fn parse_with(
        name: &str,
        text: &str,
        opts: &ParseOptions,
    ) -> Result<Template, TemplateError> {
        let limits = opts.limits.clone();
        if text.len() > limits.max_template_bytes {
            return Err(TemplateError::TooLarge {
                name: name.to_string(),
                size: text.len(),
                limit: limits.max_template_bytes,
            });
        }
        let left = if opts.left_delimiter.is_empty() {
            "{{"
        } else {
            &opts.left_delimiter
        };
        let right = if opts.right_delimiter.is_empty() {
            "}}"
        } else {
            &opts.right_delimiter
        };
        let parse_err = |pos: usize, reason: String| {
            let (line, _) = error::line_col(text, pos);
            TemplateError::Parse {
                name: name.to_string(),
                line,
                reason,
            }
        };
        let tokens = lex::lex(text, left, right).map_err(|e| parse_err(e.pos, e.reason))?;
        let parsed = parse::parse(name, tokens, limits.max_depth, &funcs::is_function).map_err(
            |e| {
                let reason = match UNSUPPORTED.iter().find(|f| {
                    e.reason == format!("function {:?} not defined", f)
                }) {
                    Some(f) => format!(
                        "function {f:?} not defined (consul-template has it; praetor does not support it)"
                    ),
                    None => e.reason,
                };
                parse_err(e.pos, reason)
            },
        )?;
        Ok(Template {
            name: name.to_string(),
            text: text.to_string(),
            trees: parsed.trees,
            limits,
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renders the template, asking `source` for data.
    ///
    /// # Errors
    /// [`TemplateError::Exec`] with line, column and reason when a function
    /// fails (a malformed dependency string, a source error, a bad argument),
    /// a field cannot be evaluated, or a limit is reached.
    pub fn render(
        &self,
        source: &mut dyn Source,
        opts: &RenderOptions,
    ) -> Result<Rendered, TemplateError> {
        let mut x = exec::Exec::new(&self.trees, source, opts, &self.limits, &self.name);
        match x.run(&self.name, Value::NoValue) {
            Ok(()) => Ok(Rendered {
                output: std::mem::take(&mut x.out),
                dependencies: std::mem::take(&mut x.used),
                missing: std::mem::take(&mut x.missing),
            }),
            Err(f) => {
                let (line, col) = error::line_col(&self.text, f.pos);
                Err(TemplateError::Exec {
                    name: self.name.clone(),
                    line,
                    col,
                    template: f.template,
                    context: f.context,
                    reason: f.reason,
                })
            }
        }
    }
}

/// A [`Source`] answering from a fixed table: what is absent is
/// [`Lookup::Pending`]. For tests, dry runs and examples.
#[derive(Debug, Clone, Default)]
pub struct StaticSource {
    /// The answers.
    pub data: std::collections::HashMap<Dependency, Data>,
}

impl StaticSource {
    /// Adds an answer.
    pub fn with(mut self, dep: Dependency, data: Data) -> Self {
        self.data.insert(dep, data);
        self
    }
}

impl Source for StaticSource {
    fn lookup(&mut self, dep: &Dependency) -> Result<Lookup, SourceError> {
        Ok(match self.data.get(dep) {
            Some(d) => Lookup::Ready(d.clone()),
            None => Lookup::Pending,
        })
    }
}

#[cfg(test)]
mod tests;
