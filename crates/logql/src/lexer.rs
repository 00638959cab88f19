//! Turns a query into tokens.
//!
//! Keywords (`by`, `json`, `sum`, ...) are lexed as identifiers and
//! recognised by the parser from context, so `{json="x"}` stays a label
//! named `json`. A number directly followed by letters is a duration
//! (`5m`, `1h30m`, `250ms`) or a byte size (`10KB`, `1MiB`). `#` starts a
//! comment that runs to the end of the line.
//!
//! A lexing error becomes a [`Tok::Error`] token followed by the end, so the
//! parser reports whichever problem comes first in the text.

use crate::units::{parse_bytes, parse_duration};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `!>`
    NotPattern,
    /// `|`
    Pipe,
    /// `==`
    CmpEq,
    Gt,
    Ge,
    Lt,
    Le,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Str(String),
    Number(f64),
    /// Nanoseconds.
    Duration(i64),
    Bytes(u64),
    Ident(String),
    /// `--strict`, `--keep-empty` (the name without dashes).
    Flag(String),
    Error(String),
    Eof,
}

impl Tok {
    /// How goyacc names the token in "unexpected X" messages: the text of
    /// punctuation, the class of literals.
    pub(crate) fn describe(&self) -> String {
        let text = match self {
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Eq => "=",
            Tok::Neq => "!=",
            Tok::Re => "=~",
            Tok::Nre => "!~",
            Tok::PipeExact => "|=",
            Tok::PipeMatch => "|~",
            Tok::PipePattern => "|>",
            Tok::NotPattern => "!>",
            Tok::Pipe => "|",
            Tok::CmpEq => "==",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Add => "+",
            Tok::Sub => "-",
            Tok::Mul => "*",
            Tok::Div => "/",
            Tok::Mod => "%",
            Tok::Pow => "^",
            Tok::Str(_) => "STRING",
            Tok::Number(_) => "NUMBER",
            Tok::Duration(_) => "DURATION",
            Tok::Bytes(_) => "BYTES",
            Tok::Ident(name) => return keyword_or_identifier(name),
            Tok::Flag(name) => return format!("--{name}"),
            Tok::Error(_) => "error",
            Tok::Eof => "$end",
        };
        text.to_string()
    }
}

/// Words Loki's lexer turns into their own tokens; everything else is an
/// IDENTIFIER in messages.
fn keyword_or_identifier(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "bool",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "and",
        "or",
        "unless",
        "json",
        "logfmt",
        "regexp",
        "pattern",
        "unpack",
        "line_format",
        "label_format",
        "drop",
        "keep",
        "unwrap",
        "decolorize",
    ];
    if KEYWORDS.contains(&name) {
        name.to_string()
    } else {
        "IDENTIFIER".to_string()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Byte offset of the token in the query.
    pub(crate) start: usize,
}

