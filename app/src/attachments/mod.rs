//! Files attached to messages as both sides see them: the wire type, the addresses the
//! server serves them at, and how a person reads their size. docs/files.md has the rules.

use serde::{Deserialize, Serialize};

/// A room's Files view and its server function.
pub mod page;
/// What the file server functions need from the server. Server-only.
#[cfg(feature = "ssr")]
pub mod port;

/// Most files on one message.
pub const MAX_FILES_PER_MESSAGE: usize = 10;
/// Characters of an upload id: 128 random bits in lower-case hex.
pub const FILE_ID_CHARS: usize = 32;
/// Longest file name kept, in characters (longer ones are cut, keeping the extension).
pub const MAX_FILE_NAME_CHARS: usize = 200;
/// The box a thumbnail fits in, in pixels.
pub const THUMB_MAX: u32 = 400;

/// One stored file, as a message carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Random and unguessable; [`Attachment::url`] serves it to those who may read it.
    pub id: String,
    pub name: String,
    /// Bytes, as served.
    pub size: u64,
    /// Sniffed from the bytes, never taken from the name or the uploader.
    pub content_type: String,
    /// Set only for the raster images that are shown inline (JPEG, PNG, GIF, WebP):
    /// their pixels once turned upright, so a page can size them before they load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl Attachment {
    /// From the columns the server stores (databases hand back signed integers).
    pub fn stored(
        id: &str,
        name: &str,
        size: i64,
        content_type: &str,
        width: Option<i64>,
        height: Option<i64>,
    ) -> Attachment {
        let pixels = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
        Attachment {
            id: id.to_string(),
            name: name.to_string(),
            size: u64::try_from(size).unwrap_or_default(),
            content_type: content_type.to_string(),
            width: pixels(width),
            height: pixels(height),
        }
    }

    /// The pixels of an image shown inline.
    pub fn image_size(&self) -> Option<(u32, u32)> {
        self.width.zip(self.height)
    }

    /// Where the whole file is served, named as it was uploaded.
    pub fn url(&self) -> String {
        format!("/files/{}/{}", self.id, encode_segment(&self.name))
    }

    /// Where an image's thumbnail is served.
    pub fn thumb_url(&self) -> String {
        format!("/thumbs/{}", self.id)
    }

    /// The thumbnail's size: the image scaled down to fit [`THUMB_MAX`] square (never up).
    pub fn thumb_size(&self) -> Option<(u32, u32)> {
        self.image_size().map(|(w, h)| fit(w, h, THUMB_MAX))
    }

    /// A short word for the kind of file, for its card.
    pub fn kind_label(&self) -> &'static str {
        kind_label(&self.content_type)
    }
}

/// A room's file as its Files view lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomFile {
    pub file: Attachment,
    pub uploader: String,
    /// RFC 3339, UTC, milliseconds.
    pub uploaded_at: String,
    /// The message it is attached to.
    pub seq: i64,
}

/// One page of a room's files, newest first; `next` continues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesPage {
    pub files: Vec<RoomFile>,
    pub next: Option<String>,
}

/// `width`×`height` scaled down (never up) to fit a `max`-pixel square, at least 1×1.
pub fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    if width <= max && height <= max {
        return (width.max(1), height.max(1));
    }
    let (w, h) = (u64::from(width), u64::from(height));
    let m = u64::from(max);
    let (tw, th) = if w >= h {
        (m, (h * m + w / 2) / w)
    } else {
        ((w * m + h / 2) / h, m)
    };
    (tw.max(1) as u32, th.max(1) as u32)
}

/// A content type as a person names the kind of file.
pub fn kind_label(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "PDF",
        "application/zip"
        | "application/gzip"
        | "application/x-tar"
        | "application/x-7z-compressed"
        | "application/x-xz"
        | "application/zstd"
        | "application/x-bzip2" => "Archive",
        t if t.starts_with("image/") => "Image",
        t if t.starts_with("video/") => "Video",
        t if t.starts_with("audio/") => "Audio",
        t if t.starts_with("text/") => "Text",
        _ => "File",
    }
}

/// A byte count as a person reads it: `812 B`, `4.2 KB`, `17 MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that any name
/// is one path segment.
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Whether `id` has the shape of an upload id (so a bad one is refused before any query).
pub fn is_file_id(id: &str) -> bool {
    id.len() == FILE_ID_CHARS && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A file name as stored: the last path component, without control characters or
/// quotes, at most [`MAX_FILE_NAME_CHARS`] (keeping the extension), never empty.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\u{202e}' | '\u{202d}'))
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return "file".into();
    }
    if cleaned.chars().count() <= MAX_FILE_NAME_CHARS {
        return cleaned.to_string();
    }
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if ext.chars().count() <= 10 => (stem, Some(ext)),
        _ => (cleaned, None),
    };
    let keep = MAX_FILE_NAME_CHARS - ext.map_or(0, |e| e.chars().count() + 1);
    let stem: String = stem.chars().take(keep).collect();
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_fit_the_box_and_keep_the_shape() {
        assert_eq!(fit(4000, 3000, 400), (400, 300));
        assert_eq!(fit(3000, 4000, 400), (300, 400));
        assert_eq!(fit(300, 200, 400), (300, 200));
        assert_eq!(fit(10000, 1, 400), (400, 1));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(4_200), "4.2 KB");
        assert_eq!(human_size(17_000_000), "17 MB");
    }

    #[test]
    fn any_name_is_one_path_segment() {
        assert_eq!(encode_segment("a b/c?.png"), "a%20b%2Fc%3F.png");
        assert_eq!(encode_segment("été.txt"), "%C3%A9t%C3%A9.txt");
    }

    #[test]
    fn names_lose_paths_controls_and_excess() {
        assert_eq!(clean_file_name("C:\\Users\\me\\shot.png"), "shot.png");
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("a\"b\u{7}.txt"), "ab.txt");
        assert_eq!(clean_file_name("   "), "file");
        let long = format!("{}.pdf", "x".repeat(300));
        let kept = clean_file_name(&long);
        assert_eq!(kept.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(kept.ends_with(".pdf"));
    }

    #[test]
    fn ids_are_checked_by_shape() {
        assert!(is_file_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_file_id("short"));
        assert!(!is_file_id("0123456789ABCDEF0123456789ABCDEF"));
        assert!(!is_file_id("0123456789abcdef0123456789abcde/"));
    }
}
