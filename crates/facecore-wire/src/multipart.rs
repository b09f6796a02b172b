//! `multipart/form-data` bodies (RFC 7578), parsed from memory: the server
//! reads a whole body (under its size limit) before any handler runs, so
//! the parts are slices of it, never copies.
//!
//! What real clients send is accepted: parts without a `Content-Type` (the
//! Python CompreFace SDK), a `Content-Type: multipart/form-data` header
//! without its `boundary` parameter (the JavaScript SDK sending a Node
//! `Buffer`; the boundary is then read from the body's first line), quoted
//! or bare parameters, and a missing final `--`.

use crate::WireError;

/// Most parts accepted in one body.
pub const MAX_PARTS: usize = 32;
/// Longest header block of one part.
const MAX_HEADER_BYTES: usize = 8 << 10;
/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The `name` of its `Content-Disposition`.
    pub name: String,
    /// The `filename`, if the part is a file.
    pub filename: Option<String>,
    /// Its `Content-Type`, if it has one.
    pub content_type: Option<String>,
    /// The content.
    pub data: &'a [u8],
}

fn invalid(message: impl Into<String>) -> WireError {
    WireError::Invalid(format!("multipart body: {}", message.into()))
}

/// Whether a `Content-Type` header is `multipart/form-data`.
pub fn is_multipart(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("multipart/form-data"))
    })
}

/// The value of parameter `name` in a header value such as
/// `form-data; name="file"; filename="a.jpg"` (quoted or bare, the name
/// matched without case).
fn parameter(header: &str, name: &str) -> Option<String> {
    let mut rest = header;
    while let Some(at) = rest.find(';') {
        rest = rest[at + 1..].trim_start();
        let (key, value) = rest.split_once('=')?;
        let key = key.trim();
        let value = value.trim_start();
        let (parsed, after) = if let Some(quoted) = value.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            (out, &quoted[end.min(quoted.len())..])
        } else {
            let end = value.find(';').unwrap_or(value.len());
            (value[..end].trim().to_string(), &value[end..])
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(parsed);
        }
        rest = after;
    }
    None
}

/// The boundary: the header's `boundary` parameter, or, when the header
/// has none, the first line of the body (`--<boundary>`).
fn boundary<'a>(content_type: Option<&'a str>, body: &'a [u8]) -> Result<String, WireError> {
    if let Some(b) = content_type.and_then(|c| parameter(c, "boundary")) {
        if b.is_empty() || b.len() > MAX_BOUNDARY {
            return Err(invalid("the boundary must be 1 to 70 characters"));
        }
        return Ok(b);
    }
    let line_end = body
        .windows(2)
        .take(MAX_BOUNDARY + 4)
        .position(|w| w == b"\r\n")
        .ok_or_else(|| invalid("no boundary in the Content-Type and none at the body's start"))?;
    let first = std::str::from_utf8(&body[..line_end])
        .map_err(|_| invalid("the first line is not a boundary"))?;
    match first.strip_prefix("--") {
        Some(b) if !b.is_empty() && !b.contains(char::is_whitespace) => Ok(b.to_string()),
        _ => Err(invalid(
            "no boundary in the Content-Type and the body does not start with one",
        )),
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| haystack[i..].starts_with(needle))
}

