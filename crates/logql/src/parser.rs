//! Recursive-descent parser with precedence climbing, and Loki's static
//! checks.
//!
//! ```text
//! query        log_selector | metric
//! log_selector { matchers } stage*
//! stage        |= "s" (or "s")* | != ... | |~ ... | !~ ... | |> ... | !> ...
//!              | "|" (json | logfmt | regexp | pattern | unpack | line_format | label_format
//!                    | drop | keep | decolorize | label_filter)
//! log_range    log_selector [unwrap] [d] [offset d] | { matchers } [d] [offset d] stage* [unwrap]
//!              | ( log_range ) | ( log_selector [unwrap] ) [d] [offset d]
//! metric       or  <  and unless  <  == != > >= < <=  <  + -  <  * / %  <  ^ (right)
//! primary      ( metric ) | number | vector(number) | range_op([number,] log_range) [grouping]
//!              | vector_op [grouping] ([number,] metric) [grouping]
//! label_filter or  <  and , (juxtaposition)  <  ( ... ) | name op value
//! ```

use regex::Regex;
use vispyr_promql::{MatchOp, Matcher};

use crate::ast::{
    BinOp, CmpOp, Conversion, Extraction, Grouping, LabelFilter, LabelFmt, LogRange, LogSelector,
    MetricExpr, NameOrMatcher, PathPart, RangeOp, Stage, Unwrap, VectorMatching, VectorOp,
};
use crate::error::ParseError;
use crate::filter::{LineFilter, LineFilterOp, compile_regex};
use crate::lexer::{Tok, Token, tokenize};
use crate::pattern::Pattern;
use crate::template::Template;

/// Longest accepted query, as Loki.
const MAX_INPUT_SIZE: usize = 131_072;
/// Deepest nesting of parentheses and operators.
const MAX_DEPTH: usize = 96;

/// Loki's message for selectors that only have empty-compatible matchers.
pub(crate) const ERR_NON_EMPTY_MATCHER: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// A parsed query.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Log(LogSelector),
    Metric(MetricExpr),
}

pub(crate) fn parse_query(src: &str) -> Result<Node, ParseError> {
    let node = parse_unvalidated(src)?;
    match &node {
        Node::Log(selector) => validate_matchers(&selector.matchers)?,
        Node::Metric(expr) => validate_metric(expr)?,
    }
    Ok(node)
}

/// Parses a bare selector `{a="b", ...}` and checks its matchers.
pub(crate) fn parse_matchers(src: &str) -> Result<Vec<Matcher>, ParseError> {
    let node = parse_unvalidated(src)?;
    match node {
        Node::Log(selector) if selector.stages.is_empty() => {
            validate_matchers(&selector.matchers)?;
            Ok(selector.matchers)
        }
        _ => Err(ParseError::global("only label matchers are supported")),
    }
}

fn parse_unvalidated(src: &str) -> Result<Node, ParseError> {
    if src.len() >= MAX_INPUT_SIZE {
        return Err(ParseError::global(format!(
            "input size too long ({} > {MAX_INPUT_SIZE})",
            src.len()
        )));
    }
    let mut parser = Parser {
        src,
        tokens: tokenize(src),
        pos: 0,
        depth: 0,
    };
    let node = if *parser.peek() == Tok::LBrace {
        let (selector, _) = parser.log_selector(false)?;
        Node::Log(selector)
    } else {
        Node::Metric(parser.metric(0)?)
    };
    if *parser.peek() != Tok::Eof {
        return Err(parser.unexpected(None));
    }
    Ok(node)
}

/// Loki's rule: at least one matcher must not match the empty string.
fn validate_matchers(matchers: &[Matcher]) -> Result<(), ParseError> {
    if matchers.iter().any(|m| !m.matches("")) {
        return Ok(());
    }
    Err(ParseError::global(ERR_NON_EMPTY_MATCHER))
}

fn validate_metric(expr: &MetricExpr) -> Result<(), ParseError> {
    match expr {
        MetricExpr::Range { range, .. } => validate_matchers(&range.selector.matchers),
        MetricExpr::Vector { expr, .. } => validate_metric(expr),
        MetricExpr::Binary { lhs, rhs, .. } => {
            validate_metric(lhs)?;
            validate_metric(rhs)
        }
        MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => Ok(()),
    }
}

fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Words that start a pipeline stage after `|`.
const STAGE_KEYWORDS: &[&str] = &[
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "unwrap",
];

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let index = (self.pos + n).min(self.tokens.len() - 1);
        &self.tokens[index].tok
    }

    fn start(&self) -> usize {
        self.tokens[self.pos].start
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn peek_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.src, offset, message)
    }

    /// `syntax error: unexpected X[, expecting Y]` at the current token.
    fn unexpected(&self, expecting: Option<&str>) -> ParseError {
        let token = &self.tokens[self.pos];
        if let Tok::Error(message) = &token.tok {
            return self.error_at(token.start, message.clone());
        }
        let mut message = format!("syntax error: unexpected {}", token.tok.describe());
        if let Some(expecting) = expecting {
            message.push_str(", expecting ");
            message.push_str(expecting);
        }
        self.error_at(token.start, message)
    }

    fn expect(&mut self, tok: Tok) -> Result<Token, ParseError> {
        if *self.peek() == tok {
            Ok(self.bump())
        } else {
            Err(self.unexpected(Some(&tok.describe())))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.start(), "syntax error: query is nested too deeply"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn string(&mut self) -> Result<(String, usize), ParseError> {
        match self.peek().clone() {
            Tok::Str(value) => {
                let start = self.bump().start;
                Ok((value, start))
            }
            _ => Err(self.unexpected(Some("STRING"))),
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                self.bump();
                Ok(name)
            }
            _ => Err(self.unexpected(Some("IDENTIFIER"))),
        }
    }

    fn duration(&mut self) -> Result<i64, ParseError> {
        match *self.peek() {
            Tok::Duration(ns) => {
                self.bump();
                Ok(ns)
            }
            _ => Err(self.unexpected(Some("DURATION"))),
        }
    }

    /// A number literal with an optional sign.
    fn number(&mut self) -> Result<f64, ParseError> {
        let sign = match self.peek() {
            Tok::Sub => {
                self.bump();
                -1.0
            }
            Tok::Add => {
                self.bump();
                1.0
            }
            _ => 1.0,
        };
        match *self.peek() {
            Tok::Number(v) => {
                self.bump();
                Ok(sign * v)
            }
            _ => Err(self.unexpected(Some("NUMBER"))),
        }
    }

    // ---------------------------------------------------------------- logs

    fn matcher(&mut self) -> Result<Matcher, ParseError> {
        let name = self.ident()?;
        let op = match self.peek() {
            Tok::Eq => MatchOp::Equal,
            Tok::Neq => MatchOp::NotEqual,
            Tok::Re => MatchOp::Regex,
            Tok::Nre => MatchOp::NotRegex,
            _ => return Err(self.unexpected(Some("=, !=, =~ or !~"))),
        };
        self.bump();
        let (value, at) = self.string()?;
        self.build_matcher(name, op, value, at)
    }

    fn build_matcher(
        &self,
        name: String,
        op: MatchOp,
        value: String,
        at: usize,
    ) -> Result<Matcher, ParseError> {
        if matches!(op, MatchOp::Regex | MatchOp::NotRegex) {
            compile_regex(&format!("^(?:{value})$")).map_err(|_| {
                // Report the user's regex, not the anchored one.
                let message = compile_regex(&value)
                    .err()
                    .unwrap_or_else(|| format!("error parsing regexp: invalid regex `{value}`"));
                self.error_at(at, message)
            })?;
        }
        Matcher::new(name, op, value).map_err(|err| self.error_at(at, err.to_string()))
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect(Tok::LBrace)?;
        let mut matchers = Vec::new();
        if *self.peek() == Tok::RBrace {
            self.bump();
            return Ok(matchers);
        }
        loop {
            matchers.push(self.matcher()?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrace => {
                    self.bump();
                    return Ok(matchers);
                }
                _ => return Err(self.unexpected(Some(", or }"))),
            }
        }
    }

    fn log_selector(
        &mut self,
        allow_unwrap: bool,
    ) -> Result<(LogSelector, Option<Unwrap>), ParseError> {
        let matchers = self.selector()?;
        let (stages, unwrap) = self.pipeline(allow_unwrap)?;
        Ok((LogSelector { matchers, stages }, unwrap))
    }

    fn pipeline(&mut self, allow_unwrap: bool) -> Result<(Vec<Stage>, Option<Unwrap>), ParseError> {
        let mut stages = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::PipeExact => Some(LineFilterOp::Contains),
                Tok::Neq => Some(LineFilterOp::NotContains),
                Tok::PipeMatch => Some(LineFilterOp::Regex),
                Tok::Nre => Some(LineFilterOp::NotRegex),
                Tok::PipePattern => Some(LineFilterOp::Pattern),
                Tok::NotPattern => Some(LineFilterOp::NotPattern),
                Tok::Pipe => None,
                _ => return Ok((stages, None)),
            };
            if let Some(op) = op {
                self.bump();
                stages.push(Stage::LineFilter(self.line_filter(op)?));
                continue;
            }
            self.bump();
            if self.peek_ident("unwrap") && !self.next_is_comparison() {
                if !allow_unwrap {
                    return Err(self.unexpected(None));
                }
                self.bump();
                let unwrap = self.unwrap()?;
                return Ok((stages, Some(unwrap)));
            }
            stages.push(self.stage()?);
        }
    }

    fn line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter, ParseError> {
        let (first, at) = self.string()?;
        let mut values = vec![first];
        while self.peek_ident("or") && matches!(self.peek_at(1), Tok::Str(_)) {
            self.bump();
            values.push(self.string()?.0);
        }
        LineFilter::new(op, values).map_err(|message| self.error_at(at, message))
    }

    fn next_is_comparison(&self) -> bool {
        matches!(
            self.peek_at(1),
            Tok::Eq
                | Tok::Neq
                | Tok::Re
                | Tok::Nre
                | Tok::CmpEq
                | Tok::Gt
                | Tok::Ge
                | Tok::Lt
                | Tok::Le
        )
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let word = match self.peek() {
            Tok::Ident(word) => word.clone(),
            Tok::LParen => return Ok(Stage::LabelFilter(self.label_filter()?)),
            _ => return Err(self.unexpected(Some("IDENTIFIER"))),
        };
        if !STAGE_KEYWORDS.contains(&word.as_str()) || self.next_is_comparison() {
            return Ok(Stage::LabelFilter(self.label_filter()?));
        }
        self.bump();
        let stage = match word.as_str() {
            "json" => Stage::Json(self.extractions(true)?),
            "logfmt" => {
                let mut strict = false;
                let mut keep_empty = false;
                while let Tok::Flag(flag) = self.peek().clone() {
                    match flag.as_str() {
                        "strict" => strict = true,
                        "keep-empty" => keep_empty = true,
                        _ => return Err(self.unexpected(None)),
                    }
                    self.bump();
                }
                let extractions = self.extractions(false)?;
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    extractions,
                }
            }
            "regexp" => {
                let (source, at) = self.string()?;
                let regex = compile_regex(&source).map_err(|m| self.error_at(at, m))?;
                check_regexp_captures(&regex).map_err(|m| self.error_at(at, m))?;
                Stage::Regexp { source, regex }
            }
            "pattern" => {
                let (source, at) = self.string()?;
                let pattern = Pattern::new(&source, true).map_err(|m| self.error_at(at, m))?;
                Stage::Pattern(pattern)
            }
            "unpack" => Stage::Unpack,
            "decolorize" => Stage::Decolorize,
            "line_format" => {
                let (source, at) = self.string()?;
                Stage::LineFormat(Template::new(&source).map_err(|m| self.error_at(at, m))?)
            }
            "label_format" => self.label_format()?,
            "drop" => Stage::Drop(self.names_or_matchers()?),
            "keep" => Stage::Keep(self.names_or_matchers()?),
            _ => return Err(self.unexpected(None)),
        };
        Ok(stage)
    }

    /// `a="path", b` after `json` (paths) or `logfmt` (keys).
    fn extractions(&mut self, json: bool) -> Result<Vec<Extraction>, ParseError> {
        let mut out = Vec::new();
        if !matches!(self.peek(), Tok::Ident(_)) {
            return Ok(out);
        }
        loop {
            let at = self.start();
            let label = self.ident()?;
            let (source, path) = if *self.peek() == Tok::Eq {
                self.bump();
                let (source, at) = self.string()?;
                let path = if json {
                    parse_json_path(&source).map_err(|m| {
                        self.error_at(at, format!("cannot parse expression [{source}]: {m}"))
                    })?
                } else {
                    vec![PathPart::Key(source.clone())]
                };
                (Some(source), path)
            } else {
                (None, vec![PathPart::Key(label.clone())])
            };
            if !is_valid_label_name(&label) {
                return Err(self.error_at(at, format!("invalid extracted label name '{label}'")));
            }
            out.push(Extraction {
                label,
                source,
                path,
            });
            if *self.peek() != Tok::Comma {
                return Ok(out);
            }
            self.bump();
        }
    }

    fn label_format(&mut self) -> Result<Stage, ParseError> {
        let mut items: Vec<LabelFmt> = Vec::new();
        loop {
            let at = self.start();
            let dst = self.ident()?;
            self.expect(Tok::Eq)?;
            let item = match self.peek().clone() {
                Tok::Ident(src) => {
                    self.bump();
                    LabelFmt::Rename {
                        dst: dst.clone(),
                        src,
                    }
                }
                Tok::Str(source) => {
                    let at = self.bump().start;
                    let template = Template::new(&source).map_err(|m| self.error_at(at, m))?;
                    LabelFmt::Template {
                        dst: dst.clone(),
                        template,
                    }
                }
                _ => return Err(self.unexpected(Some("IDENTIFIER or STRING"))),
            };
            let duplicate = items.iter().any(|i| match i {
                LabelFmt::Rename { dst: d, .. } | LabelFmt::Template { dst: d, .. } => *d == dst,
            });
            if duplicate {
                return Err(self.error_at(
                    at,
                    format!("multiple label name '{dst}' not allowed in a single format operation"),
                ));
            }
            items.push(item);
            if *self.peek() != Tok::Comma {
                return Ok(Stage::LabelFormat(items));
            }
            self.bump();
        }
    }

    fn names_or_matchers(&mut self) -> Result<Vec<NameOrMatcher>, ParseError> {
        let mut items = Vec::new();
        loop {
            if matches!(self.peek_at(1), Tok::Eq | Tok::Neq | Tok::Re | Tok::Nre) {
                items.push(NameOrMatcher::Matcher(self.matcher()?));
            } else {
                items.push(NameOrMatcher::Name(self.ident()?));
            }
            if *self.peek() != Tok::Comma {
                return Ok(items);
            }
            self.bump();
        }
    }

    fn unwrap(&mut self) -> Result<Unwrap, ParseError> {
        let name = self.ident()?;
        let conversion = match name.as_str() {
            "duration" => Some(Conversion::Duration),
            "duration_seconds" => Some(Conversion::DurationSeconds),
            "bytes" => Some(Conversion::Bytes),
            _ => None,
        };
        let (label, conversion) = match conversion {
            Some(conversion) if *self.peek() == Tok::LParen => {
                self.bump();
                let label = self.ident()?;
                self.expect(Tok::RParen)?;
                (label, conversion)
            }
            _ => (name, Conversion::Float),
        };
        let mut post_filters = Vec::new();
        while *self.peek() == Tok::Pipe && matches!(self.peek_at(1), Tok::Ident(_) | Tok::LParen) {
            self.bump();
            post_filters.push(self.label_filter()?);
        }
        Ok(Unwrap {
            label,
            conversion,
            post_filters,
        })
    }

    fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        self.enter()?;
        let mut left = self.label_filter_and()?;
        while self.peek_ident("or") {
            self.bump();
            let right = self.label_filter_and()?;
            left = LabelFilter::Or(Box::new(left), Box::new(right));
        }
        self.leave();
        Ok(left)
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut left = self.label_filter_primary()?;
        loop {
            let explicit = *self.peek() == Tok::Comma || self.peek_ident("and");
            let juxtaposed = matches!(self.peek(), Tok::Ident(w) if w != "or" && w != "and")
                && self.next_is_comparison();
            if explicit {
                self.bump();
            } else if !juxtaposed {
                return Ok(left);
            }
            let right = self.label_filter_primary()?;
            left = LabelFilter::And(Box::new(left), Box::new(right));
        }
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if *self.peek() == Tok::LParen {
            self.bump();
            let inner = self.label_filter()?;
            self.expect(Tok::RParen)?;
            return Ok(inner);
        }
        let name = self.ident()?;
        let op_tok = self.peek().clone();
        let string_op = match op_tok {
            Tok::Eq => Some(MatchOp::Equal),
            Tok::Neq => Some(MatchOp::NotEqual),
            Tok::Re => Some(MatchOp::Regex),
            Tok::Nre => Some(MatchOp::NotRegex),
            _ => None,
        };
        let cmp = match op_tok {
            Tok::Eq | Tok::CmpEq => Some(CmpOp::Eq),
            Tok::Neq => Some(CmpOp::Ne),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            _ => None,
        };
        if string_op.is_none() && cmp.is_none() {
            return Err(self.unexpected(Some("=, !=, =~, !~, ==, >, >=, < or <=")));
        }
        self.bump();
        if let (Some(op), Tok::Str(value)) = (string_op, self.peek().clone()) {
            let at = self.bump().start;
            return Ok(LabelFilter::Str(self.build_matcher(name, op, value, at)?));
        }
        let Some(op) = cmp else {
            return Err(self.unexpected(Some("STRING")));
        };
        match self.peek().clone() {
            Tok::Number(_) | Tok::Sub | Tok::Add => Ok(LabelFilter::Number {
                name,
                op,
                value: self.number()?,
            }),
            Tok::Duration(ns) => {
                self.bump();
                Ok(LabelFilter::Duration { name, op, ns })
            }
            Tok::Bytes(bytes) => {
                self.bump();
                Ok(LabelFilter::Bytes { name, op, bytes })
            }
            _ => Err(self.unexpected(Some("STRING, NUMBER, DURATION or BYTES"))),
        }
    }

    // ------------------------------------------------------------- metrics

    fn binop(&self) -> Option<BinOp> {
        let op = match self.peek() {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::CmpEq => BinOp::Cmp(CmpOp::Eq),
            Tok::Neq => BinOp::Cmp(CmpOp::Ne),
            Tok::Gt => BinOp::Cmp(CmpOp::Gt),
            Tok::Ge => BinOp::Cmp(CmpOp::Ge),
            Tok::Lt => BinOp::Cmp(CmpOp::Lt),
            Tok::Le => BinOp::Cmp(CmpOp::Le),
            Tok::Ident(word) if word == "or" => BinOp::Or,
            Tok::Ident(word) if word == "and" => BinOp::And,
            Tok::Ident(word) if word == "unless" => BinOp::Unless,
            _ => return None,
        };
        Some(op)
    }

    fn metric(&mut self, min_precedence: u8) -> Result<MetricExpr, ParseError> {
        self.enter()?;
        let mut lhs = self.metric_primary()?;
        while let Some(op) = self.binop() {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            let op_at = self.bump().start;
            let return_bool = matches!(op, BinOp::Cmp(_)) && self.peek_ident("bool");
            if return_bool {
                self.bump();
            }
            let matching = self.vector_matching()?;
            let next_min = if op == BinOp::Pow {
                precedence
            } else {
                precedence + 1
            };
            let rhs = self.metric(next_min)?;
            if op.is_set() && (lhs.is_scalar() || rhs.is_scalar()) {
                return Err(self.error_at(
                    op_at,
                    format!(
                        "set operator \"{}\" not allowed in binary scalar expression",
                        op.as_str()
                    ),
                ));
            }
            if matches!(op, BinOp::Cmp(_)) && !return_bool && lhs.is_scalar() && rhs.is_scalar() {
                return Err(
                    self.error_at(op_at, "comparisons between scalars must use BOOL modifier")
                );
            }
            if (matching.on.is_some() || matching.group_left.is_some())
                && (lhs.is_scalar() || rhs.is_scalar())
            {
                return Err(self.error_at(
                    op_at,
                    "vector matching only allowed between instant vectors",
                ));
            }
            lhs = MetricExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                return_bool,
                matching,
            };
        }
        self.leave();
        Ok(lhs)
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Tok::LParen)?;
        let mut labels = Vec::new();
        if *self.peek() == Tok::RParen {
            self.bump();
            return Ok(labels);
        }
        loop {
            labels.push(self.ident()?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(labels);
                }
                _ => return Err(self.unexpected(Some(", or )"))),
            }
        }
    }

    fn vector_matching(&mut self) -> Result<VectorMatching, ParseError> {
        let mut matching = VectorMatching::default();
        if self.peek_ident("on") || self.peek_ident("ignoring") {
            let on = self.peek_ident("on");
            self.bump();
            matching.on = Some(on);
            matching.labels = self.label_list()?;
            if self.peek_ident("group_left") || self.peek_ident("group_right") {
                matching.group_left = Some(self.peek_ident("group_left"));
                self.bump();
                if *self.peek() == Tok::LParen {
                    matching.include = self.label_list()?;
                }
            }
        }
        Ok(matching)
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        if !(self.peek_ident("by") || self.peek_ident("without")) {
            return Ok(None);
        }
        let without = self.peek_ident("without");
        self.bump();
        let labels = self.label_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    fn metric_primary(&mut self) -> Result<MetricExpr, ParseError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.bump();
                let inner = self.metric(0)?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            Tok::Number(_) | Tok::Sub | Tok::Add => Ok(MetricExpr::Literal(self.number()?)),
            Tok::Ident(name) => {
                let call = *self.peek_at(1) == Tok::LParen;
                if let Some(op) = RangeOp::from_name(&name).filter(|_| call) {
                    return self.range_aggregation(op);
                }
                let grouped =
                    matches!(self.peek_at(1), Tok::Ident(w) if w == "by" || w == "without");
                if let Some(op) = VectorOp::from_name(&name).filter(|_| call || grouped) {
                    return self.vector_aggregation(op);
                }
                if name == "vector" && call {
                    self.bump();
                    self.bump();
                    let value = self.number()?;
                    self.expect(Tok::RParen)?;
                    return Ok(MetricExpr::VectorLiteral(value));
                }
                Err(self.unexpected(None))
            }
            _ => Err(self.unexpected(None)),
        }
    }

    fn range_aggregation(&mut self, op: RangeOp) -> Result<MetricExpr, ParseError> {
        self.bump();
        self.expect(Tok::LParen)?;
        let param = if op == RangeOp::QuantileOverTime {
            let value = self.number()?;
            self.expect(Tok::Comma)?;
            Some(value)
        } else {
            None
        };
        let range = self.log_range()?;
        self.expect(Tok::RParen)?;
        let grouping = self.grouping()?;
        match (op.unwrap_requirement(), range.unwrap.is_some()) {
            (Some(true), false) => {
                return Err(ParseError::global(format!(
                    "invalid aggregation {} without unwrap",
                    op.name()
                )));
            }
            (Some(false), true) => {
                return Err(ParseError::global(format!(
                    "invalid aggregation {} with unwrap",
                    op.name()
                )));
            }
            _ => {}
        }
        if grouping.is_some() && range.unwrap.is_none() {
            return Err(ParseError::global(format!(
                "grouping not allowed for {} aggregation",
                op.name()
            )));
        }
        Ok(MetricExpr::Range {
            op,
            param,
            range: Box::new(range),
            grouping,
        })
    }

    fn range_and_offset(&mut self) -> Result<(i64, i64), ParseError> {
        self.expect(Tok::LBracket)?;
        let at = self.start();
        let range_ns = self.duration()?;
        if range_ns <= 0 {
            return Err(self.error_at(at, "syntax error: range must be greater than 0"));
        }
        self.expect(Tok::RBracket)?;
        let mut offset_ns = 0;
        if self.peek_ident("offset") {
            self.bump();
            offset_ns = self.duration()?;
        }
        Ok((range_ns, offset_ns))
    }

    fn log_range(&mut self) -> Result<LogRange, ParseError> {
        self.enter()?;
        let range = self.log_range_inner()?;
        self.leave();
        Ok(range)
    }

    fn log_range_inner(&mut self) -> Result<LogRange, ParseError> {
        if *self.peek() == Tok::LParen {
            self.bump();
            if *self.peek() == Tok::LParen {
                let inner = self.log_range()?;
                self.expect(Tok::RParen)?;
                return Ok(inner);
            }
            let (selector, unwrap) = self.log_selector(true)?;
            if *self.peek() == Tok::LBracket {
                let (range_ns, offset_ns) = self.range_and_offset()?;
                self.expect(Tok::RParen)?;
                return Ok(LogRange {
                    selector,
                    unwrap,
                    range_ns,
                    offset_ns,
                });
            }
            self.expect(Tok::RParen)?;
            let (range_ns, offset_ns) = self.range_and_offset()?;
            return Ok(LogRange {
                selector,
                unwrap,
                range_ns,
                offset_ns,
            });
        }
        let matchers = self.selector()?;
        if *self.peek() == Tok::LBracket {
            let (range_ns, offset_ns) = self.range_and_offset()?;
            let (stages, unwrap) = self.pipeline(true)?;
            return Ok(LogRange {
                selector: LogSelector { matchers, stages },
                unwrap,
                range_ns,
                offset_ns,
            });
        }
        let (stages, unwrap) = self.pipeline(true)?;
        let (range_ns, offset_ns) = self.range_and_offset()?;
        Ok(LogRange {
            selector: LogSelector { matchers, stages },
            unwrap,
            range_ns,
            offset_ns,
        })
    }

    fn vector_aggregation(&mut self, op: VectorOp) -> Result<MetricExpr, ParseError> {
        self.bump();
        let before = self.grouping()?;
        self.expect(Tok::LParen)?;
        let param = if matches!(op, VectorOp::Topk | VectorOp::Bottomk) {
            let at = self.start();
            let value = self.number()?;
            if value.fract() != 0.0 {
                return Err(self.error_at(
                    at,
                    format!(
                        "invalid parameter for operation {}: {value} is not an integer",
                        op.name()
                    ),
                ));
            }
            self.expect(Tok::Comma)?;
            Some(value)
        } else {
            None
        };
        let inner_at = self.start();
        let expr = self.metric(0)?;
        self.expect(Tok::RParen)?;
        let after = self.grouping()?;
        if before.is_some() && after.is_some() {
            return Err(self.unexpected(None));
        }
        let grouping = before.or(after);
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc)
            && grouping.as_ref().is_some_and(|g| !g.labels.is_empty())
        {
            return Err(ParseError::global(
                "sort and sort_desc doesn't allow grouping by ",
            ));
        }
        if expr.is_scalar() {
            return Err(self.error_at(
                inner_at,
                format!(
                    "syntax error: unexpected literal for vector aggregation {}",
                    op.name()
                ),
            ));
        }
        Ok(MetricExpr::Vector {
            op,
            param,
            expr: Box::new(expr),
            grouping,
        })
    }
}

