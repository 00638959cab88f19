//! A subset of Go's `text/template` for `line_format` and `label_format`.
//!
//! Supported: literal text, `{{ .label }}` (a missing label is the empty
//! string, Loki's `missingkey=zero`), string/number/bool literals,
//! pipelines `{{ .a | ToUpper | printf "%s!" }}`, nested `( ... )`
//! commands, `{{if}}/{{else if}}/{{else}}/{{end}}`, `{{/* comments */}}`
//! and the trim markers `{{-` / `-}}`. Functions: see [`FUNCTIONS`];
//! an unknown function is a compile error, as in Go.

use std::fmt::Write as _;

use regex::Regex;

/// Functions a template may call.
pub(crate) const FUNCTIONS: &[&str] = &[
    "ToUpper",
    "ToLower",
    "upper",
    "lower",
    "title",
    "trim",
    "trimSpace",
    "TrimSpace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "Replace",
    "replace",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "default",
    "len",
    "printf",
    "print",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "count",
    "__line__",
    "__timestamp__",
];

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    source: String,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone)]
struct Pipeline {
    commands: Vec<Command>,
}

#[derive(Debug, Clone)]
struct Command {
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    Field(String),
    Dot,
    Lit(Value),
    Func(String),
    Sub(Pipeline),
}

/// A value during template execution.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Bool(b) => *b,
            Value::Nil => false,
        }
    }

    fn render(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => go_float(*f),
            Value::Bool(b) => b.to_string(),
            Value::Nil => "<no value>".to_string(),
        }
    }

    fn as_int(&self) -> Result<i64, String> {
        match self {
            Value::Int(i) => Ok(*i),
            Value::Float(f) => Ok(*f as i64),
            Value::Str(s) => Ok(s.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0)),
            Value::Bool(b) => Ok(i64::from(*b)),
            Value::Nil => Ok(0),
        }
    }

    fn as_float(&self) -> f64 {
        match self {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Str(s) => s.trim().parse().unwrap_or(0.0),
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Nil => 0.0,
        }
    }
}

/// What a template reads while rendering.
pub(crate) struct Context<'a> {
    /// Label lookup.
    pub(crate) label: &'a dyn Fn(&str) -> Option<String>,
    /// The current line, for `__line__`.
    pub(crate) line: &'a str,
    /// The entry's timestamp, for `__timestamp__`.
    pub(crate) timestamp_ns: i64,
}

