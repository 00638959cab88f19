//! The one error type of this crate.

/// Why a recording could not be parsed.
///
/// Offsets are byte positions in the (decompressed) input, so a report can be
/// checked with `xxd -s OFFSET`.
#[derive(Debug, thiserror::Error)]
pub enum JfrError {
    /// The input holds no bytes at all.
    #[error("empty input: no jfr chunk")]
    EmptyInput,

    /// A chunk does not start with `FLR\0`.
    #[error("bad magic at offset {offset}: expected \"FLR\\0\", found {found:02x?}")]
    BadMagic {
        /// Where the chunk was expected to start.
        offset: usize,
        /// The bytes found there (up to four).
        found: Vec<u8>,
    },

    /// A chunk header names a format version this parser does not read.
    #[error("unsupported jfr version {major}.{minor} at offset {offset}")]
    UnsupportedVersion {
        /// Where the chunk starts.
        offset: usize,
        /// Major version from the header.
        major: u16,
        /// Minor version from the header.
        minor: u16,
    },

    /// A chunk header is self-contradictory (sizes, offsets, tick rate).
    #[error("invalid chunk header at offset {offset}: {reason}")]
    BadChunkHeader {
        /// Where the chunk starts.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// The input ends (or an enclosing event ends) before a value does.
    #[error("truncated at offset {offset}: needed {needed} more bytes, {available} available")]
    Truncated {
        /// Where the read started.
        offset: usize,
        /// How many bytes the read needed.
        needed: usize,
        /// How many bytes were left in the enclosing region.
        available: usize,
    },

    /// A variable-length integer, length or string encoding is invalid.
    #[error("malformed value at offset {offset}: {reason}")]
    BadValue {
        /// Where the value starts.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// The metadata event (the type descriptions) is malformed.
    #[error("malformed metadata at offset {offset}: {reason}")]
    BadMetadata {
        /// Where the metadata event or the offending element starts.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A checkpoint event (constant pools) is malformed.
    #[error("malformed checkpoint at offset {offset}: {reason}")]
    BadCheckpoint {
        /// Where the checkpoint event starts.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// An event header is malformed (zero size, runs past its chunk).
    #[error("malformed event at offset {offset}: {reason}")]
    BadEvent {
        /// Where the event starts.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A value or constant pool names a type id the metadata does not declare.
    #[error("unknown type id {type_id} at offset {offset}")]
    UnknownType {
        /// Where the reference was read.
        offset: usize,
        /// The undeclared type id.
        type_id: i64,
    },

    /// Values nest deeper than the parser allows (recursive type descriptions).
    #[error("nesting deeper than {limit} levels at offset {offset}")]
    TooDeep {
        /// Where the over-deep value starts.
        offset: usize,
        /// The depth limit.
        limit: usize,
    },

    /// The input asks for more work or output than its size justifies.
    #[error("resource limit exceeded: {what}")]
    LimitExceeded {
        /// Which limit was hit.
        what: String,
    },

    /// The input starts with the gzip magic but does not decompress.
    #[error("gzip decompression failed")]
    Gzip(#[source] std::io::Error),
}
