//! Text search over log bodies: the `has_token` SQL function and row-group pruning
//! by the segments' body index (see `vispyr_storage::text_index`).
//!
//! ```text
//!  WHERE has_token(body, 'timeout')  ─┐
//!  WHERE body LIKE '%user 42 in%'    ─┼─ required tokens ─▶ per segment: footer index
//!  WHERE body ILIKE '% refused %'    ─┘                      ─▶ row groups that may match
//! ```
//! Pruning never changes a result: the filters still run on every row read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::{Like, ScalarFunction};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignature, Volatility,
};
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use vispyr_storage::SegmentMeta;
use vispyr_storage::text_index::{self, TextIndex};

/// Name of the SQL function.
pub const HAS_TOKEN: &str = "has_token";
/// The column the index covers.
const BODY: &str = "body";
/// Decoded indexes kept; segments are immutable, so entries never go stale.
const CACHE_ENTRIES: usize = 4096;

/// `has_token(text, words)`: true when every word of `words` (letters, digits and
/// `_`) is a whole word of `text`, ignoring case. Unlike `LIKE`, it can always use
/// the text index, so it is the fast way to find a rare term.
#[derive(Debug, PartialEq, Eq, Hash)]
struct HasToken {
    signature: Signature,
}

/// The `has_token` function, to register in a session.
pub fn has_token_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(HasToken {
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8View, DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8View]),
                TypeSignature::Exact(vec![DataType::Utf8View, DataType::Utf8View]),
            ],
            Volatility::Immutable,
        ),
    })
}

/// Whether every token of `words` (already lowercased) is a token of `text`.
pub fn has_tokens(text: &str, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let mut found = vec![false; words.len()];
    text_index::for_each_token(text, |token| {
        for (index, word) in words.iter().enumerate() {
            if word == token {
                found[index] = true;
            }
        }
    });
    found.iter().all(|f| *f)
}

fn strings_of(array: &ArrayRef) -> Result<Vec<Option<&str>>> {
    match array.data_type() {
        DataType::Utf8 => Ok(array.as_string::<i32>().iter().collect()),
        DataType::Utf8View => Ok(array.as_string_view().iter().collect()),
        DataType::LargeUtf8 => Ok(array.as_string::<i64>().iter().collect()),
        other => Err(DataFusionError::Plan(format!(
            "{HAS_TOKEN} takes strings, got {other}"
        ))),
    }
}

impl ScalarUDFImpl for HasToken {
    fn name(&self) -> &str {
        HAS_TOKEN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = strings_of(&arrays[0])?;
        let words = strings_of(&arrays[1])?;
        // The words are nearly always a literal: tokenize them once.
        let constant = matches!(args.args[1], ColumnarValue::Scalar(_));
        let first_words = words
            .first()
            .copied()
            .flatten()
            .map(text_index::tokens)
            .unwrap_or_default();
        let result: BooleanArray = (0..rows)
            .map(|row| {
                let text = texts[row]?;
                let row_words = if constant {
                    None
                } else {
                    Some(text_index::tokens(words[row]?))
                };
                Some(has_tokens(
                    text,
                    row_words.as_deref().unwrap_or(&first_words),
                ))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

fn is_body(expr: &Expr) -> bool {
    matches!(expr, Expr::Column(column) if column.name == BODY)
}

fn literal_text(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(text)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(text)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(text)), _) => Some(text),
        _ => None,
    }
}

/// Tokens every row passing `filters` (a conjunction) must have in `body`.
pub(crate) fn required_body_tokens(filters: &[Expr]) -> Vec<String> {
    let mut out = Vec::new();
    for filter in filters {
        collect(filter, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn collect(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            collect(left, out);
            collect(right, out);
        }
        Expr::ScalarFunction(ScalarFunction { func, args })
            if func.name() == HAS_TOKEN && args.len() == 2 && is_body(&args[0]) =>
        {
            if let Some(words) = literal_text(&args[1]) {
                out.extend(text_index::tokens(words));
            }
        }
        Expr::Like(Like {
            negated: false,
            expr,
            pattern,
            escape_char,
            ..
        }) if is_body(expr) => {
            if let Some(pattern) = literal_text(pattern) {
                for part in like_literals(pattern, escape_char.unwrap_or('\\')) {
                    out.extend(text_index::required_tokens_of_substring(&part));
                }
            }
        }
        _ => {}
    }
}

/// The literal runs of a `LIKE` pattern between its wildcards.
fn like_literals(pattern: &str, escape: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            if let Some(next) = chars.next() {
                parts.last_mut().expect("never empty").push(next);
            }
        } else if c == '%' || c == '_' {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("never empty").push(c);
        }
    }
    parts.retain(|part| !part.is_empty());
    parts
}

