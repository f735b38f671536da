//! Files attached to messages (docs/files.md): uploads streamed into storage with their
//! type sniffed and images made safe, one row each; who may read them; the collector
//! that erases what nobody can reach any more. The socket, `POST /api/files` and the
//! form post all reach uploads through [`Files`].

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::{
    attachments::{
        clean_file_name, is_file_id,
        port::{ByteStream, FileService},
        Attachment, FilesPage, RoomFile,
    },
    error::ApiError,
    model::User,
};
use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};

use crate::{
    chat::{Chat, RoomKind},
    clock::{now_ms, rfc3339_ms},
    db::Db,
    error::internal,
    rate::Buckets,
};

/// The composer's form post without JavaScript: a message and its files at once.
pub mod form;
/// The HTTP routes: upload, download, thumbnail, discard.
pub mod http;
/// Images as served: metadata off, upright, measured, thumbnailed.
mod pictures;
/// Receiving an upload into storage.
mod receive;
/// The `files` table.
mod rows;
/// What a file is, from its bytes.
mod sniff;
/// The blob stores.
pub mod storage;
/// Erasing deleted and abandoned files.
mod sweep;

pub use storage::{Backend, StorageError};

/// Files one page of a room's Files view lists.
const FILES_PAGE: i64 = 50;

/// What uploads may cost, as configured.
#[derive(Clone, Debug)]
pub struct FileLimits {
    /// Largest file (`--max-upload-mb`).
    pub max_file_bytes: u64,
    /// Bytes one user may hold in uploads no message has claimed yet.
    pub quota_bytes: u64,
    /// Uploads one user may start a minute, and in a burst.
    pub starts_per_minute: u32,
    /// Pixels an image may have to be decoded at all.
    pub max_pixels: u64,
    /// Uploads being received at once, server-wide; more are refused with 503.
    pub concurrent_uploads: usize,
    /// Images decoded at once (CPU and memory bound).
    pub concurrent_decodes: usize,
    /// How long an upload may wait for a message to claim it.
    pub unclaimed_ttl: Duration,
}

pub struct Files {
    db: Db,
    blobs: storage::Blobs,
    chat: Arc<Chat>,
    limits: FileLimits,
    receiving: Arc<Semaphore>,
    decoding: Arc<Semaphore>,
    starts: Mutex<Buckets>,
    /// Wakes the collector: the writer rings it after storing a deletion.
    wake: Arc<Notify>,
}

/// A file someone may read, ready to serve.
pub struct Readable {
    pub row: rows::FileRow,
}

impl Files {
    /// Opens the storage and starts the collector, which stops with the server.
    pub fn start(
        db: Db,
        backend: &Backend,
        chat: Arc<Chat>,
        limits: FileLimits,
    ) -> Result<Arc<Files>, StorageError> {
        let blobs = storage::Blobs::open(backend)?;
        let per_second = f64::from(limits.starts_per_minute) / 60.0;
        let burst = f64::from(limits.starts_per_minute.clamp(1, 20));
        let files = Arc::new(Files {
            wake: chat.files_released(),
            db,
            blobs,
            receiving: Arc::new(Semaphore::new(limits.concurrent_uploads)),
            decoding: Arc::new(Semaphore::new(limits.concurrent_decodes)),
            starts: Mutex::new(Buckets::new(per_second, burst)),
            limits,
            chat,
        });
        tokio::spawn(sweep::run(files.clone()));
        Ok(files)
    }

    /// The file `id` if `reader` may read it; `None` for every other case alike (no
    /// session, an unknown id, a room the reader is not in, someone else's unsent
    /// upload), so that an answer tells nothing about files one cannot see.
    pub async fn readable(&self, reader: Option<&User>, id: &str) -> Option<Readable> {
        let reader = reader?;
        if !is_file_id(id) {
            return None;
        }
        let row = match rows::find(&self.db, id, reader.id).await {
            Ok(row) => row?,
            Err(error) => {
                tracing::error!(%error, "looking up a file failed");
                return None;
            }
        };
        let allowed = match row.message_seq {
            None => row.uploader_id == reader.id,
            Some(_) => RoomKind::parse(&row.room_kind).readable(row.member > 0),
        };
        allowed.then_some(Readable { row })
    }

    pub fn blobs(&self) -> &storage::Blobs {
        &self.blobs
    }