/// Lexes the whole query. The last token is always [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token();
        let stop = matches!(token.tok, Tok::Eof | Tok::Error(_));
        tokens.push(token);
        if stop {
            break;
        }
    }
    if !matches!(tokens.last().map(|t| &t.tok), Some(Tok::Eof)) {
        tokens.push(Token {
            tok: Tok::Eof,
            start: src.len(),
        });
    }
    tokens
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn next_token(&mut self) -> Token {
        self.skip_space_and_comments();
        let start = self.pos;
        let tok = self.lex_one();
        Token { tok, start }
    }

    fn lex_one(&mut self) -> Tok {
        let Some(c) = self.bump() else {
            return Tok::Eof;
        };
        match c {
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '+' => Tok::Add,
            '*' => Tok::Mul,
            '/' => Tok::Div,
            '%' => Tok::Mod,
            '^' => Tok::Pow,
            '=' => {
                if self.eat('~') {
                    Tok::Re
                } else if self.eat('=') {
                    Tok::CmpEq
                } else {
                    Tok::Eq
                }
            }
            '!' => {
                if self.eat('=') {
                    Tok::Neq
                } else if self.eat('~') {
                    Tok::Nre
                } else if self.eat('>') {
                    Tok::NotPattern
                } else {
                    Tok::Error("syntax error: unexpected character \"!\"".into())
                }
            }
            '|' => {
                if self.eat('=') {
                    Tok::PipeExact
                } else if self.eat('~') {
                    Tok::PipeMatch
                } else if self.eat('>') {
                    Tok::PipePattern
                } else {
                    Tok::Pipe
                }
            }
            '>' => {
                if self.eat('=') {
                    Tok::Ge
                } else {
                    Tok::Gt
                }
            }
            '<' => {
                if self.eat('=') {
                    Tok::Le
                } else {
                    Tok::Lt
                }
            }
            '-' => {
                if self.peek() == Some('-')
                    && self.peek_at(1).is_some_and(|c| c.is_ascii_alphabetic())
                {
                    self.bump();
                    let start = self.pos;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    {
                        self.bump();
                    }
                    Tok::Flag(self.src[start..self.pos].to_string())
                } else {
                    Tok::Sub
                }
            }
            '"' => self.double_quoted(),
            '`' => self.backquoted(),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|n| n.is_ascii_digit())) =>
            {
                self.number(self.pos - 1)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.pos - 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.bump();
                }
                Tok::Ident(self.src[start..self.pos].to_string())
            }
            other => Tok::Error(format!("syntax error: unexpected character {other:?}")),
        }
    }

    fn number(&mut self, start: usize) -> Tok {
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_alphanumeric() || c == '.' || c == 'µ' || c == 'μ' => {
                    self.bump();
                }
                Some('+' | '-')
                    if matches!(self.src[start..self.pos].chars().last(), Some('e' | 'E'))
                        && self.peek_at(1).is_some_and(|c| c.is_ascii_digit())
                        && self.src[start..self.pos - 1]
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '.') =>
                {
                    self.bump();
                }
                _ => break,
            }
        }
        let text = &self.src[start..self.pos];
        let plain_number = text.chars().all(|c| c.is_ascii_digit() || c == '.')
            || text.contains(['e', 'E']) && !text.to_ascii_lowercase().ends_with('b');
        if plain_number && let Ok(v) = text.parse::<f64>() {
            if !v.is_finite() {
                return Tok::Error(format!("syntax error: number {text:?} out of range"));
            }
            return Tok::Number(v);
        }
        if let Some(ns) = parse_duration(text) {
            return Tok::Duration(ns);
        }
        if text.to_ascii_lowercase().ends_with('b')
            && let Some(bytes) = parse_bytes(text)
        {
            return Tok::Bytes(bytes);
        }
        Tok::Error(format!("syntax error: invalid number {text:?}"))
    }

    fn backquoted(&mut self) -> Tok {
        let start = self.pos;
        while let Some(c) = self.bump() {
            if c == '`' {
                return Tok::Str(self.src[start..self.pos - 1].to_string());
            }
        }
        Tok::Error("syntax error: literal not terminated".into())
    }

    fn double_quoted(&mut self) -> Tok {
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Tok::Error("syntax error: literal not terminated".into());
            };
            match c {
                '"' => return Tok::Str(out),
                '\n' => return Tok::Error("syntax error: literal not terminated".into()),
                '\\' => match self.escape() {
                    Ok(decoded) => out.push_str(&decoded),
                    Err(message) => return Tok::Error(message),
                },
                other => out.push(other),
            }
        }
    }

    /// One escape sequence after a backslash, as Go's `strconv.Unquote`.
    fn escape(&mut self) -> Result<String, String> {
        let invalid = || "syntax error: invalid escape sequence in string".to_string();
        let c = self.bump().ok_or_else(invalid)?;
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(decoded) = simple {
            return Ok(decoded.to_string());
        }
        let hex = |lexer: &mut Self, n: usize| -> Result<u32, String> {
            let mut value = 0u32;
            for _ in 0..n {
                let digit = lexer
                    .bump()
                    .and_then(|d| d.to_digit(16))
                    .ok_or_else(invalid)?;
                value = value * 16 + digit;
            }
            Ok(value)
        };
        match c {
            'x' => {
                let byte = hex(self, 2)?;
                // Go strings are bytes; keep ASCII, map the rest to the
                // code point of the same value.
                char::from_u32(byte)
                    .map(|ch| ch.to_string())
                    .ok_or_else(invalid)
            }
            'u' => char::from_u32(hex(self, 4)?)
                .map(|ch| ch.to_string())
                .ok_or_else(invalid),
            'U' => char::from_u32(hex(self, 8)?)
                .map(|ch| ch.to_string())
                .ok_or_else(invalid),
            '0'..='7' => {
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let digit = self
                        .bump()
                        .and_then(|d| d.to_digit(8))
                        .ok_or_else(invalid)?;
                    value = value * 8 + digit;
                }
                char::from_u32(value)
                    .filter(|_| value <= 255)
                    .map(|ch| ch.to_string())
                    .ok_or_else(invalid)
            }
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_operators() {
        assert_eq!(
            toks(r#"{a="b"} |= != |~ !~ | == >= > <= < =~ |> !>"#),
            vec![
                Tok::LBrace,
                Tok::Ident("a".into()),
                Tok::Eq,
                Tok::Str("b".into()),
                Tok::RBrace,
                Tok::PipeExact,
                Tok::Neq,
                Tok::PipeMatch,
                Tok::Nre,
                Tok::Pipe,
                Tok::CmpEq,
                Tok::Ge,
                Tok::Gt,
                Tok::Le,
                Tok::Lt,
                Tok::Re,
                Tok::PipePattern,
                Tok::NotPattern,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn lexes_literals() {
        assert_eq!(
            toks(r#"5m 1h30m 1.5 10KB 1kib 250ms 1e3 "a\"b\n\u00e9" `raw\n` --strict"#),
            vec![
                Tok::Duration(300_000_000_000),
                Tok::Duration(5_400_000_000_000),
                Tok::Number(1.5),
                Tok::Bytes(10_000),
                Tok::Bytes(1024),
                Tok::Duration(250_000_000),
                Tok::Number(1000.0),
                Tok::Str("a\"b\né".into()),
                Tok::Str("raw\\n".into()),
                Tok::Flag("strict".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn skips_comments_and_reports_errors() {
        assert_eq!(
            toks("a # comment\n b"),
            vec![Tok::Ident("a".into()), Tok::Ident("b".into()), Tok::Eof]
        );
        assert!(matches!(toks(r#""abc"#)[0], Tok::Error(_)));
        assert!(matches!(toks(r#""\q""#)[0], Tok::Error(_)));
        assert!(matches!(toks("5zz")[0], Tok::Error(_)));
        assert!(matches!(toks("@")[0], Tok::Error(_)));
    }
}
