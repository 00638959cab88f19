//! The queue's on-disk layout: segment headers, record frames and the
//! serialised [`Outgoing`] (format version 1). Everything is little-endian.
//!
//! ```text
//! segment file  = header frame*
//! header        = "VSPYRQ" u16:format_version(=1)                     8 bytes
//! frame         = u32:payload_len u32:crc32c(payload) payload
//! payload (v1)  = u8:payload_version(=1) u8:endpoint u64:enqueued_unix_ms
//!                 u32:len path_and_query u32:len content_type
//!                 u32:len content_encoding   (0 = none)
//!                 body                       (the rest of the payload)
//! endpoint      = 0 the server's HTTP port (Pyroscope, remote write, Loki)
//!               | 1 the server's OTLP/HTTP port
//! ```
//!
//! A frame whose length runs past the end of the file, whose length is 0 or
//! larger than [`MAX_PAYLOAD`], or whose CRC does not match is corrupt: nothing
//! after it in the segment can be trusted (the lengths that follow are not
//! known). A frame that checks out but whose payload cannot be decoded (an
//! unknown payload version, say, written by a newer agent) is skipped alone.

use crate::outgoing::{Endpoint, Outgoing};

/// The first six bytes of every segment file.
pub const SEGMENT_MAGIC: &[u8; 6] = b"VSPYRQ";
/// The segment layout this agent writes and reads.
pub const SEGMENT_VERSION: u16 = 1;
/// Bytes before the first frame.
pub const HEADER_LEN: u64 = 8;
/// Bytes before each payload (length and CRC).
pub const FRAME_HEADER_LEN: u64 = 8;
/// The largest payload a frame may claim; anything larger is corruption.
pub const MAX_PAYLOAD: u32 = 256 << 20;
/// The payload layout this agent writes.
pub const PAYLOAD_VERSION: u8 = 1;

/// The segment header.
pub fn segment_header() -> [u8; HEADER_LEN as usize] {
    let mut header = [0u8; HEADER_LEN as usize];
    header[..6].copy_from_slice(SEGMENT_MAGIC);
    header[6..].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header
}

/// Whether `header` starts a segment this agent can read.
pub fn check_segment_header(header: &[u8]) -> Result<(), String> {
    if header.len() < HEADER_LEN as usize || &header[..6] != SEGMENT_MAGIC {
        return Err("not a queue segment (bad magic)".to_string());
    }
    let version = u16::from_le_bytes([header[6], header[7]]);
    if version != SEGMENT_VERSION {
        return Err(format!(
            "segment format version {version}, this agent reads {SEGMENT_VERSION}"
        ));
    }
    Ok(())
}

/// A queued request and when it was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub outgoing: Outgoing,
    pub enqueued_unix_ms: u64,
}

/// `request` as a complete frame (length, CRC, payload).
pub fn encode_frame(request: &Outgoing, enqueued_unix_ms: u64) -> Result<Vec<u8>, String> {
    let strings = [
        request.path_and_query.as_bytes(),
        request.content_type.as_bytes(),
        request.content_encoding.as_deref().unwrap_or("").as_bytes(),
    ];
    let payload_len =
        2 + 8 + strings.iter().map(|s| 4 + s.len()).sum::<usize>() + request.body.len();
    let payload_len_u32 = u32::try_from(payload_len)
        .ok()
        .filter(|len| *len <= MAX_PAYLOAD)
        .ok_or_else(|| format!("a request of {payload_len} bytes is too large to queue"))?;
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN as usize + payload_len);
    frame.extend_from_slice(&payload_len_u32.to_le_bytes());
    frame.extend_from_slice(&[0u8; 4]); // the CRC, filled in below
    frame.push(PAYLOAD_VERSION);
    frame.push(match request.endpoint {
        Endpoint::Http => 0,
        Endpoint::OtlpHttp => 1,
    });
    frame.extend_from_slice(&enqueued_unix_ms.to_le_bytes());
    for string in strings {
        // Each is shorter than the payload, which fits in u32.
        frame.extend_from_slice(&(string.len() as u32).to_le_bytes());
        frame.extend_from_slice(string);
    }
    frame.extend_from_slice(&request.body);
    let crc = crc32c::crc32c(&frame[FRAME_HEADER_LEN as usize..]);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(frame)
}

/// A frame header: the payload's length and CRC. `None` when the length is
/// impossible (0 or over [`MAX_PAYLOAD`]).
pub fn parse_frame_header(header: &[u8; FRAME_HEADER_LEN as usize]) -> Option<(u32, u32)> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    (len > 0 && len <= MAX_PAYLOAD).then_some((len, crc))
}

/// The request in a payload whose CRC checked out.
pub fn decode_payload(payload: &[u8]) -> Result<Record, String> {
    let mut rest = payload;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err("payload ends early".to_string());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let version = take(1)?[0];
    if version != PAYLOAD_VERSION {
        return Err(format!(
            "payload version {version}, this agent reads {PAYLOAD_VERSION}"
        ));
    }
    let endpoint = match take(1)?[0] {
        0 => Endpoint::Http,
        1 => Endpoint::OtlpHttp,
        other => return Err(format!("unknown endpoint {other}")),
    };
    let enqueued_unix_ms = u64::from_le_bytes(take(8)?.try_into().map_err(|_| "short")?);
    let mut string = |what: &str| -> Result<String, String> {
        let len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| "short")?) as usize;
        String::from_utf8(take(len)?.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    };
    let path_and_query = string("the path")?;
    let content_type = string("the content type")?;
    let content_encoding = Some(string("the content encoding")?).filter(|e| !e.is_empty());
    Ok(Record {
        outgoing: Outgoing {
            endpoint,
            path_and_query,
            content_type,
            content_encoding,
            body: rest.to_vec(),
        },
        enqueued_unix_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let request = Outgoing {
            endpoint: Endpoint::Http,
            path_and_query: "/ingest?name=app.cpu&format=pprof".to_string(),
            content_type: "multipart/form-data; boundary=xyz".to_string(),
            content_encoding: Some("gzip".to_string()),
            body: vec![1, 2, 3, 0, 255],
        };
        let frame = encode_frame(&request, 1234).unwrap();
        let header: [u8; 8] = frame[..8].try_into().unwrap();
        let (len, crc) = parse_frame_header(&header).unwrap();
        assert_eq!(len as usize, frame.len() - 8);
        assert_eq!(crc, crc32c::crc32c(&frame[8..]));
        let record = decode_payload(&frame[8..]).unwrap();
        assert_eq!(record.outgoing, request);
        assert_eq!(record.enqueued_unix_ms, 1234);

        let plain = Outgoing {
            endpoint: Endpoint::OtlpHttp,
            content_encoding: None,
            body: Vec::new(),
            ..request
        };
        let frame = encode_frame(&plain, 0).unwrap();
        assert_eq!(decode_payload(&frame[8..]).unwrap().outgoing, plain);
    }

    #[test]
    fn zeroed_frames_are_not_records() {
        assert_eq!(parse_frame_header(&[0; 8]), None);
        assert!(decode_payload(&[2, 0]).is_err());
        assert!(check_segment_header(&[0; 8]).is_err());
        assert!(check_segment_header(&segment_header()).is_ok());
    }
}
