//! Recursive-descent parser with precedence climbing, and the static type
//! checks Tempo runs before executing a query.
//!
//! Precedence, loosest first:
//!
//! ```text
//! pipeline     stage | stage | ...
//! spansets     ||   <   &&   <   > < >> << ~ !> !< !>> !<< !~ &> &< &>> &<< &~
//! fields       ||   <   &&   <   = != < <= > >= =~ !~   <   + -   <   * / %   <   ^ (right)
//!              prefix ! and - bind tighter than comparisons, looser than * / % ^
//! ```
//!
//! Unlike Tempo's grammar, where `&&` and `||` share one level and group
//! left to right, `&&` binds tighter than `||` (as in most languages).

use crate::ast::{
    AggregateOp, ArithOp, AttributeScope, CompareOp, Field, FieldExpr, Intrinsic, LogicOp,
    Pipeline, Relation, ScalarExpr, ScalarFilter, SpansetExpr, SpansetOp, Stage, StructuralMode,
};
use crate::error::ParseError;
use crate::lexer::{DotScope, Tok, Token, tokenize};
use crate::value::{Value, compile_regex};

/// Deepest nesting of parentheses, braces and prefix operators.
const MAX_NESTING: usize = 64;
/// Deepest expression tree (long `a && b && c ...` chains count here).
const MAX_TREE_DEPTH: usize = 512;

/// The parsed query: its pipeline and its `with (...)` hints.
pub(crate) struct Parsed {
    pub(crate) pipeline: Pipeline,
    pub(crate) hints: Vec<(String, Value)>,
}

pub(crate) fn parse_query(src: &str) -> Result<Parsed, ParseError> {
    let mut parser = Parser {
        src,
        tokens: tokenize(src),
        pos: 0,
        nesting: 0,
    };
    let (pipeline, _) = parser.pipeline()?;
    let mut hints = Vec::new();
    if matches!(parser.peek(), Tok::Ident(word) if word == "with") {
        hints = parser.hints()?;
    }
    if *parser.peek() != Tok::Eof {
        return Err(parser.unexpected_here(r#"a spanset operator, "|" or end of query"#));
    }
    Ok(Parsed { pipeline, hints })
}

/// Static type of a field expression; `Unknown` for attributes, whose type
/// is only known per span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Unknown,
    Bool,
    Number,
    Str,
    Status,
    Kind,
    Nil,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Unknown => "an attribute",
            Ty::Bool => "a boolean",
            Ty::Number => "a number",
            Ty::Str => "a string",
            Ty::Status => "a status",
            Ty::Kind => "a kind",
            Ty::Nil => "nil",
        }
    }

    fn is(self, wanted: Ty) -> bool {
        self == wanted || self == Ty::Unknown
    }

    fn of_value(value: &Value) -> Ty {
        match value {
            Value::Str(_) => Ty::Str,
            Value::Int(_) | Value::Float(_) | Value::Duration(_) => Ty::Number,
            Value::Bool(_) => Ty::Bool,
            Value::Status(_) => Ty::Status,
            Value::Kind(_) => Ty::Kind,
            Value::Nil => Ty::Nil,
        }
    }

    fn of_field(field: &Field) -> Ty {
        match field {
            Field::Attribute { .. } => Ty::Unknown,
            Field::Intrinsic(intrinsic) => match intrinsic {
                Intrinsic::Name
                | Intrinsic::StatusMessage
                | Intrinsic::SpanId
                | Intrinsic::ParentId
                | Intrinsic::TraceId
                | Intrinsic::RootName
                | Intrinsic::RootServiceName => Ty::Str,
                Intrinsic::Status => Ty::Status,
                Intrinsic::Kind => Ty::Kind,
                Intrinsic::Duration | Intrinsic::ChildCount | Intrinsic::TraceDuration => {
                    Ty::Number
                }
            },
        }
    }
}

/// A field expression with what the checks need to know about it.
struct Typed {
    expr: FieldExpr,
    ty: Ty,
    depth: usize,
    /// Byte offset where the expression starts, for error positions.
    start: usize,
}

