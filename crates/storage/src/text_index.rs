//! The text index of log bodies: one token bloom filter per Parquet row group.
//!
//! Why this index: a rare-term search must not read every byte, and the index must
//! stay small next to logs that compress to ~10 % of their raw size. A token bloom
//! filter costs ~1.2 bytes per distinct token of a row group at 1 % false positives
//! and lives in the segment's footer, so it needs no extra files and is dropped with
//! its segment. N-gram filters would also serve arbitrary substrings, but the
//! random ids that fill real logs make every 3- and 4-gram common, so they stop
//! pruning exactly when it matters and cost several times more; a full-text engine
//! (tantivy) keeps positions and a second copy of every term, a large index and a
//! second storage format for a capability (ranking, phrases) log search does not
//! need.
//!
//! Tokens are maximal runs of letters, digits and `_`, lowercased; tokens longer
//! than [`MAX_TOKEN_BYTES`] are not indexed. A row group can be skipped for a
//! query only when a token the query *requires* is definitely absent: a term
//! search (`has_token`) requires its tokens, and a substring search requires the
//! tokens of its needle that are delimited on both sides inside the needle
//! ([`required_tokens_of_substring`]).

use base64::Engine as _;
use parquet::bloom_filter::Sbbf;

/// Parquet key-value metadata key holding the body index of a logs segment.
pub const BODY_INDEX_KEY: &str = "vispyr.text_index.body.v1";
/// Longer tokens (encoded blobs, long hashes) are not indexed.
pub const MAX_TOKEN_BYTES: usize = 64;
/// Target false-positive rate of a row group's filter.
const FPP: f64 = 0.01;
/// Upper bound of distinct tokens a filter is first sized for before folding.
const MAX_NDV: u64 = 4_000_000;

fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Calls `f` with every token of `text`, lowercased, in order (duplicates too).
pub fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let mut lower = String::new();
    for token in text.split(|c: char| !is_token_char(c)) {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            continue;
        }
        if token.chars().any(char::is_uppercase) {
            lower.clear();
            lower.extend(token.chars().flat_map(char::to_lowercase));
            f(&lower);
        } else {
            f(token);
        }
    }
}

/// The tokens of `text`, lowercased.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |token| out.push(token.to_string()));
    out
}

