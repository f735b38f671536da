//! Images as served: metadata (EXIF with its GPS and camera, XMP, comments) removed,
//! turned upright, measured, and a thumbnail made. CPU-bound, so it runs on the
//! blocking pool, a bounded number at once; the pixel limit is checked from the header
//! before anything is decoded, so a decompression bomb costs a few bytes of reading.

use std::io::Cursor;

use app::attachments::{fit, THUMB_MAX};
use bytes::Bytes;
use image::{
    codecs::{jpeg::JpegEncoder, png::PngEncoder, webp::WebPEncoder},
    metadata::Orientation,
    DynamicImage, ImageDecoder, ImageEncoder, ImageReader, Limits,
};

/// The most memory one decode may take: a 50-megapixel RGBA image and some.
const MAX_DECODE_BYTES: u64 = 320 * 1024 * 1024;
/// Quality of re-encoded photos (only those that had to be turned) and thumbnails.
const JPEG_QUALITY: u8 = 88;
const THUMB_QUALITY: u8 = 80;

/// The raster formats served inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raster {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl Raster {
    pub fn of(content_type: &str) -> Option<Raster> {
        Some(match content_type {
            "image/jpeg" => Raster::Jpeg,
            "image/png" => Raster::Png,
            "image/gif" => Raster::Gif,
            "image/webp" => Raster::Webp,
            _ => return None,
        })
    }

    fn format(self) -> image::ImageFormat {
        match self {
            Raster::Jpeg => image::ImageFormat::Jpeg,
            Raster::Png => image::ImageFormat::Png,
            Raster::Gif => image::ImageFormat::Gif,
            Raster::Webp => image::ImageFormat::WebP,
        }
    }
}

/// An image ready to store.
#[derive(Debug)]
pub struct Picture {
    /// What is served: the upload without its metadata, upright.
    pub bytes: Bytes,
    pub width: u32,
    pub height: u32,
    /// A smaller copy and its type, when the image is bigger than a thumbnail.
    pub thumb: Option<(Bytes, &'static str)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// More pixels than allowed: refused before decoding.
    #[error("This image is {width}×{height} pixels; the most is {max} megapixels.")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    /// Not decodable as what its bytes said: kept as a plain file.
    #[error("not a readable image: {0}")]
    Unreadable(String),
}

/// Makes the served form of an upload sniffed as `kind`.
pub fn prepare(raw: &[u8], kind: Raster, max_pixels: u64) -> Result<Picture, PictureError> {
    let unreadable = |e: image::ImageError| PictureError::Unreadable(e.to_string());
    let mut reader = ImageReader::with_format(Cursor::new(raw), kind.format());
    reader.limits(limits(max_pixels));
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(PictureError::TooManyPixels {
            width,
            height,
            max: max_pixels / 1_000_000,
        });
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let upright = orientation == Orientation::NoTransforms;
    let (width, height) = if swaps_axes(orientation) {
        (height, width)
    } else {
        (width, height)
    };
    let needs_thumb = width > THUMB_MAX || height > THUMB_MAX;
    if upright && !needs_thumb {
        // Nothing to decode: the metadata comes off losslessly.
        return Ok(Picture {
            bytes: Bytes::from(strip_metadata(raw, kind)),
            width,
            height,
            thumb: None,
        });
    }
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    let bytes = if upright {
        Bytes::from(strip_metadata(raw, kind))
    } else {
        // Turning the pixels means encoding them again; the metadata stays behind.
        Bytes::from(encode(&image, kind).map_err(unreadable)?)
    };
    let thumb = if needs_thumb {
        Some(thumbnail(&image).map_err(unreadable)?)
    } else {
        None
    };
    Ok(Picture {
        bytes,
        width: image.width(),
        height: image.height(),
        thumb,
    })
}

fn limits(max_pixels: u64) -> Limits {
    let mut limits = Limits::default();
    // No side longer than the whole budget in one line; the product is checked above.
    let side = u32::try_from(max_pixels.min(u64::from(u32::MAX))).unwrap_or(u32::MAX);
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The image in its own format again (GIF, never turned, never gets here).
fn encode(image: &DynamicImage, kind: Raster) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    match kind {
        Raster::Jpeg => {
            let rgb = image.to_rgb8();
            JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode_image(&rgb)?;
        }
        Raster::Webp => {
            let rgba = image.to_rgba8();
            WebPEncoder::new_lossless(&mut out).write_image(
                &rgba,
                rgba.width(),
                rgba.height(),
                image::ExtendedColorType::Rgba8,
            )?;
        }
        Raster::Png | Raster::Gif => {
            PngEncoder::new(&mut out).write_image(
                image.as_bytes(),
                image.width(),
                image.height(),
                image.color().into(),
            )?;
        }
    }
    Ok(out)
}

/// A copy that fits the thumbnail box: a JPEG, or a PNG when the image has alpha.
fn thumbnail(image: &DynamicImage) -> Result<(Bytes, &'static str), image::ImageError> {
    let (w, h) = fit(image.width(), image.height(), THUMB_MAX);
    let small = image.thumbnail_exact(w, h);
    let mut out = Vec::new();
    if small.color().has_alpha() {
        let rgba = small.to_rgba8();
        PngEncoder::new(&mut out).write_image(
            &rgba,
            rgba.width(),
            rgba.height(),
            image::ExtendedColorType::Rgba8,
        )?;
        Ok((Bytes::from(out), "image/png"))
    } else {
        let rgb = small.to_rgb8();
        JpegEncoder::new_with_quality(&mut out, THUMB_QUALITY).encode_image(&rgb)?;
        Ok((Bytes::from(out), "image/jpeg"))
    }
}

/// The file without the parts that describe rather than draw it. Unknown layouts are
/// returned as they are (the decoder read them, so they are images; a stripper that
/// guessed could break them).
pub fn strip_metadata(raw: &[u8], kind: Raster) -> Vec<u8> {
    let stripped = match kind {
        Raster::Jpeg => strip_jpeg(raw),
        Raster::Png => strip_png(raw),
        Raster::Webp => strip_webp(raw),
        Raster::Gif => None,
    };
    stripped.unwrap_or_else(|| raw.to_vec())
}

/// JPEG: drops APP1–APP15 and comments, except the colour profile (APP2 `ICC_PROFILE`)
/// and Adobe's colour-transform marker (APP14), which change how it looks.
fn strip_jpeg(raw: &[u8]) -> Option<Vec<u8>> {
    if !raw.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..2]);
    let mut i = 2;
    loop {
        if *raw.get(i)? != 0xFF {
            return None;
        }
        let marker = *raw.get(i + 1)?;
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xD9 || marker == 0xDA {
            // End of image, or start of scan: the rest is entropy-coded data.
            out.extend_from_slice(&raw[i..]);
            return Some(out);
        }
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            out.extend_from_slice(&raw[i..i + 2]);
            i += 2;
            continue;
        }
        let length = usize::from(u16::from_be_bytes([*raw.get(i + 2)?, *raw.get(i + 3)?]));
        let end = i + 2 + length;
        let segment = raw.get(i..end)?;
        let payload = &segment[4..];
        let keep = match marker {
            0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
            0xEE => payload.starts_with(b"Adobe"),
            0xE1..=0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(segment);
        }
        i = end;
    }
}