fn check_regexp_captures(regex: &Regex) -> Result<(), String> {
    let mut any = false;
    for name in regex.capture_names().flatten() {
        if !is_valid_label_name(name) {
            return Err(format!("invalid extracted label name '{name}'"));
        }
        any = true;
    }
    if !any {
        return Err("at least one named capture must be supplied".into());
    }
    Ok(())
}

/// Parses `a.b[0]`, `["key with.dots"].c`, `list[2].name`.
pub(crate) fn parse_json_path(source: &str) -> Result<Vec<PathPart>, String> {
    let mut parts = Vec::new();
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    let mut expect_key = true;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if expect_key {
                    return Err("syntax error: unexpected .".into());
                }
                expect_key = true;
                i += 1;
            }
            '[' => {
                i += 1;
                if i < chars.len() && chars[i] == '"' {
                    i += 1;
                    let mut key = String::new();
                    while i < chars.len() && chars[i] != '"' {
                        if chars[i] == '\\' && i + 1 < chars.len() {
                            i += 1;
                        }
                        key.push(chars[i]);
                        i += 1;
                    }
                    if i + 1 >= chars.len() || chars[i + 1] != ']' {
                        return Err("syntax error: unterminated key".into());
                    }
                    i += 2;
                    parts.push(PathPart::Key(key));
                } else {
                    let start = i;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                    if start == i || i >= chars.len() || chars[i] != ']' {
                        return Err("syntax error: invalid index".into());
                    }
                    let index: String = chars[start..i].iter().collect();
                    parts.push(PathPart::Index(
                        index.parse().map_err(|_| "syntax error: invalid index")?,
                    ));
                    i += 1;
                }
                expect_key = false;
            }
            _ => {
                if !expect_key {
                    return Err(format!("syntax error: unexpected {}", chars[i]));
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                parts.push(PathPart::Key(chars[start..i].iter().collect()));
                expect_key = false;
            }
        }
    }
    if parts.is_empty() || (expect_key && !chars.is_empty()) {
        return Err("syntax error: unexpected $end".into());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        assert_eq!(
            parse_json_path("a.b[0]").unwrap(),
            vec![
                PathPart::Key("a".into()),
                PathPart::Key("b".into()),
                PathPart::Index(0)
            ]
        );
        assert_eq!(
            parse_json_path(r#"["x.y"].z"#).unwrap(),
            vec![PathPart::Key("x.y".into()), PathPart::Key("z".into())]
        );
        assert!(parse_json_path("a..b").is_err());
        assert!(parse_json_path("a[x]").is_err());
        assert!(parse_json_path("").is_err());
        assert!(parse_json_path("a.").is_err());
    }
}