/// Parses a `multipart/form-data` body whose `Content-Type` header is
/// `content_type`.
///
/// # Errors
///
/// [`WireError::Invalid`] naming what is wrong: no boundary, no first
/// delimiter, a part without `Content-Disposition: form-data; name=...`, a
/// header block that never ends, a part that never ends, more than
/// [`MAX_PARTS`] parts.
pub fn parse<'a>(content_type: Option<&str>, body: &'a [u8]) -> Result<Vec<Part<'a>>, WireError> {
    let boundary = boundary(content_type, body)?;
    let opening = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter may follow a preamble (then after a CRLF).
    let mut at = if body.starts_with(opening.as_bytes()) {
        opening.len()
    } else {
        find(body, delimiter.as_bytes(), 0)
            .map(|i| i + delimiter.len())
            .ok_or_else(|| invalid("the boundary never appears in the body"))?
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") || rest.iter().all(u8::is_ascii_whitespace) {
            // The closing delimiter (or a body cut after the last part).
            return Ok(parts);
        }
        // Transport padding, then the CRLF that ends the delimiter line.
        let line_end =
            find(body, b"\r\n", at).ok_or_else(|| invalid("a delimiter line never ends"))?;
        if !body[at..line_end].iter().all(|b| *b == b' ' || *b == b'\t') {
            return Err(invalid("text after a boundary on its line"));
        }
        let headers_start = line_end + 2;
        let headers_end = find(body, b"\r\n\r\n", headers_start)
            .filter(|&end| end - headers_start <= MAX_HEADER_BYTES)
            .or_else(|| {
                // A part with no headers at all: its empty header block.
                body[headers_start..]
                    .starts_with(b"\r\n")
                    .then_some(headers_start.saturating_sub(2))
            })
            .ok_or_else(|| invalid("a part's headers never end (or are over 8 KB)"))?;
        let header_text = if headers_end > headers_start {
            std::str::from_utf8(&body[headers_start..headers_end])
                .map_err(|_| invalid("a part's headers are not UTF-8"))?
        } else {
            ""
        };
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in header_text.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim();
            if key.eq_ignore_ascii_case("content-disposition") {
                name = parameter(value, "name");
                filename = parameter(value, "filename");
            } else if key.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            }
        }
        let name = name
            .ok_or_else(|| invalid("a part has no Content-Disposition: form-data; name=\"...\""))?;
        let data_start = headers_end + 4;
        let data_end = find(body, delimiter.as_bytes(), data_start)
            .ok_or_else(|| invalid(format!("part '{name}' never ends (no closing boundary)")))?;
        if parts.len() == MAX_PARTS {
            return Err(invalid(format!("more than {MAX_PARTS} parts")));
        }
        parts.push(Part {
            name,
            filename,
            content_type,
            data: &body[data_start..data_end],
        });
        at = data_end + delimiter.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// name, filename, content type, data
    type Spec<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

    fn body(boundary: &str, parts: &[Spec<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, content_type, data) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
            if let Some(f) = filename {
                disposition.push_str(&format!("; filename=\"{f}\""));
            }
            out.extend_from_slice(disposition.as_bytes());
            out.extend_from_slice(b"\r\n");
            if let Some(t) = content_type {
                out.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    #[test]
    fn parts_are_found_with_and_without_their_headers() {
        // Binary content that contains CRLFs and dashes, but not the delimiter.
        let image: &[u8] = b"\xff\xd8\xff\r\n--not-it\r\n\x00\x01";
        let raw = body(
            "XyZ123",
            &[
                ("source_image", Some("a b.jpg"), None, image),
                ("target_image", Some("t.png"), Some("image/png"), b"png"),
                ("note", None, None, b""),
            ],
        );
        let parts = parse(Some("multipart/form-data; boundary=XyZ123"), &raw).expect("parse");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "source_image");
        assert_eq!(parts[0].filename.as_deref(), Some("a b.jpg"));
        assert_eq!(parts[0].content_type, None);
        assert_eq!(parts[0].data, image);
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[2].data, b"");
        // A quoted boundary, and none at all (read from the body).
        let quoted = parse(Some("multipart/form-data; boundary=\"XyZ123\""), &raw).expect("quoted");
        assert_eq!(quoted, parts);
        let sniffed = parse(Some("multipart/form-data"), &raw).expect("sniffed");
        assert_eq!(sniffed, parts);
        assert!(is_multipart(Some("Multipart/Form-Data; boundary=x")));
        assert!(!is_multipart(Some("application/json")));
        assert!(!is_multipart(None));
    }

    #[test]
    fn broken_bodies_are_refused_with_a_reason() {
        let raw = body("b", &[("file", Some("x.jpg"), None, b"data")]);
        let cut = &raw[..raw.len() - 12];
        for (content_type, bytes, why) in [
            (
                Some("multipart/form-data; boundary=other"),
                &raw[..],
                "never appears",
            ),
            (
                Some("multipart/form-data"),
                &b"no boundary here"[..],
                "no boundary",
            ),
            (Some("multipart/form-data; boundary=b"), cut, "never ends"),
            (
                Some("multipart/form-data; boundary=b"),
                &b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"[..],
                "no Content-Disposition",
            ),
        ] {
            let err = parse(content_type, bytes).expect_err(why);
            assert!(err.to_string().contains(why), "{why}: {err}");
        }
        let many: Vec<Spec<'_>> = (0..=MAX_PARTS)
            .map(|_| ("f", None, None, &b"x"[..]))
            .collect();
        let err =
            parse(Some("multipart/form-data; boundary=m"), &body("m", &many)).expect_err("many");
        assert!(err.to_string().contains("more than"), "{err}");
    }

    #[test]
    fn never_panics_on_prefixes_of_a_valid_body() {
        let raw = body("q", &[("file", Some("x.jpg"), None, b"0123456789")]);
        for end in 0..raw.len() {
            let _ = parse(Some("multipart/form-data; boundary=q"), &raw[..end]);
            let _ = parse(Some("multipart/form-data"), &raw[..end]);
        }
    }
}
