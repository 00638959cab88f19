//! Malformed queries: exact positions and messages.

use vispyr_traceql::parse;

#[track_caller]
fn error(query: &str, line: usize, column: usize, message: &str) {
    let err = match parse(query) {
        Ok(parsed) => panic!("{query:?} parsed as {parsed}"),
        Err(err) => err,
    };
    assert_eq!(
        (err.line, err.column, err.message.as_str()),
        (line, column, message),
        "error for {query:?}"
    );
}

#[test]
fn display_is_like_tempo() {
    let err = parse("{ .a = 1 && }").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"parse error at line 1, col 13: unexpected "}", expected a value"#
    );
    assert_eq!(err.offset, 12);
}

#[test]
fn missing_values_and_braces() {
    error(
        r#"{ name = "a" && }"#,
        1,
        17,
        r#"unexpected "}", expected a value"#,
    );
    error(
        "{ 2 = .b ",
        1,
        10,
        r#"unexpected end of query, expected an operator or "}""#,
    );
    error("{ + }", 1, 3, r#"unexpected "+", expected a value"#);
    error("{ 2 <> 3}", 1, 6, r#"unexpected ">", expected a value"#);
    error("{", 1, 2, "unexpected end of query, expected a value");
    error(
        "{ .a = 1 } &&",
        1,
        14,
        r#"unexpected end of query, expected "{" or "(""#,
    );
    error("", 1, 1, r#"unexpected end of query, expected "{""#);
    error(
        "wharblgarbl",
        1,
        1,
        r#"unexpected "wharblgarbl", expected "{""#,
    );
    error(
        "{ .a } { .b }",
        1,
        8,
        r#"unexpected "{", expected a spanset operator, "|" or end of query"#,
    );
    error(
        "{ .a | .b }",
        1,
        6,
        r#"unexpected "|", expected an operator or "}""#,
    );
    error(
        "({ .a } | { .b }",
        1,
        17,
        r#"unexpected end of query, expected a spanset operator, "|" or ")""#,
    );
}

#[test]
fn positions_count_lines_and_characters() {
    error(
        "{\n  name = \"é\" &&\n  }",
        3,
        3,
        r#"unexpected "}", expected a value"#,
    );
    error(
        "{ name = \"é\" && ) }",
        1,
        17,
        r#"unexpected ")", expected a value"#,
    );
}

#[test]
fn pipeline_errors() {
    error(
        "{ } | count(",
        1,
        13,
        r#"unexpected end of query, expected ")""#,
    );
    error(
        "{ } | count(.thing)",
        1,
        13,
        r#"unexpected ".thing", expected ")""#,
    );
    error(
        "{ } | count()",
        1,
        14,
        "unexpected end of query, expected an arithmetic or comparison operator",
    );
    error(
        "{ } | avg(name) > 1",
        1,
        11,
        "avg() needs a number, found a string",
    );
    error(
        "{ } | 1 > 2",
        1,
        7,
        "a pipeline comparison needs an aggregate such as count() or avg(duration)",
    );
    error(
        "{ } | count() > \"a\"",
        1,
        17,
        r#"unexpected ""a"", expected an aggregate or a number"#,
    );
    error(
        "{ } | rate()",
        1,
        7,
        "metrics queries are not supported: rate()",
    );
    error("{ } |", 1, 6, r#"unexpected end of query, expected "{""#);
    error(
        "{ } | select()",
        1,
        14,
        r#"unexpected ")", expected a value"#,
    );
    error(
        "{ } | select(1)",
        1,
        14,
        "select() takes attributes and intrinsics only",
    );
}

#[test]
fn lexer_errors() {
    error(r#"{ name = "abc }"#, 1, 10, "unterminated string");
    error("{ .a = `abc }", 1, 8, "unterminated string");
    error(r#"{ name = "\q" }"#, 1, 10, r"invalid escape \q in string");
    error("{ duration > 5x }", 1, 14, r#"invalid duration "5x""#);
    error(
        "{ .a = 99999999999999999999 }",
        1,
        8,
        "integer literal 99999999999999999999 is out of range",
    );
    error("{ .a = 1 } & { .b }", 1, 12, "unexpected character '&'");
    error("{ .a = 1 } # x", 1, 12, "unexpected character '#'");
    error(
        r#"{ span."abc = 1 }"#,
        1,
        3,
        "unterminated quoted attribute name",
    );
    error("{ span. = 1 }", 1, 3, "expected an attribute name");
    error("{ /* open", 1, 3, "unterminated comment");
}

#[test]
fn lexer_error_after_parse_error_is_not_reported_first() {
    error(
        r#"{ } } "unterminated"#,
        1,
        5,
        r#"unexpected "}", expected a spanset operator, "|" or end of query"#,
    );
}

#[test]
fn identifiers_and_scopes() {
    error("{ foo = 1 }", 1, 3, r#"unknown identifier "foo""#);
    error("{ span:foo = 1 }", 1, 8, r#"unknown intrinsic "span:foo""#);
    error(
        "{ trace:name = 1 }",
        1,
        9,
        r#"unknown intrinsic "trace:name""#,
    );
    error(
        "{ event.foo = 1 }",
        1,
        3,
        "event. attributes are not supported",
    );
    error(
        "{ parent.foo = 1 }",
        1,
        3,
        "parent. attributes are not supported",
    );
    error(
        r#"{ event:name = "x" }"#,
        1,
        3,
        "event: intrinsics are not supported",
    );
    error(
        "{ nestedSetLeft = 1 }",
        1,
        3,
        r#"intrinsic "nestedSetLeft" is not supported"#,
    );
    error(
        "{ span:",
        1,
        8,
        "unexpected end of query, expected an intrinsic name",
    );
}

#[test]
fn type_errors() {
    error(
        "{ 1 }",
        1,
        3,
        "a spanset filter must be a boolean expression, found a number",
    );
    error(
        "{ name }",
        1,
        3,
        "a spanset filter must be a boolean expression, found a string",
    );
    error(
        r#"{ 1 = "a" }"#,
        1,
        5,
        r#"cannot compare a number with a string using "=""#,
    );
    error(
        "{ status = server }",
        1,
        10,
        r#"cannot compare a status with a kind using "=""#,
    );
    error("{ status > ok }", 1, 10, r#"">" cannot compare a status"#);
    error(
        "{ .a = true && 1 }",
        1,
        16,
        r#""&&" needs booleans, found a number"#,
    );
    error(
        r#"{ "a" + 1 = 2 }"#,
        1,
        3,
        r#""+" needs numbers, found a string"#,
    );
    error(
        "{ name =~ .a }",
        1,
        11,
        r#"the right side of "=~" must be a string literal"#,
    );
    error(
        r#"{ duration =~ "a" }"#,
        1,
        3,
        r#""=~" needs a string, found a number"#,
    );
    error(
        r#"{ name =~ "(" }"#,
        1,
        11,
        r#"invalid regex "(": unclosed group"#,
    );
    error(
        "{ .a > nil }",
        1,
        6,
        r#"nil can only be compared with "=" or "!=", not ">""#,
    );
    error(
        "{ nil }",
        1,
        3,
        "a spanset filter must be a boolean expression, found nil",
    );
    error("{ !name }", 1, 3, r#""!" needs a boolean, found a string"#);
    error(
        "{ -name = 1 }",
        1,
        3,
        r#""-" needs a number, found a string"#,
    );
}

#[test]
fn too_deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{{ .a }}{}", "(".repeat(500), ")".repeat(500));
    let err = parse(&deep).unwrap_err();
    assert!(err.message.contains("nested more than"), "{err}");
    let deep_field = format!("{{ {}.a{} }}", "(".repeat(500), ")".repeat(500));
    assert!(
        parse(&deep_field)
            .unwrap_err()
            .message
            .contains("nested more than")
    );
    let unary = format!("{{ {}true }}", "!".repeat(500));
    assert!(
        parse(&unary)
            .unwrap_err()
            .message
            .contains("nested more than")
    );
    let long_chain = format!("{{ {} }}", vec![".a = 1"; 2000].join(" && "));
    assert!(
        parse(&long_chain)
            .unwrap_err()
            .message
            .contains("too complex")
    );
    let ok_chain = format!("{{ {} }}", vec![".a = 1"; 200].join(" && "));
    assert!(parse(&ok_chain).is_ok());
}
