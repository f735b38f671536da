//! What a file is, from its first bytes only: the name and whatever type the uploader
//! claims are never believed, since a browser shown a file inline would believe them.

/// Bytes read before deciding what a file is.
pub const HEAD_BYTES: usize = 8 * 1024;

/// The content type of a file starting with `head`.
pub fn content_type(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_string();
    }
    if looks_like_text(head) {
        "text/plain".into()
    } else {
        "application/octet-stream".into()
    }
}

/// UTF-8 (a multi-byte character may be cut at the end of `head`) with no NUL.
fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && head.len() - error.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_bytes() {
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(
            content_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            "image/jpeg"
        );
        assert_eq!(content_type(b"GIF89a\x01\0\x01\0"), "image/gif");
        assert_eq!(content_type(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(content_type("plain words, é".as_bytes()), "text/plain");
        assert_eq!(content_type(&[0, 1, 2, 3, 250]), "application/octet-stream");
    }

    #[test]
    fn markup_is_never_an_image() {
        for markup in [
            &b"<html><script>alert(1)</script></html>"[..],
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"<svg onload=alert(1)>",
        ] {
            assert!(!content_type(markup).starts_with("image/"), "{:?}", content_type(markup));
        }
    }
}