impl Template {
    /// Compiles `source`; the error reads like Go's
    /// (`template: line:1: function "foo" not defined`).
    pub(crate) fn new(source: &str) -> Result<Template, String> {
        let mut parser = TemplateParser {
            src: source,
            pos: 0,
        };
        let (nodes, end) = parser.nodes()?;
        if let Some(keyword) = end {
            return Err(parser.error(&format!("unexpected {{{{{keyword}}}}}")));
        }
        Ok(Template {
            source: source.to_string(),
            nodes,
        })
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template.
    pub(crate) fn render(&self, ctx: &Context<'_>) -> Result<String, String> {
        let mut out = String::new();
        render_nodes(&self.nodes, ctx, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(nodes: &[Node], ctx: &Context<'_>, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Action(pipeline) => out.push_str(&eval_pipeline(pipeline, ctx)?.render()),
            Node::If {
                branches,
                otherwise,
            } => {
                let mut done = false;
                for (cond, body) in branches {
                    if eval_pipeline(cond, ctx)?.truthy() {
                        render_nodes(body, ctx, out)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    render_nodes(otherwise, ctx, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(pipeline: &Pipeline, ctx: &Context<'_>) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for command in &pipeline.commands {
        piped = Some(eval_command(command, ctx, piped)?);
    }
    Ok(piped.unwrap_or(Value::Nil))
}

fn eval_arg(arg: &Arg, ctx: &Context<'_>) -> Result<Value, String> {
    match arg {
        Arg::Field(name) => Ok(Value::Str((ctx.label)(name).unwrap_or_default())),
        Arg::Dot => Ok(Value::Str(String::new())),
        Arg::Lit(v) => Ok(v.clone()),
        Arg::Func(name) => call(name, Vec::new(), ctx),
        Arg::Sub(p) => eval_pipeline(p, ctx),
    }
}

fn eval_command(
    command: &Command,
    ctx: &Context<'_>,
    piped: Option<Value>,
) -> Result<Value, String> {
    let first = &command.args[0];
    if let Arg::Func(name) = first {
        let mut args = Vec::with_capacity(command.args.len());
        for arg in &command.args[1..] {
            args.push(eval_arg(arg, ctx)?);
        }
        if let Some(value) = piped {
            args.push(value);
        }
        return call(name, args, ctx);
    }
    if command.args.len() > 1 || piped.is_some() {
        return Err("can't give argument to non-function".into());
    }
    eval_arg(first, ctx)
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn s(v: &Value) -> String {
    v.render()
}

fn compare(name: &str, a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    let ordering = match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => a
            .as_float()
            .partial_cmp(&b.as_float())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) if name == "eq" || name == "ne" => x.cmp(y),
        _ => {
            return Err(format!(
                "error calling {name}: incompatible types for comparison"
            ));
        }
    };
    Ok(ordering)
}

fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_letter = false;
    for c in text.chars() {
        if !previous_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn call(name: &str, args: Vec<Value>, ctx: &Context<'_>) -> Result<Value, String> {
    let str1 = |f: fn(&str) -> String| -> Result<Value, String> {
        want(name, &args, 1)?;
        Ok(Value::Str(f(&s(&args[0]))))
    };
    match name {
        "ToUpper" | "upper" => str1(|x| x.to_uppercase()),
        "ToLower" | "lower" => str1(|x| x.to_lowercase()),
        "title" => str1(title),
        "trim" | "trimSpace" | "TrimSpace" => str1(|x| x.trim().to_string()),
        "Trim" | "TrimLeft" | "TrimRight" => {
            want(name, &args, 2)?;
            let cutset: Vec<char> = s(&args[1]).chars().collect();
            let text = s(&args[0]);
            let out = match name {
                "Trim" => text.trim_matches(cutset.as_slice()),
                "TrimLeft" => text.trim_start_matches(cutset.as_slice()),
                _ => text.trim_end_matches(cutset.as_slice()),
            };
            Ok(Value::Str(out.to_string()))
        }
        "trimAll" => {
            want(name, &args, 2)?;
            let cutset: Vec<char> = s(&args[0]).chars().collect();
            Ok(Value::Str(
                s(&args[1]).trim_matches(cutset.as_slice()).to_string(),
            ))
        }
        "TrimPrefix" | "TrimSuffix" | "trimPrefix" | "trimSuffix" => {
            want(name, &args, 2)?;
            let (text, affix) = if name.starts_with('T') {
                (s(&args[0]), s(&args[1]))
            } else {
                (s(&args[1]), s(&args[0]))
            };
            let out = if name.ends_with("refix") {
                text.strip_prefix(affix.as_str()).unwrap_or(&text)
            } else {
                text.strip_suffix(affix.as_str()).unwrap_or(&text)
            };
            Ok(Value::Str(out.to_string()))
        }
        "Replace" => {
            want(name, &args, 4)?;
            let n = args[3].as_int()?;
            let text = s(&args[0]);
            let out = if n < 0 {
                text.replace(&s(&args[1]), &s(&args[2]))
            } else {
                text.replacen(&s(&args[1]), &s(&args[2]), n as usize)
            };
            Ok(Value::Str(out))
        }
        "replace" => {
            want(name, &args, 3)?;
            Ok(Value::Str(s(&args[2]).replace(&s(&args[0]), &s(&args[1]))))
        }
        "trunc" => {
            want(name, &args, 2)?;
            let n = args[0].as_int()?;
            let chars: Vec<char> = s(&args[1]).chars().collect();
            let len = chars.len() as i64;
            let out: String = if n >= 0 {
                chars[..n.min(len) as usize].iter().collect()
            } else {
                chars[(len + n).max(0) as usize..].iter().collect()
            };
            Ok(Value::Str(out))
        }
        "substr" => {
            want(name, &args, 3)?;
            let text = s(&args[2]);
            let len = text.len() as i64;
            let start = args[0].as_int()?;
            let end = args[1].as_int()?;
            let start = if start < 0 { 0 } else { start.min(len) } as usize;
            let end = if end < 0 || end > len { len } else { end } as usize;
            let out = text
                .get(start..end.max(start))
                .unwrap_or_default()
                .to_string();
            Ok(Value::Str(out))
        }
        "contains" | "hasPrefix" | "hasSuffix" => {
            want(name, &args, 2)?;
            let needle = s(&args[0]);
            let text = s(&args[1]);
            let found = match name {
                "contains" => text.contains(needle.as_str()),
                "hasPrefix" => text.starts_with(needle.as_str()),
                _ => text.ends_with(needle.as_str()),
            };
            Ok(Value::Bool(found))
        }
        "repeat" => {
            want(name, &args, 2)?;
            let n = args[0].as_int()?.clamp(0, 10_000) as usize;
            Ok(Value::Str(s(&args[1]).repeat(n)))
        }
        "default" => {
            want(name, &args, 2)?;
            if args[1].truthy() {
                Ok(args[1].clone())
            } else {
                Ok(args[0].clone())
            }
        }
        "len" => {
            want(name, &args, 1)?;
            match &args[0] {
                Value::Str(text) => Ok(Value::Int(text.len() as i64)),
                other => Err(format!("error calling len: len of type {other:?}")),
            }
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            Ok(Value::Str(sprintf(&s(&args[0]), &args[1..])))
        }
        "print" => {
            let mut out = String::new();
            for (i, arg) in args.iter().enumerate() {
                let both_non_strings =
                    i > 0 && !matches!(arg, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_));
                if both_non_strings {
                    out.push(' ');
                }
                out.push_str(&arg.render());
            }
            Ok(Value::Str(out))
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let ordering = compare(name, &args[0], &args[1])?;
            let result = match name {
                "eq" => ordering.is_eq(),
                "ne" => ordering.is_ne(),
                "lt" => ordering.is_lt(),
                "le" => ordering.is_le(),
                "gt" => ordering.is_gt(),
                _ => ordering.is_ge(),
            };
            Ok(Value::Bool(result))
        }
        "and" | "or" => {
            if args.is_empty() {
                return Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            for arg in &args[..args.len() - 1] {
                if arg.truthy() != (name == "and") {
                    return Ok(arg.clone());
                }
            }
            Ok(args[args.len() - 1].clone())
        }
        "not" => {
            want(name, &args, 1)?;
            Ok(Value::Bool(!args[0].truthy()))
        }
        "int" => {
            want(name, &args, 1)?;
            Ok(Value::Int(args[0].as_int()?))
        }
        "float64" => {
            want(name, &args, 1)?;
            Ok(Value::Float(args[0].as_float()))
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            want(name, &args, 2)?;
            let a = args[0].as_int()?;
            let b = args[1].as_int()?;
            let out = match name {
                "add" => a.wrapping_add(b),
                "sub" => a.wrapping_sub(b),
                "mul" => a.wrapping_mul(b),
                _ if b == 0 => return Err("integer divide by zero".into()),
                "div" => a.wrapping_div(b),
                _ => a.wrapping_rem(b),
            };
            Ok(Value::Int(out))
        }
        "addf" | "subf" | "mulf" | "divf" => {
            want(name, &args, 2)?;
            let a = args[0].as_float();
            let b = args[1].as_float();
            let out = match name {
                "addf" => a + b,
                "subf" => a - b,
                "mulf" => a * b,
                _ => a / b,
            };
            Ok(Value::Float(out))
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want(name, &args, 3)?;
            let re = Regex::new(&s(&args[0])).map_err(|e| e.to_string())?;
            let text = s(&args[1]);
            let replacement = s(&args[2]);
            let out = if name == "regexReplaceAll" {
                re.replace_all(&text, replacement.as_str()).into_owned()
            } else {
                re.replace_all(&text, regex::NoExpand(&replacement))
                    .into_owned()
            };
            Ok(Value::Str(out))
        }
        "count" => {
            want(name, &args, 2)?;
            let re = Regex::new(&s(&args[0])).map_err(|e| e.to_string())?;
            Ok(Value::Int(re.find_iter(&s(&args[1])).count() as i64))
        }
        "__line__" => Ok(Value::Str(ctx.line.to_string())),
        "__timestamp__" => Ok(Value::Int(ctx.timestamp_ns)),
        other => Err(format!("function {other:?} not defined")),
    }
}

/// Go's `%v` of a float: shortest representation, exponent for very large
/// or small magnitudes.
fn go_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let text = format!("{v:e}");
        // Rust: 1e21, Go: 1e+21.
        if let Some((mantissa, exp)) = text.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
        return text;
    }
    format!("{v}")
}

/// A small `fmt.Sprintf`: verbs `%s %v %d %f %g %q %x %t %%` with flags
/// `-` and `0`, width and precision.
fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next_arg = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next_arg += 1;
        let body = match (verb, arg) {
            ('s' | 'v', Value::Str(text)) => match precision {
                Some(p) => text.chars().take(p).collect(),
                None => text.clone(),
            },
            ('v', other) => other.render(),
            ('q', Value::Str(text)) => format!("{text:?}"),
            ('d', Value::Int(i)) => i.to_string(),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('x', Value::Str(text)) => text.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F', Value::Float(_) | Value::Int(_)) => {
                format!("{:.*}", precision.unwrap_or(6), arg.as_float())
            }
            ('g', Value::Float(_) | Value::Int(_)) => go_float(arg.as_float()),
            ('t', Value::Bool(b)) => b.to_string(),
            (verb, Value::Str(text)) => format!("%!{verb}(string={text})"),
            (verb, Value::Int(i)) => format!("%!{verb}(int={i})"),
            (verb, Value::Float(f)) => format!("%!{verb}(float64={})", go_float(*f)),
            (verb, Value::Bool(b)) => format!("%!{verb}(bool={b})"),
            (verb, Value::Nil) => format!("%!{verb}(<nil>)"),
        };
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(width - len));
        } else {
            let pad = if zero { "0" } else { " " };
            out.push_str(&pad.repeat(width - len));
            out.push_str(&body);
        }
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| match a {
                Value::Str(text) => format!("string={text}"),
                Value::Int(i) => format!("int={i}"),
                other => other.render(),
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

struct TemplateParser<'a> {
    src: &'a str,
    pos: usize,
}

/// Tokens inside `{{ }}`.
#[derive(Debug, Clone, PartialEq)]
enum ATok {
    Field(String),
    Dot,
    Str(String),
    Int(i64),
    Float(f64),
    Ident(String),
    Pipe,
    LParen,
    RParen,
}

impl TemplateParser<'_> {
    fn error(&self, message: &str) -> String {
        let line = self.src[..self.pos.min(self.src.len())]
            .matches('\n')
            .count()
            + 1;
        format!("template: line:{line}: {message}")
    }

    /// Parses nodes until the end of input or an `{{else...}}`/`{{end}}`,
    /// returned as the keyword text (`end`, `else`, `else if ...`) with the
    /// condition tokens for `else if`.
    fn nodes(&mut self) -> Result<(Vec<Node>, Option<String>), String> {
        let mut nodes = Vec::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(open) = rest.find("{{") else {
                if !rest.is_empty() {
                    nodes.push(Node::Text(rest.to_string()));
                }
                self.pos = self.src.len();
                return Ok((nodes, None));
            };
            let mut text = rest[..open].to_string();
            self.pos += open + 2;
            let trim_left = self.src[self.pos..].starts_with("- ")
                || self.src[self.pos..].starts_with("-\t")
                || self.src[self.pos..].starts_with("-\n");
            if trim_left {
                self.pos += 1;
                text = text.trim_end().to_string();
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            let (tokens, trim_right) = self.action_tokens()?;
            if trim_right {
                let rest = &self.src[self.pos..];
                self.pos += rest.len() - rest.trim_start().len();
            }
            match tokens.first() {
                None => {
                    // Comment or empty action.
                    continue;
                }
                Some(ATok::Ident(word)) if word == "if" => {
                    let cond = self.pipeline_of(&tokens[1..])?;
                    let mut branches = vec![];
                    let mut otherwise = Vec::new();
                    let mut current_cond = cond;
                    loop {
                        let (body, end) = self.nodes()?;
                        match end.as_deref() {
                            Some("end") => {
                                branches.push((current_cond, body));
                                break;
                            }
                            Some("else") => {
                                branches.push((current_cond, body));
                                let (else_body, else_end) = self.nodes()?;
                                if else_end.as_deref() != Some("end") {
                                    return Err(self.error("expected end; found EOF"));
                                }
                                otherwise = else_body;
                                break;
                            }
                            Some(other) if other.starts_with("else if ") => {
                                branches.push((current_cond, body));
                                let cond_src = &other["else if ".len()..];
                                let cond_tokens = self.lex_action(cond_src)?;
                                current_cond = self.pipeline_of(&cond_tokens)?;
                            }
                            _ => return Err(self.error("unexpected EOF")),
                        }
                    }
                    nodes.push(Node::If {
                        branches,
                        otherwise,
                    });
                }
                Some(ATok::Ident(word)) if word == "end" => {
                    return Ok((nodes, Some("end".into())));
                }
                Some(ATok::Ident(word)) if word == "else" => {
                    if tokens.len() == 1 {
                        return Ok((nodes, Some("else".into())));
                    }
                    if tokens[1] == ATok::Ident("if".into()) {
                        let cond = render_tokens(&tokens[2..]);
                        return Ok((nodes, Some(format!("else if {cond}"))));
                    }
                    return Err(self.error("unexpected tokens after else"));
                }
                Some(ATok::Ident(word))
                    if matches!(
                        word.as_str(),
                        "range" | "with" | "define" | "template" | "block"
                    ) =>
                {
                    return Err(self.error(&format!("{{{{{word}}}}} is not supported")));
                }
                Some(_) => nodes.push(Node::Action(self.pipeline_of(&tokens)?)),
            }
        }
    }

    /// Lexes one action up to `}}`; returns its tokens and whether it ended
    /// with `-}}`.
    fn action_tokens(&mut self) -> Result<(Vec<ATok>, bool), String> {
        let rest = &self.src[self.pos..];
        let trimmed = rest.trim_start();
        if trimmed.starts_with("/*") {
            let start = self.pos + (rest.len() - trimmed.len());
            let Some(end) = self.src[start..].find("*/") else {
                return Err(self.error("unclosed comment"));
            };
            self.pos = start + end + 2;
            let after = &self.src[self.pos..];
            let after_trim = after.trim_start();
            let skip = after.len() - after_trim.len();
            if let Some(r) = after_trim.strip_prefix("-}}") {
                self.pos += skip + (after_trim.len() - r.len());
                return Ok((Vec::new(), true));
            }
            if let Some(r) = after_trim.strip_prefix("}}") {
                self.pos += skip + (after_trim.len() - r.len());
                return Ok((Vec::new(), false));
            }
            return Err(self.error("comment ends before closing delimiter"));
        }
        // Find the closing delimiter outside string literals.
        let bytes = rest.as_bytes();
        let mut i = 0;
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) => {
                    if b == b'\\' && q == b'"' {
                        i += 1;
                    } else if b == q {
                        quote = None;
                    }
                }
                None => {
                    if b == b'"' || b == b'`' {
                        quote = Some(b);
                    } else if bytes[i..].starts_with(b"}}") {
                        let trim_right = rest[..i].ends_with(" -")
                            || rest[..i].ends_with("\t-")
                            || rest[..i].ends_with("\n-");
                        let inner_end = if trim_right { i - 1 } else { i };
                        let inner = &rest[..inner_end];
                        let tokens = self.lex_action(inner)?;
                        self.pos += i + 2;
                        return Ok((tokens, trim_right));
                    }
                }
            }
            i += 1;
        }
        Err(self.error("unclosed action"))
    }

    fn lex_action(&self, inner: &str) -> Result<Vec<ATok>, String> {
        let mut tokens = Vec::new();
        let chars: Vec<char> = inner.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            match c {
                '|' => {
                    tokens.push(ATok::Pipe);
                    i += 1;
                }
                '(' => {
                    tokens.push(ATok::LParen);
                    i += 1;
                }
                ')' => {
                    tokens.push(ATok::RParen);
                    i += 1;
                }
                '.' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                        j += 1;
                    }
                    if j == start {
                        tokens.push(ATok::Dot);
                    } else {
                        tokens.push(ATok::Field(chars[start..j].iter().collect()));
                    }
                    if j < chars.len() && chars[j] == '.' {
                        return Err(self.error("nested field access is not supported"));
                    }
                    i = j;
                }
                '"' => {
                    let mut j = i + 1;
                    let mut raw = String::from("\"");
                    while j < chars.len() && chars[j] != '"' {
                        if chars[j] == '\\' && j + 1 < chars.len() {
                            raw.push(chars[j]);
                            j += 1;
                        }
                        raw.push(chars[j]);
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(self.error("unterminated quoted string"));
                    }
                    raw.push('"');
                    let decoded = unquote(&raw).ok_or_else(|| self.error("invalid syntax"))?;
                    tokens.push(ATok::Str(decoded));
                    i = j + 1;
                }
                '`' => {
                    let mut j = i + 1;
                    while j < chars.len() && chars[j] != '`' {
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(self.error("unterminated raw quoted string"));
                    }
                    tokens.push(ATok::Str(chars[i + 1..j].iter().collect()));
                    i = j + 1;
                }
                c if c.is_ascii_digit() || c == '-' || c == '+' => {
                    let mut j = i + 1;
                    while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '.') {
                        j += 1;
                    }
                    let text: String = chars[i..j].iter().collect();
                    if let Ok(int) = text.parse::<i64>() {
                        tokens.push(ATok::Int(int));
                    } else if let Ok(float) = text.parse::<f64>() {
                        tokens.push(ATok::Float(float));
                    } else {
                        return Err(self.error(&format!("bad number syntax: {text:?}")));
                    }
                    i = j;
                }
                c if c.is_alphabetic() || c == '_' => {
                    let mut j = i + 1;
                    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                        j += 1;
                    }
                    tokens.push(ATok::Ident(chars[i..j].iter().collect()));
                    i = j;
                }
                other => {
                    return Err(self.error(&format!("unexpected {other:?} in command")));
                }
            }
        }
        Ok(tokens)
    }

    fn pipeline_of(&self, tokens: &[ATok]) -> Result<Pipeline, String> {
        let mut pos = 0;
        let pipeline = self.pipeline(tokens, &mut pos)?;
        if pos != tokens.len() {
            return Err(self.error("unexpected \")\" in command"));
        }
        Ok(pipeline)
    }

    fn pipeline(&self, tokens: &[ATok], pos: &mut usize) -> Result<Pipeline, String> {
        let mut commands = Vec::new();
        loop {
            let mut args = Vec::new();
            while let Some(tok) = tokens.get(*pos) {
                let arg = match tok {
                    ATok::Pipe | ATok::RParen => break,
                    ATok::Field(name) => Arg::Field(name.clone()),
                    ATok::Dot => Arg::Dot,
                    ATok::Str(text) => Arg::Lit(Value::Str(text.clone())),
                    ATok::Int(i) => Arg::Lit(Value::Int(*i)),
                    ATok::Float(f) => Arg::Lit(Value::Float(*f)),
                    ATok::Ident(word) => match word.as_str() {
                        "true" => Arg::Lit(Value::Bool(true)),
                        "false" => Arg::Lit(Value::Bool(false)),
                        "nil" => Arg::Lit(Value::Nil),
                        name if FUNCTIONS.contains(&name) => Arg::Func(name.to_string()),
                        name => {
                            return Err(self.error(&format!("function {name:?} not defined")));
                        }
                    },
                    ATok::LParen => {
                        *pos += 1;
                        let inner = self.pipeline(tokens, pos)?;
                        if tokens.get(*pos) != Some(&ATok::RParen) {
                            return Err(self.error("unclosed left paren"));
                        }
                        Arg::Sub(inner)
                    }
                };
                args.push(arg);
                *pos += 1;
            }
            if args.is_empty() {
                return Err(self.error("missing value for command"));
            }
            if !commands.is_empty() && !matches!(args[0], Arg::Func(_)) {
                return Err(self.error("non executable command in pipeline stage 2"));
            }
            commands.push(Command { args });
            if tokens.get(*pos) == Some(&ATok::Pipe) {
                *pos += 1;
                continue;
            }
            return Ok(Pipeline { commands });
        }
    }
}

