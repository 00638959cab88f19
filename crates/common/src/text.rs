//! Positions in query text, for parser errors.

/// Where byte `offset` of `src` is: the offset clamped to the text and moved back
/// to a character boundary, and its 1-based line and column (in characters).
pub fn position(src: &str, offset: usize) -> (usize, usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (offset, line, column)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_columns_and_char_boundaries() {
        assert_eq!(super::position("ab\ncd", 4), (4, 2, 2));
        assert_eq!(super::position("ab", 99), (2, 1, 3));
        assert_eq!(super::position("é", 1), (0, 1, 1));
    }
}