#[derive(Clone, Copy)]
enum Infix {
    Logic(LogicOp),
    Compare(CompareOp),
    Regex { negated: bool },
    Arith(ArithOp),
}

/// Binding powers (left, right) of field operators.
fn field_infix(tok: &Tok) -> Option<(Infix, u8, u8)> {
    let found = match tok {
        Tok::Or => (Infix::Logic(LogicOp::Or), 1, 2),
        Tok::And => (Infix::Logic(LogicOp::And), 3, 4),
        Tok::Eq => (Infix::Compare(CompareOp::Eq), 5, 6),
        Tok::Ne => (Infix::Compare(CompareOp::Ne), 5, 6),
        Tok::Gt => (Infix::Compare(CompareOp::Gt), 5, 6),
        Tok::Ge => (Infix::Compare(CompareOp::Ge), 5, 6),
        Tok::Lt => (Infix::Compare(CompareOp::Lt), 5, 6),
        Tok::Le => (Infix::Compare(CompareOp::Le), 5, 6),
        Tok::Re => (Infix::Regex { negated: false }, 5, 6),
        Tok::Nre => (Infix::Regex { negated: true }, 5, 6),
        Tok::Add => (Infix::Arith(ArithOp::Add), 7, 8),
        Tok::Sub => (Infix::Arith(ArithOp::Sub), 7, 8),
        Tok::Mul => (Infix::Arith(ArithOp::Mul), 9, 10),
        Tok::Div => (Infix::Arith(ArithOp::Div), 9, 10),
        Tok::Mod => (Infix::Arith(ArithOp::Mod), 9, 10),
        Tok::Pow => (Infix::Arith(ArithOp::Pow), 12, 11),
        _ => return None,
    };
    Some(found)
}

/// Operand binding power of prefix `!` and `-`: they take `* / % ^`.
const PREFIX_BP: u8 = 9;

fn scalar_infix(tok: &Tok) -> Option<(ArithOp, u8, u8)> {
    let found = match tok {
        Tok::Add => (ArithOp::Add, 1, 2),
        Tok::Sub => (ArithOp::Sub, 1, 2),
        Tok::Mul => (ArithOp::Mul, 3, 4),
        Tok::Div => (ArithOp::Div, 3, 4),
        Tok::Mod => (ArithOp::Mod, 3, 4),
        Tok::Pow => (ArithOp::Pow, 6, 5),
        _ => return None,
    };
    Some(found)
}

fn spanset_infix(tok: &Tok) -> Option<(SpansetOp, u8)> {
    use Relation::*;
    use StructuralMode::*;
    let structural = |relation, mode| Some((SpansetOp::Structural(relation, mode), 3));
    match tok {
        Tok::Or => Some((SpansetOp::Or, 1)),
        Tok::And => Some((SpansetOp::And, 2)),
        Tok::Gt => structural(Child, Plain),
        Tok::Lt => structural(Parent, Plain),
        Tok::Desc => structural(Descendant, Plain),
        Tok::Ance => structural(Ancestor, Plain),
        Tok::Tilde => structural(Sibling, Plain),
        Tok::NotChild => structural(Child, Not),
        Tok::NotParent => structural(Parent, Not),
        Tok::NotDesc => structural(Descendant, Not),
        Tok::NotAnce => structural(Ancestor, Not),
        Tok::Nre => structural(Sibling, Not),
        Tok::UnionChild => structural(Child, Union),
        Tok::UnionParent => structural(Parent, Union),
        Tok::UnionDesc => structural(Descendant, Union),
        Tok::UnionAnce => structural(Ancestor, Union),
        Tok::UnionSibl => structural(Sibling, Union),
        _ => None,
    }
}

fn aggregate_op(word: &str) -> Option<AggregateOp> {
    match word {
        "count" => Some(AggregateOp::Count),
        "avg" => Some(AggregateOp::Avg),
        "min" => Some(AggregateOp::Min),
        "max" => Some(AggregateOp::Max),
        "sum" => Some(AggregateOp::Sum),
        _ => None,
    }
}