/// Decoded body indexes of segments, by segment id.
#[derive(Debug, Default)]
pub(crate) struct IndexCache {
    entries: Mutex<HashMap<String, Option<Arc<TextIndexEntry>>>>,
}

/// An index with the row counts of its file checked.
pub(crate) struct TextIndexEntry {
    index: TextIndex,
}

impl std::fmt::Debug for TextIndexEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextIndexEntry")
            .field("bytes", &self.index.size_bytes())
            .finish()
    }
}

impl TextIndexEntry {
    /// Row groups that may hold a row with every token of `required`.
    pub fn row_groups(&self, required: &[String]) -> Vec<bool> {
        (0..self.index.row_counts().count())
            .map(|group| self.index.may_contain_all(group, required))
            .collect()
    }
}

impl IndexCache {
    /// The body index of `segment`, read from its footer the first time; `None`
    /// when the segment has none (written before the index existed) or it does not
    /// match the file.
    pub async fn get(
        &self,
        store: &Arc<dyn ObjectStore>,
        segment: &SegmentMeta,
    ) -> Option<Arc<TextIndexEntry>> {
        if let Some(entry) = self.lock().get(&segment.id) {
            return entry.clone();
        }
        let entry = load(store, segment).await.map(Arc::new);
        let mut entries = self.lock();
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(segment.id.clone(), entry.clone());
        entry
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Arc<TextIndexEntry>>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads a segment's footer: the last 8 bytes give the metadata length.
async fn read_footer(
    store: &Arc<dyn ObjectStore>,
    segment: &SegmentMeta,
) -> Result<ParquetMetaData, String> {
    let path = object_store::path::Path::from(segment.path.as_str());
    let size = segment.bytes;
    if size < 12 {
        return Err("file too small".into());
    }
    let tail = store
        .get_range(&path, size - 8..size)
        .await
        .map_err(|e| e.to_string())?;
    if &tail[4..8] != b"PAR1" {
        return Err("not a Parquet file".into());
    }
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if length + 12 > size {
        return Err("footer longer than the file".into());
    }
    let footer = store
        .get_range(&path, size - 8 - length..size - 8)
        .await
        .map_err(|e| e.to_string())?;
    ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| e.to_string())
}

async fn load(store: &Arc<dyn ObjectStore>, segment: &SegmentMeta) -> Option<TextIndexEntry> {
    let metadata = match read_footer(store, segment).await {
        Ok(metadata) => metadata,
        Err(error) => {
            tracing::warn!(segment = %segment.path, %error, "cannot read the segment footer");
            return None;
        }
    };
    let value = metadata
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == text_index::BODY_INDEX_KEY)?
        .value
        .as_deref()?;
    let index = TextIndex::decode(value)?;
    let file_rows = metadata.row_groups().iter().map(|rg| rg.num_rows() as u32);
    if !index.row_counts().eq(file_rows) {
        tracing::warn!(segment = %segment.path, "text index does not match the row groups; not used");
        return None;
    }
    Some(TextIndexEntry { index })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_split_at_wildcards() {
        assert_eq!(like_literals("%a b%c_d%", '\\'), vec!["a b", "c", "d"]);
        assert_eq!(like_literals("%50\\%%", '\\'), vec!["50%"]);
    }

    #[test]
    fn has_tokens_matches_whole_words_ignoring_case() {
        let words = text_index::tokens("Timeout DB");
        assert!(has_tokens("db call: TIMEOUT after 3s", &words));
        assert!(!has_tokens("dbx timeout", &words));
        assert!(has_tokens("anything", &[]));
    }
}