    /// Takes back an upload no message has claimed (removed from the composer).
    pub async fn discard(&self, user: &User, id: &str) -> Result<(), ApiError> {
        let found = is_file_id(id)
            && rows::discard(&self.db, id, user.id, now_ms())
                .await
                .map_err(|e| internal("discarding an upload failed", e))?;
        if !found {
            return Err(not_found());
        }
        self.wake.notify_one();
        Ok(())
    }

    fn allow_start(&self, user: &User) -> bool {
        self.starts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(user.id, Instant::now())
    }
}

/// The one answer for a file that cannot be read, whatever the reason.
pub fn not_found() -> ApiError {
    ApiError::NotFound("There is no such file.".into())
}

fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn megabytes(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

#[async_trait]
impl FileService for Files {
    async fn upload(
        &self,
        user: &User,
        room: &str,
        name: &str,
        length: Option<u64>,
        body: ByteStream<'_>,
    ) -> Result<Attachment, ApiError> {
        if !self.allow_start(user) {
            return Err(ApiError::RateLimited(
                "You are starting uploads too fast; wait a moment.".into(),
            ));
        }
        let room = self.chat.readable_room(user, room).await?;
        let max = self.limits.max_file_bytes;
        if length.is_some_and(|length| length > max) {
            return Err(too_big(max));
        }
        let held = rows::unclaimed_bytes(&self.db, user.id)
            .await
            .map_err(|e| internal("reading an upload quota failed", e))?;
        let quota = self.limits.quota_bytes;
        if held + length.unwrap_or(0) > quota {
            return Err(over_quota(quota));
        }
        let Ok(_receiving) = self.receiving.clone().try_acquire_owned() else {
            return Err(ApiError::Busy(
                "The server is receiving too many files at once; try again in a moment.".into(),
            ));
        };
        let id = new_id();
        let limits = receive::Budget {
            max_bytes: max.min(quota.saturating_sub(held)),
            over: if quota.saturating_sub(held) < max {
                over_quota(quota)
            } else {
                too_big(max)
            },
            max_pixels: self.limits.max_pixels,
        };
        let stored = receive::receive(&self.blobs, &self.decoding, &id, body, &limits).await?;
        let name = clean_file_name(name);
        let row = rows::NewFile {
            id: &id,
            uploader_id: user.id,
            room_id: room.id,
            name: &name,
            size: stored.size,
            sha256: &stored.sha256,
            content_type: &stored.content_type,
            image: stored.image,
            thumb_type: stored.thumb_type,
            now: now_ms(),
        };
        if let Err(error) = rows::insert(&self.db, &row).await {
            sweep::erase(&self.blobs, &id, stored.thumb_type.is_some()).await;
            return Err(internal("recording an upload failed", error));
        }
        Ok(Attachment {
            id,
            name,
            size: stored.size,
            content_type: stored.content_type,
            width: stored.image.map(|(w, _)| w),
            height: stored.image.map(|(_, h)| h),
        })
    }

    async fn room_files(
        &self,
        user: &User,
        room: &str,
        before: Option<&str>,
    ) -> Result<FilesPage, ApiError> {
        let room = self.chat.readable_room(user, room).await?;
        let before = match before {
            None | Some("") => None,
            Some(end) => Some(
                parse_page_end(end)
                    .ok_or_else(|| ApiError::Invalid("That is not a page of this list.".into()))?,
            ),
        };
        let mut listed = rows::in_room(&self.db, room.id, before, FILES_PAGE + 1)
            .await
            .map_err(|e| internal("listing a room's files failed", e))?;
        let more = listed.len() as i64 > FILES_PAGE;
        listed.truncate(FILES_PAGE as usize);
        let next = more
            .then(|| {
                listed
                    .last()
                    .map(|f| format!("{}.{}", f.message_seq, f.position))
            })
            .flatten();
        let files = listed
            .into_iter()
            .map(|f| RoomFile {
                file: f.file.attachment(),
                uploader: f.uploader,
                uploaded_at: rfc3339_ms(f.created_at),
                seq: f.message_seq,
            })
            .collect();
        Ok(FilesPage { files, next })
    }
}

fn parse_page_end(end: &str) -> Option<(i64, i64)> {
    let (seq, position) = end.split_once('.')?;
    Some((seq.parse().ok()?, position.parse().ok()?))
}

fn too_big(max: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "That file is too big: the most is {} MB.",
        megabytes(max)
    ))
}

fn over_quota(quota: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "Your files not yet sent would pass {} MB: send or remove some first.",
        megabytes(quota)
    ))
}