const METRICS_FUNCTIONS: [&str; 11] = [
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "topk",
    "bottomk",
];

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn peek_token(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if token.tok != Tok::Eof {
            self.pos += 1;
        }
        token
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.src, offset, message)
    }

    /// `unexpected <token>, expected <expected>`; a lexing error reports
    /// its own message instead.
    fn unexpected(&self, token: &Token, expected: &str) -> ParseError {
        let found = match &token.tok {
            Tok::Error(message) => return self.error_at(token.start, message.clone()),
            Tok::Eof => "end of query".to_string(),
            _ => {
                let text = &self.src[token.start..token.end];
                let shown: String = text.chars().take(40).collect();
                let ellipsis = if shown.len() < text.len() { "..." } else { "" };
                format!("\"{shown}{ellipsis}\"")
            }
        };
        self.error_at(
            token.start,
            format!("unexpected {found}, expected {expected}"),
        )
    }

    fn unexpected_here(&self, expected: &str) -> ParseError {
        self.unexpected(self.peek_token(), expected)
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> Result<Token, ParseError> {
        if *self.peek() == tok {
            Ok(self.advance())
        } else {
            Err(self.unexpected_here(expected))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error_at(
                self.peek_token().start,
                format!("query is nested more than {MAX_NESTING} levels deep"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn check_depth(&self, depth: usize, offset: usize) -> Result<(), ParseError> {
        if depth > MAX_TREE_DEPTH {
            return Err(self.error_at(
                offset,
                format!("query is too complex: expressions deeper than {MAX_TREE_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    // ---------------------------------------------------------------
    // Pipelines
    // ---------------------------------------------------------------

    fn pipeline(&mut self) -> Result<(Pipeline, usize), ParseError> {
        let mut stages = Vec::new();
        let mut depth = 0;
        loop {
            let (stage, stage_depth) = self.stage()?;
            stages.push(stage);
            depth = depth.max(stage_depth);
            if *self.peek() != Tok::Pipe {
                break;
            }
            self.advance();
        }
        Ok((Pipeline { stages }, depth))
    }

    fn stage(&mut self) -> Result<(Stage, usize), ParseError> {
        let token = self.peek_token().clone();
        match &token.tok {
            Tok::LBrace => {
                let (expr, depth) = self.spanset_expr(0)?;
                Ok((Stage::Spanset(expr), depth))
            }
            Tok::LParen if self.paren_group_has_brace() => {
                let (expr, depth) = self.spanset_expr(0)?;
                Ok((Stage::Spanset(expr), depth))
            }
            Tok::LParen | Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Sub => {
                self.scalar_filter()
            }
            Tok::Ident(word) if aggregate_op(word).is_some() => self.scalar_filter(),
            Tok::Ident(word) if word == "by" => {
                self.advance();
                self.expect(Tok::LParen, r#""(""#)?;
                let grouped = self.field_expr(0)?;
                if grouped.ty == Ty::Nil {
                    return Err(self.error_at(grouped.start, "cannot group by nil"));
                }
                self.expect(Tok::RParen, r#"an operator or ")""#)?;
                Ok((Stage::By(grouped.expr), grouped.depth))
            }
            Tok::Ident(word) if word == "select" => {
                self.advance();
                self.expect(Tok::LParen, r#""(""#)?;
                let mut fields = vec![self.field_reference()?];
                while *self.peek() == Tok::Comma {
                    self.advance();
                    fields.push(self.field_reference()?);
                }
                self.expect(Tok::RParen, r#""," or ")""#)?;
                Ok((Stage::Select(fields), 1))
            }
            Tok::Ident(word) if word == "coalesce" => {
                self.advance();
                self.expect(Tok::LParen, r#""(""#)?;
                self.expect(Tok::RParen, r#"")""#)?;
                Ok((Stage::Coalesce, 1))
            }
            Tok::Ident(word) if METRICS_FUNCTIONS.contains(&word.as_str()) => Err(self.error_at(
                token.start,
                format!("metrics queries are not supported: {word}()"),
            )),
            _ => Err(self.unexpected(&token, r#""{""#)),
        }
    }

    /// At a `(` starting a stage: whether its group holds a `{`, which
    /// makes it a spanset expression rather than arithmetic on aggregates.
    fn paren_group_has_brace(&self) -> bool {
        let mut depth = 0usize;
        for token in &self.tokens[self.pos..] {
            match token.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return false;
                    }
                }
                Tok::LBrace => return true,
                _ => {}
            }
        }
        false
    }

    fn hints(&mut self) -> Result<Vec<(String, Value)>, ParseError> {
        self.advance(); // with
        self.expect(Tok::LParen, r#""(""#)?;
        let mut hints = Vec::new();
        loop {
            let token = self.advance();
            let Tok::Ident(name) = token.tok else {
                return Err(self.unexpected(&token, "a hint name"));
            };
            self.expect(Tok::Eq, r#""=""#)?;
            let token = self.advance();
            let value = match token.tok {
                Tok::Str(s) => Value::Str(s),
                Tok::Int(i) => Value::Int(i),
                Tok::Float(x) => Value::Float(x),
                Tok::Duration(ns) => Value::Duration(ns),
                Tok::Ident(ref word) if word == "true" => Value::Bool(true),
                Tok::Ident(ref word) if word == "false" => Value::Bool(false),
                _ => return Err(self.unexpected(&token, "a literal value")),
            };
            hints.push((name, value));
            if *self.peek() != Tok::Comma {
                break;
            }
            self.advance();
        }
        self.expect(Tok::RParen, r#""," or ")""#)?;
        Ok(hints)
    }

    // ---------------------------------------------------------------
    // Spanset expressions
    // ---------------------------------------------------------------

    fn spanset_expr(&mut self, min_prec: u8) -> Result<(SpansetExpr, usize), ParseError> {
        self.enter()?;
        let (mut lhs, mut depth) = self.spanset_primary()?;
        while let Some((op, prec)) = spanset_infix(self.peek()) {
            if prec < min_prec {
                break;
            }
            let op_token = self.advance();
            let (rhs, rhs_depth) = self.spanset_expr(prec + 1)?;
            depth = depth.max(rhs_depth) + 1;
            self.check_depth(depth, op_token.start)?;
            lhs = SpansetExpr::Op(op, Box::new(lhs), Box::new(rhs));
        }
        self.leave();
        Ok((lhs, depth))
    }

    fn spanset_primary(&mut self) -> Result<(SpansetExpr, usize), ParseError> {
        let token = self.advance();
        match token.tok {
            Tok::LBrace => {
                if *self.peek() == Tok::RBrace {
                    self.advance();
                    return Ok((SpansetExpr::Filter(None), 1));
                }
                let filter = self.field_expr(0)?;
                if !filter.ty.is(Ty::Bool) {
                    return Err(self.error_at(
                        filter.start,
                        format!(
                            "a spanset filter must be a boolean expression, found {}",
                            filter.ty.name()
                        ),
                    ));
                }
                self.expect(Tok::RBrace, r#"an operator or "}""#)?;
                Ok((SpansetExpr::Filter(Some(filter.expr)), filter.depth + 1))
            }
            Tok::LParen => {
                self.enter()?;
                let (mut pipeline, depth) = self.pipeline()?;
                self.expect(Tok::RParen, r#"a spanset operator, "|" or ")""#)?;
                self.leave();
                // Parentheses around a lone spanset expression only group it.
                if pipeline.stages.len() == 1
                    && matches!(pipeline.stages[0], Stage::Spanset(_))
                    && let Some(Stage::Spanset(expr)) = pipeline.stages.pop()
                {
                    return Ok((expr, depth));
                }
                Ok((SpansetExpr::Pipeline(pipeline), depth + 1))
            }
            _ => Err(self.unexpected(&token, r#""{" or "(""#)),
        }
    }

    // ---------------------------------------------------------------
    // Scalar filters: `count() > 2`, `avg(duration) > 1s`
    // ---------------------------------------------------------------

    fn scalar_filter(&mut self) -> Result<(Stage, usize), ParseError> {
        let start = self.peek_token().start;
        let (lhs, lhs_depth) = self.scalar_expr(0)?;
        let op = match self.peek() {
            Tok::Eq => CompareOp::Eq,
            Tok::Ne => CompareOp::Ne,
            Tok::Gt => CompareOp::Gt,
            Tok::Ge => CompareOp::Ge,
            Tok::Lt => CompareOp::Lt,
            Tok::Le => CompareOp::Le,
            _ => return Err(self.unexpected_here("an arithmetic or comparison operator")),
        };
        self.advance();
        let (rhs, rhs_depth) = self.scalar_expr(0)?;
        if !lhs.has_aggregate() && !rhs.has_aggregate() {
            return Err(self.error_at(
                start,
                "a pipeline comparison needs an aggregate such as count() or avg(duration)",
            ));
        }
        let filter = ScalarFilter { lhs, op, rhs };
        Ok((Stage::ScalarFilter(filter), lhs_depth.max(rhs_depth) + 1))
    }

    fn scalar_expr(&mut self, min_bp: u8) -> Result<(ScalarExpr, usize), ParseError> {
        self.enter()?;
        let (mut lhs, mut depth) = self.scalar_prefix()?;
        while let Some((op, lbp, rbp)) = scalar_infix(self.peek()) {
            if lbp < min_bp {
                break;
            }
            let op_token = self.advance();
            let (rhs, rhs_depth) = self.scalar_expr(rbp)?;
            depth = depth.max(rhs_depth) + 1;
            self.check_depth(depth, op_token.start)?;
            lhs = ScalarExpr::Arith(op, Box::new(lhs), Box::new(rhs));
        }
        self.leave();
        Ok((lhs, depth))
    }

    fn scalar_prefix(&mut self) -> Result<(ScalarExpr, usize), ParseError> {
        let token = self.advance();
        let literal = |value| Ok((ScalarExpr::Literal(value), 1));
        match token.tok {
            Tok::Int(i) => literal(Value::Int(i)),
            Tok::Float(x) => literal(Value::Float(x)),
            Tok::Duration(ns) => literal(Value::Duration(ns)),
            Tok::Sub => {
                let (inner, depth) = self.scalar_expr(5)?;
                Ok((ScalarExpr::Neg(Box::new(inner)), depth + 1))
            }
            Tok::LParen => {
                let inner = self.scalar_expr(0)?;
                self.expect(Tok::RParen, r#"an arithmetic operator or ")""#)?;
                Ok(inner)
            }
            Tok::Ident(ref word) => match aggregate_op(word) {
                Some(op) => self.aggregate(op),
                None => Err(self.unexpected(&token, "an aggregate or a number")),
            },
            _ => Err(self.unexpected(&token, "an aggregate or a number")),
        }
    }

    fn aggregate(&mut self, op: AggregateOp) -> Result<(ScalarExpr, usize), ParseError> {
        self.expect(Tok::LParen, r#""(""#)?;
        if op == AggregateOp::Count {
            self.expect(Tok::RParen, r#"")""#)?;
            return Ok((ScalarExpr::Aggregate(op, None), 1));
        }
        let arg = self.field_expr(0)?;
        if !arg.ty.is(Ty::Number) {
            return Err(self.error_at(
                arg.start,
                format!("{}() needs a number, found {}", op.as_str(), arg.ty.name()),
            ));
        }
        self.expect(Tok::RParen, r#"an operator or ")""#)?;
        Ok((ScalarExpr::Aggregate(op, Some(arg.expr)), arg.depth + 1))
    }

    // ---------------------------------------------------------------
    // Field expressions (inside `{ }`, aggregates and `by()`)
    // ---------------------------------------------------------------

    fn field_expr(&mut self, min_bp: u8) -> Result<Typed, ParseError> {
        self.enter()?;
        let mut lhs = self.field_prefix()?;
        while let Some((infix, lbp, rbp)) = field_infix(self.peek()) {
            if lbp < min_bp {
                break;
            }
            let op_token = self.advance();
            let rhs = self.field_expr(rbp)?;
            lhs = self.binary(infix, lhs, rhs, &op_token)?;
        }
        self.leave();
        Ok(lhs)
    }

    fn field_prefix(&mut self) -> Result<Typed, ParseError> {
        let token = self.advance();
        let start = token.start;
        let literal = |value: Value| {
            let ty = Ty::of_value(&value);
            Ok(Typed {
                expr: FieldExpr::Literal(value),
                ty,
                depth: 1,
                start,
            })
        };
        match token.tok {
            Tok::Str(s) => literal(Value::Str(s)),
            Tok::Int(i) => literal(Value::Int(i)),
            Tok::Float(x) => literal(Value::Float(x)),
            Tok::Duration(ns) => literal(Value::Duration(ns)),
            Tok::Ident(ref word) => {
                if let Some(value) = keyword_value(word) {
                    return literal(value);
                }
                let field = self.unscoped_intrinsic(&token, word)?;
                Ok(self.field(field, start))
            }
            Tok::Attr(scope, name) => {
                let scope = match scope {
                    DotScope::None => AttributeScope::Any,
                    DotScope::Span => AttributeScope::Span,
                    DotScope::Resource => AttributeScope::Resource,
                    DotScope::Parent => return Err(self.unsupported_scope(start, "parent.")),
                    DotScope::Event => return Err(self.unsupported_scope(start, "event.")),
                    DotScope::Link => return Err(self.unsupported_scope(start, "link.")),
                    DotScope::Instrumentation => {
                        return Err(self.unsupported_scope(start, "instrumentation."));
                    }
                };
                Ok(self.field(Field::Attribute { scope, name }, start))
            }
            Tok::ScopeColon(ref scope) => {
                let field = self.scoped_intrinsic(scope, start)?;
                Ok(self.field(field, start))
            }
            Tok::LParen => {
                let mut inner = self.field_expr(0)?;
                self.expect(Tok::RParen, r#"an operator or ")""#)?;
                inner.start = start;
                Ok(inner)
            }
            Tok::Not => {
                let operand = self.field_expr(PREFIX_BP)?;
                if !operand.ty.is(Ty::Bool) {
                    return Err(self.error_at(
                        start,
                        format!("\"!\" needs a boolean, found {}", operand.ty.name()),
                    ));
                }
                Ok(Typed {
                    expr: FieldExpr::Not(Box::new(operand.expr)),
                    ty: Ty::Bool,
                    depth: operand.depth + 1,
                    start,
                })
            }
            Tok::Sub => {
                let operand = self.field_expr(PREFIX_BP)?;
                if !operand.ty.is(Ty::Number) {
                    return Err(self.error_at(
                        start,
                        format!("\"-\" needs a number, found {}", operand.ty.name()),
                    ));
                }
                Ok(Typed {
                    expr: FieldExpr::Neg(Box::new(operand.expr)),
                    ty: operand.ty,
                    depth: operand.depth + 1,
                    start,
                })
            }
            _ => Err(self.unexpected(&token, "a value")),
        }
    }

    fn field(&self, field: Field, start: usize) -> Typed {
        Typed {
            ty: Ty::of_field(&field),
            expr: FieldExpr::Field(field),
            depth: 1,
            start,
        }
    }

    /// A field alone, as `select()` takes.
    fn field_reference(&mut self) -> Result<Field, ParseError> {
        let start = self.peek_token().start;
        let typed = self.field_prefix()?;
        match typed.expr {
            FieldExpr::Field(field) => Ok(field),
            _ => Err(self.error_at(start, "select() takes attributes and intrinsics only")),
        }
    }

    fn unsupported_scope(&self, start: usize, scope: &str) -> ParseError {
        self.error_at(start, format!("{scope} attributes are not supported"))
    }

    fn unscoped_intrinsic(&self, token: &Token, word: &str) -> Result<Field, ParseError> {
        let intrinsic = match word {
            "name" => Intrinsic::Name,
            "status" => Intrinsic::Status,
            "statusMessage" => Intrinsic::StatusMessage,
            "duration" => Intrinsic::Duration,
            "kind" => Intrinsic::Kind,
            "rootName" => Intrinsic::RootName,
            "rootServiceName" => Intrinsic::RootServiceName,
            "traceDuration" => Intrinsic::TraceDuration,
            "parent" | "nestedSetLeft" | "nestedSetRight" | "nestedSetParent" => {
                return Err(self.error_at(
                    token.start,
                    format!("intrinsic \"{word}\" is not supported"),
                ));
            }
            _ => {
                return Err(self.error_at(token.start, format!("unknown identifier \"{word}\"")));
            }
        };
        Ok(Field::Intrinsic(intrinsic))
    }

    fn scoped_intrinsic(&mut self, scope: &str, start: usize) -> Result<Field, ParseError> {
        let token = self.advance();
        let Tok::Ident(ref name) = token.tok else {
            return Err(self.unexpected(&token, "an intrinsic name"));
        };
        let intrinsic = match (scope, name.as_str()) {
            ("span", "name") => Intrinsic::Name,
            ("span", "status") => Intrinsic::Status,
            ("span", "statusMessage") => Intrinsic::StatusMessage,
            ("span", "duration") => Intrinsic::Duration,
            ("span", "kind") => Intrinsic::Kind,
            ("span", "id") => Intrinsic::SpanId,
            ("span", "parentID") => Intrinsic::ParentId,
            ("span", "childCount") => Intrinsic::ChildCount,
            ("trace", "id") => Intrinsic::TraceId,
            ("trace", "duration") => Intrinsic::TraceDuration,
            ("trace", "rootName") => Intrinsic::RootName,
            ("trace", "rootService") => Intrinsic::RootServiceName,
            ("event" | "link" | "instrumentation", _) => {
                return Err(self.error_at(start, format!("{scope}: intrinsics are not supported")));
            }
            _ => {
                return Err(
                    self.error_at(token.start, format!("unknown intrinsic \"{scope}:{name}\""))
                );
            }
        };
        Ok(Field::Intrinsic(intrinsic))
    }

    /// Builds and type-checks a binary field expression.
    fn binary(
        &self,
        infix: Infix,
        lhs: Typed,
        rhs: Typed,
        op: &Token,
    ) -> Result<Typed, ParseError> {
        let op_text = &self.src[op.start..op.end];
        let depth = lhs.depth.max(rhs.depth) + 1;
        self.check_depth(depth, op.start)?;
        let start = lhs.start;
        let typed = |expr, ty| Typed {
            expr,
            ty,
            depth,
            start,
        };
        match infix {
            Infix::Logic(logic) => {
                for side in [&lhs, &rhs] {
                    if !side.ty.is(Ty::Bool) {
                        return Err(self.error_at(
                            side.start,
                            format!("\"{op_text}\" needs booleans, found {}", side.ty.name()),
                        ));
                    }
                }
                let expr = FieldExpr::Logic(logic, Box::new(lhs.expr), Box::new(rhs.expr));
                Ok(typed(expr, Ty::Bool))
            }
            Infix::Arith(arith) => {
                for side in [&lhs, &rhs] {
                    if !side.ty.is(Ty::Number) {
                        return Err(self.error_at(
                            side.start,
                            format!("\"{op_text}\" needs numbers, found {}", side.ty.name()),
                        ));
                    }
                }
                let ty = if lhs.ty == Ty::Number && rhs.ty == Ty::Number {
                    Ty::Number
                } else {
                    Ty::Unknown
                };
                let expr = FieldExpr::Arith(arith, Box::new(lhs.expr), Box::new(rhs.expr));
                Ok(typed(expr, ty))
            }
            Infix::Regex { negated } => {
                let FieldExpr::Literal(Value::Str(pattern)) = rhs.expr else {
                    return Err(self.error_at(
                        rhs.start,
                        format!("the right side of \"{op_text}\" must be a string literal"),
                    ));
                };
                if !lhs.ty.is(Ty::Str) {
                    return Err(self.error_at(
                        lhs.start,
                        format!("\"{op_text}\" needs a string, found {}", lhs.ty.name()),
                    ));
                }
                let regex = compile_regex(&pattern).map_err(|err| {
                    let reason = err.to_string();
                    let reason = reason.lines().last().unwrap_or("").trim();
                    let reason = reason
                        .strip_prefix("error: ")
                        .unwrap_or(reason)
                        .to_lowercase();
                    self.error_at(rhs.start, format!("invalid regex {pattern:?}: {reason}"))
                })?;
                let expr = FieldExpr::Regex {
                    lhs: Box::new(lhs.expr),
                    pattern,
                    regex,
                    negated,
                };
                Ok(typed(expr, Ty::Bool))
            }
            Infix::Compare(compare) => self.comparison(compare, lhs, rhs, op_text, op.start),
        }
    }

    fn comparison(
        &self,
        op: CompareOp,
        lhs: Typed,
        rhs: Typed,
        op_text: &str,
        op_start: usize,
    ) -> Result<Typed, ParseError> {
        let depth = lhs.depth.max(rhs.depth) + 1;
        let start = lhs.start;
        if lhs.ty == Ty::Nil || rhs.ty == Ty::Nil {
            let existence = match op {
                CompareOp::Eq => FieldExpr::NotExists,
                CompareOp::Ne => FieldExpr::Exists,
                _ => {
                    return Err(self.error_at(
                        op_start,
                        format!("nil can only be compared with \"=\" or \"!=\", not \"{op_text}\""),
                    ));
                }
            };
            let expr = match (lhs.ty, rhs.ty) {
                (Ty::Nil, Ty::Nil) => FieldExpr::Literal(Value::Bool(false)),
                (Ty::Nil, _) => existence(Box::new(rhs.expr)),
                _ => existence(Box::new(lhs.expr)),
            };
            return Ok(Typed {
                expr,
                ty: Ty::Bool,
                depth,
                start,
            });
        }
        let concrete = if lhs.ty == Ty::Unknown {
            rhs.ty
        } else {
            lhs.ty
        };
        if lhs.ty != Ty::Unknown && rhs.ty != Ty::Unknown && lhs.ty != rhs.ty {
            return Err(self.error_at(
                op_start,
                format!(
                    "cannot compare {} with {} using \"{op_text}\"",
                    lhs.ty.name(),
                    rhs.ty.name()
                ),
            ));
        }
        let ordered = matches!(concrete, Ty::Number | Ty::Str | Ty::Unknown);
        if !ordered && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Err(self.error_at(
                op_start,
                format!("\"{op_text}\" cannot compare {}", concrete.name()),
            ));
        }
        Ok(Typed {
            expr: FieldExpr::Compare(op, Box::new(lhs.expr), Box::new(rhs.expr)),
            ty: Ty::Bool,
            depth,
            start,
        })
    }
}

/// Literal keywords: booleans, `nil`, statuses, kinds and integer bounds.
fn keyword_value(word: &str) -> Option<Value> {
    let value = match word {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "nil" => Value::Nil,
        "ok" => Value::Status(crate::Status::Ok),
        "error" => Value::Status(crate::Status::Error),
        "unset" => Value::Status(crate::Status::Unset),
        "unspecified" => Value::Kind(crate::Kind::Unspecified),
        "internal" => Value::Kind(crate::Kind::Internal),
        "server" => Value::Kind(crate::Kind::Server),
        "client" => Value::Kind(crate::Kind::Client),
        "producer" => Value::Kind(crate::Kind::Producer),
        "consumer" => Value::Kind(crate::Kind::Consumer),
        "minInt" => Value::Int(i64::MIN),
        "maxInt" => Value::Int(i64::MAX),
        _ => return None,
    };
    Some(value)
}
