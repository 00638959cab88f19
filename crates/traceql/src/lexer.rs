//! Turns a query into tokens, following Tempo's lexer.
//!
//! Attribute names are lexed as part of their scope (`span.http.method` is
//! one token) because, as in Tempo, they may contain characters that are
//! operators elsewhere (`-`, `/`, `:`, `.`, ...): a name runs until
//! whitespace or one of `{ } ( ) = ~ ! < > & | ^ ,`, and `"..."` segments
//! (escapes `\"` and `\\` only) may hold anything.
//!
//! A lexing error becomes a [`Tok::Error`] token followed by the end, so the
//! parser reports whichever problem comes first in the text.

/// Scopes written `scope.name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DotScope {
    /// A bare `.name`.
    None,
    Span,
    Resource,
    Parent,
    Event,
    Link,
    Instrumentation,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Re,
    /// `!~`: "does not match" in filters, "not sibling" between spansets.
    Nre,
    Gt,
    Ge,
    Lt,
    Le,
    Desc,
    Ance,
    Tilde,
    NotChild,
    NotParent,
    NotDesc,
    NotAnce,
    UnionChild,
    UnionParent,
    UnionDesc,
    UnionAnce,
    UnionSibl,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    And,
    Or,
    Not,
    Pipe,
    Str(String),
    Int(i64),
    Float(f64),
    Duration(i64),
    Ident(String),
    Attr(DotScope, String),
    /// `span:`, `trace:`, ... (the scope name without the colon).
    ScopeColon(String),
    Error(String),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Byte offsets of the token in the query.
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Whether `c` may appear in an unquoted attribute name.
pub(crate) fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ','
        )
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
            end: src.len(),
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

    fn peek_second(&self) -> Option<char> {
        let mut chars = self.src[self.pos..].chars();
        chars.next();
        chars.next()
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

    fn eat_str(&mut self, s: &str) -> bool {
        if self.src[self.pos..].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Skips whitespace and Go-style comments, as Tempo's scanner does.
    fn skip_trivia(&mut self) -> Result<(), (usize, String)> {
        loop {
            let rest = &self.src[self.pos..];
            if let Some(c) = rest.chars().next()
                && c.is_whitespace()
            {
                self.pos += c.len_utf8();
            } else if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(comment) = rest.strip_prefix("/*") {
                match comment.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => return Err((self.pos, "unterminated comment".to_string())),
                }
            } else {
                return Ok(());
            }
        }
    }

    fn next_token(&mut self) -> Token {
        if let Err((start, message)) = self.skip_trivia() {
            return Token {
                tok: Tok::Error(message),
                start,
                end: self.src.len(),
            };
        }
        let start = self.pos;
        let tok = match self.lex_token() {
            Ok(tok) => tok,
            Err(message) => Tok::Error(message),
        };
        Token {
            tok,
            start,
            end: self.pos,
        }
    }

    fn lex_token(&mut self) -> Result<Tok, String> {
        let Some(c) = self.peek() else {
            return Ok(Tok::Eof);
        };
        if c.is_ascii_digit()
            || (c == '.' && self.peek_second().is_some_and(|d| d.is_ascii_digit()))
        {
            return self.lex_number();
        }
        if c.is_alphabetic() || c == '_' {
            return self.lex_word();
        }
        self.bump();
        let tok = match c {
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '.' => Tok::Attr(DotScope::None, self.lex_attribute_name()?),
            '"' => Tok::Str(self.lex_string()?),
            '`' => Tok::Str(self.lex_raw_string()?),
            '=' if self.eat('~') => Tok::Re,
            '=' => Tok::Eq,
            '!' if self.eat('=') => Tok::Ne,
            '!' if self.eat('~') => Tok::Nre,
            '!' if self.eat_str(">>") => Tok::NotDesc,
            '!' if self.eat('>') => Tok::NotChild,
            '!' if self.eat_str("<<") => Tok::NotAnce,
            '!' if self.eat('<') => Tok::NotParent,
            '!' => Tok::Not,
            '>' if self.eat('>') => Tok::Desc,
            '>' if self.eat('=') => Tok::Ge,
            '>' => Tok::Gt,
            '<' if self.eat('<') => Tok::Ance,
            '<' if self.eat('=') => Tok::Le,
            '<' => Tok::Lt,
            '&' if self.eat('&') => Tok::And,
            '&' if self.eat_str(">>") => Tok::UnionDesc,
            '&' if self.eat('>') => Tok::UnionChild,
            '&' if self.eat_str("<<") => Tok::UnionAnce,
            '&' if self.eat('<') => Tok::UnionParent,
            '&' if self.eat('~') => Tok::UnionSibl,
            '|' if self.eat('|') => Tok::Or,
            '|' => Tok::Pipe,
            '~' => Tok::Tilde,
            '+' => Tok::Add,
            '-' => Tok::Sub,
            '*' => Tok::Mul,
            '/' => Tok::Div,
            '%' => Tok::Mod,
            '^' => Tok::Pow,
            other => return Err(format!("unexpected character {other:?}")),
        };
        Ok(tok)
    }

    fn lex_word(&mut self) -> Result<Tok, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        let word = &self.src[start..self.pos];
        if self.peek() == Some('.') {
            let scope = match word {
                "span" => Some(DotScope::Span),
                "resource" => Some(DotScope::Resource),
                "parent" => Some(DotScope::Parent),
                "event" => Some(DotScope::Event),
                "link" => Some(DotScope::Link),
                "instrumentation" => Some(DotScope::Instrumentation),
                _ => None,
            };
            if let Some(scope) = scope {
                self.bump();
                return Ok(Tok::Attr(scope, self.lex_attribute_name()?));
            }
        }
        if self.peek() == Some(':')
            && matches!(
                word,
                "span" | "trace" | "event" | "link" | "instrumentation"
            )
        {
            self.bump();
            return Ok(Tok::ScopeColon(word.to_string()));
        }
        Ok(Tok::Ident(word.to_string()))
    }

    fn lex_attribute_name(&mut self) -> Result<String, String> {
        let mut name = String::new();
        let mut quoted = false;
        while let Some(c) = self.peek() {
            if c == '"' {
                quoted = true;
                self.bump();
                self.lex_quoted_attribute_part(&mut name)?;
            } else if is_attribute_char(c) {
                name.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if name.is_empty() && !quoted {
            return Err("expected an attribute name".to_string());
        }
        Ok(name)
    }

    fn lex_quoted_attribute_part(&mut self, name: &mut String) -> Result<(), String> {
        loop {
            match self.bump() {
                None => return Err("unterminated quoted attribute name".to_string()),
                Some('"') => return Ok(()),
                Some('\\') => match self.bump() {
                    Some(c @ ('"' | '\\')) => name.push(c),
                    _ => {
                        return Err(
                            "invalid escape in attribute name, only \\\" and \\\\ are allowed"
                                .to_string(),
                        );
                    }
                },
                Some(c) => name.push(c),
            }
        }
    }

    fn lex_raw_string(&mut self) -> Result<String, String> {
        let start = self.pos;
        match self.src[start..].find('`') {
            Some(len) => {
                self.pos += len + 1;
                Ok(self.src[start..start + len].to_string())
            }
            None => {
                self.pos = self.src.len();
                Err("unterminated string".to_string())
            }
        }
    }

    /// A double-quoted string with Go's escapes.
    fn lex_string(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err("unterminated string".to_string()),
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.lex_escape()?),
                Some(c) => out.push(c),
            }
        }
    }

    fn lex_escape(&mut self) -> Result<char, String> {
        let c = self.bump().ok_or("unterminated string")?;
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
        if let Some(simple) = simple {
            return Ok(simple);
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            _ => return Err(format!("invalid escape \\{c} in string")),
        };
        let mut code = if radix == 8 {
            c.to_digit(8).unwrap_or(0)
        } else {
            0
        };
        for _ in 0..digits {
            let digit = self
                .bump()
                .and_then(|d| d.to_digit(radix))
                .ok_or_else(|| format!("invalid escape \\{c} in string"))?;
            code = code
                .checked_mul(radix)
                .and_then(|v| v.checked_add(digit))
                .unwrap_or(u32::MAX);
        }
        char::from_u32(code).ok_or_else(|| format!("invalid escape \\{c} in string"))
    }

    fn lex_number(&mut self) -> Result<Tok, String> {
        let start = self.pos;
        let mut is_float = false;
        self.skip_digits();
        if self.peek() == Some('.') && self.peek_second().is_some_and(|d| d.is_ascii_digit()) {
            is_float = true;
            self.bump();
            self.skip_digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let rest = &self.src[self.pos + 1..];
            let sign = usize::from(rest.starts_with(['+', '-']));
            if rest[sign..].starts_with(|c: char| c.is_ascii_digit()) {
                is_float = true;
                self.pos += 1 + sign;
                self.skip_digits();
            }
        }
        if self.peek().is_some_and(|c| c.is_alphabetic()) {
            while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '.') {
                self.bump();
            }
            let text = &self.src[start..self.pos];
            return parse_duration(text)
                .map(Tok::Duration)
                .ok_or_else(|| format!("invalid duration {text:?}"));
        }
        let text = &self.src[start..self.pos];
        if is_float {
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Tok::Float(x)),
                _ => Err(format!("float literal {text} is out of range")),
            }
        } else {
            text.parse::<i64>()
                .map(Tok::Int)
                .map_err(|_| format!("integer literal {text} is out of range"))
        }
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }
}

