//! Receiving one upload into storage: read the first bytes and sniff them; an image
//! (small enough to hold) is read whole, made safe off the async threads and stored; any
//! other file goes to storage part by part as it arrives, so that memory holds at most a
//! part. A body that crosses its budget is abandoned and nothing of it is kept.

use app::error::ApiError;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{
    pictures::{self, PictureError, Raster},
    sniff,
    storage::{thumb_key, Blobs, Parts, PART_BYTES},
};
use app::attachments::port::ByteStream;

/// The largest image read whole to be made safe; bigger ones are kept as plain files
/// (served as downloads, never inline).
pub const MAX_IMAGE_BYTES: usize = 25 * 1024 * 1024;

/// What one upload may take.
pub struct Budget {
    /// Bytes it may have.
    pub max_bytes: u64,
    /// What to answer when it has more.
    pub over: ApiError,
    pub max_pixels: u64,
}

/// What was stored.
pub struct Stored {
    pub size: u64,
    pub sha256: Vec<u8>,
    pub content_type: String,
    pub image: Option<(u32, u32)>,
    pub thumb_type: Option<&'static str>,
}

/// The body, chunk by chunk, counted against the budget.
struct Body<'a> {
    stream: ByteStream<'a>,
    budget: &'a Budget,
    received: u64,
}

impl Body<'_> {
    async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        match self.stream.next().await {
            None => Ok(None),
            Some(Err(error)) => {
                tracing::debug!(%error, "an upload was cut short");
                Err(ApiError::Request("The upload was interrupted.".into()))
            }
            Some(Ok(chunk)) => {
                self.received += chunk.len() as u64;
                if self.received > self.budget.max_bytes {
                    return Err(self.budget.over.clone());
                }
                Ok(Some(chunk))
            }
        }
    }

    /// Reads until `buffer` holds `want` bytes or the body ends; whether it ended.
    async fn fill(&mut self, buffer: &mut BytesMut, want: usize) -> Result<bool, ApiError> {
        while buffer.len() < want {
            match self.next().await? {
                Some(chunk) => buffer.extend_from_slice(&chunk),
                None => return Ok(true),
            }
        }
        Ok(false)
    }
}

pub async fn receive<'a>(
    blobs: &Blobs,
    decoding: &Semaphore,
    id: &str,
    stream: ByteStream<'a>,
    budget: &'a Budget,
) -> Result<Stored, ApiError> {
    let mut body = Body {
        stream,
        budget,
        received: 0,
    };
    let mut buffer = BytesMut::new();
    let mut ended = body.fill(&mut buffer, sniff::HEAD_BYTES).await?;
    let content_type = sniff::content_type(&buffer[..buffer.len().min(sniff::HEAD_BYTES)]);
    if let Some(kind) = Raster::of(&content_type) {
        if !ended {
            ended = body.fill(&mut buffer, MAX_IMAGE_BYTES + 1).await?;
        }
        if ended {
            let raw = buffer.freeze();
            match picture(decoding, raw.clone(), kind, budget.max_pixels).await {
                Ok(picture) => return store_picture(blobs, id, content_type, picture).await,
                Err(bomb @ PictureError::TooManyPixels { .. }) => {
                    return Err(ApiError::TooLarge(bomb.to_string()))
                }
                // Kept, but as a file to download: nothing vouches for its bytes.
                Err(PictureError::Unreadable(why)) => {
                    tracing::debug!(%why, "an upload sniffed as an image did not decode");
                    buffer = BytesMut::from(&raw[..]);
                }
            }
        }
    }
    store_stream(blobs, id, content_type, buffer, ended, body).await
}

async fn picture(
    decoding: &Semaphore,
    raw: Bytes,
    kind: Raster,
    max_pixels: u64,
) -> Result<pictures::Picture, PictureError> {
    let _turn = decoding
        .acquire()
        .await
        .map_err(|_| PictureError::Unreadable("shutting down".into()))?;
    tokio::task::spawn_blocking(move || pictures::prepare(&raw, kind, max_pixels))
        .await
        .unwrap_or_else(|e| Err(PictureError::Unreadable(e.to_string())))
}

async fn store_picture(
    blobs: &Blobs,
    id: &str,
    content_type: String,
    picture: pictures::Picture,
) -> Result<Stored, ApiError> {
    let sha256 = Sha256::digest(&picture.bytes).to_vec();
    let size = picture.bytes.len() as u64;
    blobs.put(id, picture.bytes).await.map_err(unavailable)?;
    let mut thumb_type = None;
    if let Some((thumb, kind)) = picture.thumb {
        if let Err(error) = blobs.put(&thumb_key(id), thumb).await {
            let _ = blobs.delete(id).await;
            return Err(unavailable(error));
        }
        thumb_type = Some(kind);
    }
    Ok(Stored {
        size,
        sha256,
        content_type,
        image: Some((picture.width, picture.height)),
        thumb_type,
    })
}

/// Stores `buffer` and the rest of `body` as they come: one write if it all fits in a
/// part, else part by part.
async fn store_stream(
    blobs: &Blobs,
    id: &str,
    content_type: String,
    mut buffer: BytesMut,
    mut ended: bool,
    mut body: Body<'_>,
) -> Result<Stored, ApiError> {
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut parts: Option<Parts> = None;
    let outcome: Result<(), ApiError> = async {
        loop {
            if !ended {
                ended = body.fill(&mut buffer, PART_BYTES).await?;
            }
            if ended && parts.is_none() {
                let whole = buffer.split().freeze();
                hash.update(&whole);
                size += whole.len() as u64;
                return blobs.put(id, whole).await.map_err(unavailable);
            }
            while buffer.len() >= PART_BYTES || (ended && !buffer.is_empty()) {
                let take = buffer.len().min(PART_BYTES);
                let part = buffer.split_to(take).freeze();
                hash.update(&part);
                size += part.len() as u64;
                if parts.is_none() {
                    parts = Some(blobs.start(id).await.map_err(unavailable)?);
                }
                if let Some(parts) = parts.as_mut() {
                    parts.write(part).await.map_err(unavailable)?;
                }
            }
            if ended {
                return Ok(());
            }
        }
    }
    .await;
    match (outcome, parts) {
        (Ok(()), Some(parts)) => parts.finish().await.map_err(unavailable)?,
        (Ok(()), None) => {}
        (Err(error), Some(parts)) => {
            parts.abort().await;
            return Err(error);
        }
        (Err(error), None) => return Err(error),
    }
    Ok(Stored {
        size,
        sha256: hash.finalize().to_vec(),
        content_type,
        image: None,
        thumb_type: None,
    })
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "storing an upload failed");
    ApiError::Busy("File storage is unavailable right now; try again shortly.".into())
}
