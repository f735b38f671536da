//! The server's side of files, for the server functions that take or list them (the
//! form post without JavaScript, the Files view). `server/` implements it with the same
//! upload pipeline that `POST /api/files` uses.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use super::{Attachment, FilesPage};
use crate::{error::ApiError, model::User};

/// An upload's bytes as they arrive; an error ends the upload and stores nothing.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send + 'a>>;

#[async_trait]
pub trait FileService: Send + Sync + 'static {
    /// Streams one file into storage as `user`'s upload to `room`, unclaimed until a
    /// post attaches it. `length` is the size announced, if any.
    async fn upload(
        &self,
        user: &User,
        room: &str,
        name: &str,
        length: Option<u64>,
        body: ByteStream<'_>,
    ) -> Result<Attachment, ApiError>;
    /// The files of `room`'s messages, newest first, after the page end `before`.
    async fn room_files(
        &self,
        user: &User,
        room: &str,
        before: Option<&str>,
    ) -> Result<FilesPage, ApiError>;
}
