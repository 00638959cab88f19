//! A bounds-checked cursor over one region of the input.
//!
//! Every read checks the region's end first, so malformed lengths turn into
//! [`JfrError::Truncated`] instead of panics. Integers follow the chunk's
//! encoding: JFR "compressed integers" (7 bits per byte, little-endian groups,
//! the ninth byte carrying a full 8 bits) or fixed-width big-endian.

use crate::error::JfrError;

/// A string as encoded in a JFR value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawString {
    /// Encoding 0: the null reference.
    Null,
    /// Encodings 1, 3, 4 and 5: an inline (possibly empty) string.
    Inline(Box<str>),
    /// Encoding 2: a key into the `java.lang.String` constant pool.
    PoolRef(i64),
}

/// A cursor over `data[pos..end]`; offsets stay absolute for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
    compressed: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `data[start..end]`.
    ///
    /// `end` is clamped to `data.len()` and `start` to `end`, so a reader can
    /// always be built; reads past the real data then fail as truncated.
    pub(crate) fn new(data: &'a [u8], start: usize, end: usize, compressed: bool) -> Self {
        let end = end.min(data.len());
        Self {
            data,
            pos: start.min(end),
            end,
            compressed,
        }
    }

    /// A reader over the next `len` bytes of this one; this one skips them.
    pub(crate) fn sub_reader(&mut self, len: usize) -> Result<Reader<'a>, JfrError> {
        self.ensure(len)?;
        let sub = Reader::new(self.data, self.pos, self.pos + len, self.compressed);
        self.pos += len;
        Ok(sub)
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn ensure(&self, needed: usize) -> Result<(), JfrError> {
        let available = self.remaining();
        if needed > available {
            return Err(JfrError::Truncated {
                offset: self.pos,
                needed,
                available,
            });
        }
        Ok(())
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], JfrError> {
        self.ensure(len)?;
        let slice = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], JfrError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, JfrError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn be_u16(&mut self) -> Result<u16, JfrError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn be_u32(&mut self) -> Result<u32, JfrError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn be_i64(&mut self) -> Result<i64, JfrError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A JFR compressed integer: up to eight 7-bit groups, then one 8-bit group.
    fn varint(&mut self) -> Result<u64, JfrError> {
        let mut value: u64 = 0;
        for group in 0..8u32 {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << (7 * group);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        let last = self.u8()?;
        Ok(value | (u64::from(last) << 56))
    }

    /// A `long` (also used for constant pool keys and type ids).
    pub(crate) fn long(&mut self) -> Result<i64, JfrError> {
        if self.compressed {
            // Two's complement reinterpretation is the encoding's definition.
            Ok(self.varint()? as i64)
        } else {
            self.be_i64()
        }
    }

    /// An `int`; compressed ints share the long encoding and are truncated.
    pub(crate) fn int(&mut self) -> Result<i32, JfrError> {
        if self.compressed {
            Ok(self.varint()? as i32)
        } else {
            Ok(self.be_u32()? as i32)
        }
    }

    /// A `short`.
    pub(crate) fn short(&mut self) -> Result<i16, JfrError> {
        if self.compressed {
            Ok(self.varint()? as i16)
        } else {
            Ok(self.be_u16()? as i16)
        }
    }

    /// A `char` (one UTF-16 code unit).
    pub(crate) fn char(&mut self) -> Result<u16, JfrError> {
        if self.compressed {
            Ok(self.varint()? as u16)
        } else {
            self.be_u16()
        }
    }

    pub(crate) fn float(&mut self) -> Result<f32, JfrError> {
        Ok(f32::from_bits(self.be_u32()?))
    }

    pub(crate) fn double(&mut self) -> Result<f64, JfrError> {
        Ok(f64::from_bits(self.be_i64()? as u64))
    }

    /// An element count or byte length, checked against what is left.
    ///
    /// Every counted item occupies at least `min_item_size` bytes, so a count
    /// larger than `remaining / min_item_size` cannot be genuine; rejecting it
    /// here keeps callers from reserving memory for it.
    pub(crate) fn count(&mut self, min_item_size: usize) -> Result<usize, JfrError> {
        let offset = self.pos;
        let raw = self.int()?;
        let Ok(count) = usize::try_from(raw) else {
            return Err(JfrError::BadValue {
                offset,
                reason: format!("negative count {raw}"),
            });
        };
        let max_count = self.remaining() / min_item_size.max(1);
        if count > max_count {
            return Err(JfrError::Truncated {
                offset,
                needed: count.saturating_mul(min_item_size.max(1)),
                available: self.remaining(),
            });
        }
        Ok(count)
    }

    /// A string in any of the six JFR encodings.
    pub(crate) fn string(&mut self) -> Result<RawString, JfrError> {
        let offset = self.pos;
        let encoding = self.u8()?;
        match encoding {
            0 => Ok(RawString::Null),
            1 => Ok(RawString::Inline("".into())),
            2 => Ok(RawString::PoolRef(self.long()?)),
            3 => {
                let len = self.count(1)?;
                let bytes = self.bytes(len)?;
                Ok(RawString::Inline(String::from_utf8_lossy(bytes).into()))
            }
            4 => {
                let len = self.count(1)?;
                let mut units = Vec::with_capacity(len);
                for _ in 0..len {
                    units.push(self.char()?);
                }
                Ok(RawString::Inline(String::from_utf16_lossy(&units).into()))
            }
            5 => {
                let len = self.count(1)?;
                let bytes = self.bytes(len)?;
                // Latin-1 code points are the first 256 Unicode scalar values.
                let text: String = bytes.iter().map(|&b| char::from(b)).collect();
                Ok(RawString::Inline(text.into()))
            }
            other => Err(JfrError::BadValue {
                offset,
                reason: format!("unknown string encoding {other}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(bytes: &[u8]) -> Reader<'_> {
        Reader::new(bytes, 0, bytes.len(), true)
    }

    #[test]
    fn varint_decodes_groups_little_endian() {
        assert_eq!(compressed(&[0x05]).long().unwrap(), 5);
        assert_eq!(compressed(&[0x80, 0x01]).long().unwrap(), 128);
        // The padded 4-byte form the JDK uses for event sizes.
        assert_eq!(compressed(&[0x85, 0x80, 0x80, 0x00]).int().unwrap(), 5);
    }

    #[test]
    fn ninth_varint_byte_carries_eight_bits() {
        let mut bytes = vec![0xff; 8];
        bytes.push(0xff);
        assert_eq!(compressed(&bytes).long().unwrap(), -1);
    }

    #[test]
    fn truncated_varint_is_an_error() {
        let err = compressed(&[0x80, 0x80]).long().unwrap_err();
        assert!(
            matches!(err, JfrError::Truncated { offset: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn uncompressed_ints_are_big_endian() {
        let bytes = [0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 1, 0];
        let mut reader = Reader::new(&bytes, 0, bytes.len(), false);
        assert_eq!(reader.int().unwrap(), 7);
        assert_eq!(reader.long().unwrap(), 256);
    }

    #[test]
    fn all_string_encodings_decode() {
        let bytes = [
            0, // null
            1, // empty
            2, 9, // pool ref 9
            3, 2, b'h', b'i', // utf-8
            4, 2, 0x68, 0xe9, 0x01, // char array "hé" (é = 0xe9 as varint)
            5, 1, 0xe9, // latin-1 "é"
        ];
        let mut reader = compressed(&bytes);
        assert_eq!(reader.string().unwrap(), RawString::Null);
        assert_eq!(reader.string().unwrap(), RawString::Inline("".into()));
        assert_eq!(reader.string().unwrap(), RawString::PoolRef(9));
        assert_eq!(reader.string().unwrap(), RawString::Inline("hi".into()));
        assert_eq!(reader.string().unwrap(), RawString::Inline("hé".into()));
        assert_eq!(reader.string().unwrap(), RawString::Inline("é".into()));
        assert_eq!(reader.remaining(), 0);
    }

    #[test]
    fn count_larger_than_remaining_is_rejected() {
        let bytes = [100, 1, 2];
        let err = compressed(&bytes).count(1).unwrap_err();
        assert!(matches!(err, JfrError::Truncated { .. }), "{err}");
    }

    #[test]
    fn unknown_string_encoding_is_an_error() {
        let err = compressed(&[9]).string().unwrap_err();
        assert!(matches!(err, JfrError::BadValue { offset: 0, .. }), "{err}");
    }
}