/// Renders tokens back to text, for `else if` conditions.
fn render_tokens(tokens: &[ATok]) -> String {
    let parts: Vec<String> = tokens
        .iter()
        .map(|t| match t {
            ATok::Field(name) => format!(".{name}"),
            ATok::Dot => ".".to_string(),
            ATok::Str(text) => format!("{text:?}"),
            ATok::Int(i) => i.to_string(),
            ATok::Float(f) => format!("{f:?}"),
            ATok::Ident(word) => word.clone(),
            ATok::Pipe => "|".to_string(),
            ATok::LParen => "(".to_string(),
            ATok::RParen => ")".to_string(),
        })
        .collect();
    parts.join(" ")
}

/// Decodes a double-quoted Go string literal (quotes included).
fn unquote(raw: &str) -> Option<String> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, labels: &[(&str, &str)]) -> Result<String, String> {
        let template = Template::new(source)?;
        let lookup = |name: &str| {
            labels
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        template.render(&Context {
            label: &lookup,
            line: "the line",
            timestamp_ns: 42,
        })
    }

    #[test]
    fn fields_and_text() {
        let labels = [("a", "x"), ("b", "Y")];
        assert_eq!(render("{{.a}} text {{ .b }}", &labels).unwrap(), "x text Y");
        assert_eq!(render("[{{.missing}}]", &labels).unwrap(), "[]");
        assert_eq!(render("plain", &labels).unwrap(), "plain");
    }

    #[test]
    fn functions_and_pipelines() {
        let labels = [("a", "hello world"), ("n", "42"), ("e", "")];
        let cases = [
            ("{{ .a | ToUpper }}", "HELLO WORLD"),
            ("{{ ToUpper .a }}", "HELLO WORLD"),
            ("{{ .a | upper | lower }}", "hello world"),
            ("{{ .a | title }}", "Hello World"),
            ("{{ trim \"  x  \" }}", "x"),
            ("{{ .e | default \"none\" }}", "none"),
            ("{{ .a | default \"none\" }}", "hello world"),
            ("{{ printf \"%s=%5s|\" \"k\" .n }}", "k=   42|"),
            ("{{ printf \"%-4s|\" .n }}", "42  |"),
            ("{{ len .a }}", "11"),
            ("{{ .a | replace \"world\" \"there\" }}", "hello there"),
            ("{{ Replace .a \"l\" \"L\" 2 }}", "heLLo world"),
            ("{{ .a | trunc 5 }}", "hello"),
            ("{{ if eq .n \"42\" }}yes{{ else }}no{{ end }}", "yes"),
            ("{{ if .e }}a{{ else if .n }}b{{ else }}c{{ end }}", "b"),
            ("{{- /* comment */ -}} x {{- .n -}} y", "x42y"),
            ("{{ __line__ | ToUpper }}", "THE LINE"),
            ("{{ (printf \"%s\" .n) | len }}", "2"),
            ("{{ add 1 2 }}", "3"),
            ("{{ regexReplaceAll \"o\" .a \"0\" }}", "hell0 w0rld"),
        ];
        for (source, expected) in cases {
            assert_eq!(render(source, &labels).unwrap(), expected, "{source}");
        }
    }

    #[test]
    fn compile_errors() {
        assert_eq!(
            Template::new("{{ foo .a }}").unwrap_err(),
            "template: line:1: function \"foo\" not defined"
        );
        assert!(Template::new("{{ .a ").is_err());
        assert!(Template::new("{{ if .a }}x").is_err());
        assert!(Template::new("{{ end }}").is_err());
        assert!(Template::new("{{ .a | .b }}").is_err());
    }

    #[test]
    fn runtime_errors() {
        assert!(render("{{ ToUpper }}", &[]).is_err());
        assert!(render("{{ div 1 0 }}", &[]).is_err());
    }
}