/// PNG: drops the EXIF chunk, text chunks and the modification time.
fn strip_png(raw: &[u8]) -> Option<Vec<u8>> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !raw.starts_with(SIGNATURE) {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(SIGNATURE);
    let mut i = SIGNATURE.len();
    while i < raw.len() {
        let length = u32::from_be_bytes(raw.get(i..i + 4)?.try_into().ok()?) as usize;
        let end = i.checked_add(12)?.checked_add(length)?;
        let chunk = raw.get(i..end)?;
        let kind = &chunk[4..8];
        if !matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            out.extend_from_slice(chunk);
        }
        i = end;
    }
    Some(out)
}

/// WebP: drops the EXIF and XMP chunks and clears their flags in the extended header.
fn strip_webp(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() < 12 || &raw[..4] != b"RIFF" || &raw[8..12] != b"WEBP" {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..12]);
    let mut i = 12;
    while i < raw.len() {
        let fourcc = raw.get(i..i + 4)?;
        let size = u32::from_le_bytes(raw.get(i + 4..i + 8)?.try_into().ok()?) as usize;
        let end = (i + 8).checked_add(size + (size & 1))?.min(raw.len());
        let chunk = raw.get(i..end)?;
        match fourcc {
            b"EXIF" | b"XMP " => {}
            b"VP8X" if chunk.len() > 8 => {
                let mut header = chunk.to_vec();
                header[8] &= !(0x08 | 0x04);
                out.extend_from_slice(&header);
            }
            _ => out.extend_from_slice(chunk),
        }
        i = end;
    }
    let riff_size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    #[test]
    fn a_small_image_is_kept_without_a_thumbnail() {
        let picture = prepare(&png(40, 20), Raster::Png, 50_000_000).unwrap();
        assert_eq!((picture.width, picture.height), (40, 20));
        assert!(picture.thumb.is_none());
    }

    #[test]
    fn a_big_image_gets_a_thumbnail_that_fits() {
        let picture = prepare(&png(1200, 600), Raster::Png, 50_000_000).unwrap();
        let (thumb, kind) = picture.thumb.unwrap();
        assert_eq!(kind, "image/jpeg");
        let small = image::load_from_memory(&thumb).unwrap();
        assert_eq!((small.width(), small.height()), (400, 200));
    }

    #[test]
    fn too_many_pixels_are_refused_from_the_header() {
        let error = prepare(&png(3000, 2000), Raster::Png, 5_000_000).unwrap_err();
        assert!(matches!(
            error,
            PictureError::TooManyPixels {
                width: 3000,
                height: 2000,
                ..
            }
        ));
    }

    #[test]
    fn png_text_and_exif_chunks_come_off() {
        let mut raw = png(4, 4);
        // A tEXt chunk after IHDR (8-byte signature + 25-byte IHDR).
        let text = b"Comment\0secret place";
        let mut chunk = (text.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(text);
        chunk.extend_from_slice(&[0, 0, 0, 0]);
        raw.splice(33..33, chunk);
        let stripped = strip_metadata(&raw, Raster::Png);
        assert!(!stripped.windows(6).any(|w| w == b"secret"));
        assert_eq!(stripped, png(4, 4));
    }

    #[test]
    fn jpeg_app_segments_come_off_but_not_the_colour_profile() {
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&image::RgbImage::new(8, 8))
            .unwrap();
        let segment = |marker: u8, payload: &[u8]| {
            let mut s = vec![0xFF, marker];
            s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
            s.extend_from_slice(payload);
            s
        };
        let mut raw = jpeg[..2].to_vec();
        raw.extend(segment(0xE1, b"Exif\0\0GPS here"));
        raw.extend(segment(0xE2, b"ICC_PROFILE\0\x01\x01"));
        raw.extend(segment(0xFE, b"a comment"));
        raw.extend_from_slice(&jpeg[2..]);
        let stripped = strip_metadata(&raw, Raster::Jpeg);
        assert!(!stripped.windows(4).any(|w| w == b"Exif"));
        assert!(!stripped.windows(7).any(|w| w == b"comment"));
        assert!(stripped.windows(11).any(|w| w == b"ICC_PROFILE"));
        image::load_from_memory(&stripped).expect("still a JPEG");
    }
}