/// Parses `1h30m`, `1.5s`, `100ms`, ... into nanoseconds. Units are Go's
/// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`) plus Prometheus' `d`, `w`, `y`.
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let mut rest = text;
    let mut total: i128 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_ns: i128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 604_800_000_000_000,
            "y" => 31_536_000_000_000_000,
            _ => return None,
        };
        total = total.checked_add(scaled(number, unit_ns)?)?;
        rest = next;
    }
    i64::try_from(total).ok()
}

/// `number` (digits with an optional fraction) times `unit_ns`, truncated.
fn scaled(number: &str, unit_ns: i128) -> Option<i128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    for digit in whole.chars() {
        value = value
            .checked_mul(10)?
            .checked_add(i128::from(digit.to_digit(10)?))?;
    }
    value = value.checked_mul(unit_ns)?;
    let mut scale = unit_ns;
    for digit in fraction.chars() {
        let digit = i128::from(digit.to_digit(10)?);
        if scale >= 10 {
            scale /= 10;
            value = value.checked_add(digit * scale)?;
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("100ns"), Some(100));
        assert_eq!(parse_duration("10us"), Some(10_000));
        assert_eq!(parse_duration("10µs"), Some(10_000));
        assert_eq!(parse_duration("100ms"), Some(100_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("2m"), Some(120_000_000_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000_000_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000_000_000));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("9999999999h"), None);
    }

    #[test]
    fn scoped_attributes_are_one_token() {
        let tokens = tokenize("{span.http.status_code>=200}");
        let kinds: Vec<Tok> = tokens.into_iter().map(|t| t.tok).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::LBrace,
                Tok::Attr(DotScope::Span, "http.status_code".into()),
                Tok::Ge,
                Tok::Int(200),
                Tok::RBrace,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn quoted_attribute_segments_concatenate() {
        let tokens = tokenize(r#"span.a."b c\"d""#);
        assert_eq!(tokens[0].tok, Tok::Attr(DotScope::Span, "a.b c\"d".into()));
    }

    #[test]
    fn longest_operator_wins() {
        let kinds: Vec<Tok> = tokenize("!>> !> &>> &~ >> >= << !~ =~")
            .into_iter()
            .map(|t| t.tok)
            .collect();
        assert_eq!(
            kinds,
            vec![
                Tok::NotDesc,
                Tok::NotChild,
                Tok::UnionDesc,
                Tok::UnionSibl,
                Tok::Desc,
                Tok::Ge,
                Tok::Ance,
                Tok::Nre,
                Tok::Re,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_are_skipped() {
        let kinds: Vec<Tok> = tokenize("{ /* all */ } // spans\n")
            .into_iter()
            .map(|t| t.tok)
            .collect();
        assert_eq!(kinds, vec![Tok::LBrace, Tok::RBrace, Tok::Eof]);
    }

    #[test]
    fn string_escapes() {
        let tokens = tokenize(r#""a\"b\\c\n\x41\u00e9" `raw\n`"#);
        assert_eq!(tokens[0].tok, Tok::Str("a\"b\\c\nAé".into()));
        assert_eq!(tokens[1].tok, Tok::Str("raw\\n".into()));
    }
}