/// The tokens every text containing `needle` must have: those of the needle's
/// tokens that have a non-token character (or nothing is possible) on both sides
/// *inside* the needle. `"user 42 logged in"` requires `42` and `logged` (`user`
/// may be the end of `superuser`, `in` the start of `into`).
pub fn required_tokens_of_substring(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = None;
    for (index, c) in needle.char_indices() {
        match (is_token_char(c), start) {
            (true, None) => start = Some(index),
            (false, Some(begin)) => {
                if begin > 0 {
                    push_lowercase(&needle[begin..index], &mut out);
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn push_lowercase(token: &str, out: &mut Vec<String>) {
    if token.len() <= MAX_TOKEN_BYTES {
        out.push(token.to_lowercase());
    }
}

/// Builds the index of a body column split into row groups of `row_group_rows`.
pub fn build<'a>(
    bodies: impl Iterator<Item = Option<&'a str>>,
    total_rows: usize,
    row_group_rows: usize,
) -> String {
    let mut groups: Vec<(u32, Sbbf)> = Vec::new();
    let mut current: Vec<&str> = Vec::with_capacity(row_group_rows.min(total_rows));
    let mut finish = |current: &mut Vec<&'a str>| {
        let rows = current.len() as u32;
        let mut token_count = 0u64;
        for body in current.iter() {
            for_each_token(body, |_| token_count += 1);
        }
        let ndv = token_count.clamp(1, MAX_NDV);
        let mut filter = Sbbf::new_with_ndv_fpp(ndv, FPP).expect("valid false-positive rate");
        for body in current.iter() {
            for_each_token(body, |token| filter.insert(token));
        }
        filter.fold_to_target_fpp(FPP);
        groups.push((rows, filter));
        current.clear();
    };
    for body in bodies {
        current.push(body.unwrap_or(""));
        if current.len() == row_group_rows {
            finish(&mut current);
        }
    }
    if !current.is_empty() {
        finish(&mut current);
    }
    encode(&groups)
}

fn encode(groups: &[(u32, Sbbf)]) -> String {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(groups.len() as u32).to_le_bytes());
    for (rows, filter) in groups {
        let mut bitset = Vec::new();
        filter
            .write_bitset(&mut bitset)
            .expect("writing to a Vec cannot fail");
        bytes.extend_from_slice(&rows.to_le_bytes());
        bytes.extend_from_slice(&(bitset.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&bitset);
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A decoded body index: per row group, its row count and token filter.
pub struct TextIndex {
    groups: Vec<(u32, Sbbf)>,
}

impl TextIndex {
    /// Decodes the value stored under [`BODY_INDEX_KEY`]; `None` if it is damaged.
    pub fn decode(text: &str) -> Option<TextIndex> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        let mut rest = bytes.as_slice();
        let mut take = |n: usize| -> Option<&[u8]> {
            if rest.len() < n {
                return None;
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Some(head)
        };
        let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let count = u32_of(take(4)?) as usize;
        let mut groups = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let rows = u32_of(take(4)?);
            let len = u32_of(take(4)?) as usize;
            let bitset = take(len)?;
            if len == 0 || !len.is_multiple_of(32) {
                return None;
            }
            groups.push((rows, Sbbf::new(bitset)));
        }
        Some(TextIndex { groups })
    }

    /// Row counts of the row groups, to check against the file's own metadata.
    pub fn row_counts(&self) -> impl Iterator<Item = u32> + '_ {
        self.groups.iter().map(|(rows, _)| *rows)
    }

    /// Whether row group `index` may contain every token of `required`.
    pub fn may_contain_all(&self, index: usize, required: &[String]) -> bool {
        match self.groups.get(index) {
            Some((_, filter)) => required.iter().all(|token| filter.check(token.as_str())),
            None => true,
        }
    }

    /// Bytes of the filters.
    pub fn size_bytes(&self) -> usize {
        self.groups.iter().map(|(_, f)| f.num_blocks() * 32).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_lowercases_and_splits() {
        assert_eq!(
            tokens("GET /api/Users?id=42 took 3ms user_id=Ab9"),
            vec![
                "get", "api", "users", "id", "42", "took", "3ms", "user_id", "ab9"
            ]
        );
        assert!(tokens(&"x".repeat(MAX_TOKEN_BYTES + 1)).is_empty());
    }

    #[test]
    fn substring_needles_require_only_bounded_tokens() {
        assert_eq!(
            required_tokens_of_substring("user 42 logged in"),
            vec!["42", "logged"]
        );
        assert!(required_tokens_of_substring("7f3a9c21").is_empty());
        assert_eq!(required_tokens_of_substring(" Timeout "), vec!["timeout"]);
        assert_eq!(required_tokens_of_substring("=Abc,"), vec!["abc"]);
    }

    #[test]
    fn index_prunes_row_groups_without_the_token() {
        let bodies: Vec<String> = (0..1000)
            .map(|i| format!("request {i} served by node-{}", i % 3))
            .collect();
        let text = build(bodies.iter().map(|b| Some(b.as_str())), 1000, 300);
        let index = TextIndex::decode(&text).unwrap();
        assert_eq!(
            index.row_counts().collect::<Vec<_>>(),
            vec![300, 300, 300, 100]
        );
        let has = |group: usize, token: &str| index.may_contain_all(group, &[token.to_string()]);
        // Every group has the common words; "999" is only in the last one.
        for group in 0..4 {
            assert!(has(group, "request") && has(group, "served"));
        }
        assert!(has(3, "999"));
        let false_positives = (0..3).filter(|g| has(*g, "999")).count();
        assert!(false_positives <= 1, "1% filters rarely all lie");
        assert!(TextIndex::decode("not base64!").is_none());
        assert!(TextIndex::decode("AQAAAA==").is_none(), "truncated");
    }
}
