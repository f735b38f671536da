//! Where blobs live: one trait object over object_store's back ends, local disk (the
//! default) and S3-compatible storage (a cluster's choice: every node sees every file).
//! Blobs are written in parts, so an upload is never whole in memory.

use std::{ops::Range, path::PathBuf, sync::Arc};

use bytes::Bytes;
use futures_util::{stream::BoxStream, StreamExt};
use object_store::{
    aws::AmazonS3Builder, local::LocalFileSystem, path::Path, GetOptions, GetRange,
    MultipartUpload, ObjectStore, PutPayload,
};

/// The size of each part written: S3's smallest part, and the most an upload holds in
/// memory at once (docs/benchmarks.md measures it).
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// Which back end, as configured.
#[derive(Clone, Debug)]
pub enum Backend {
    /// A directory on this machine (created if missing).
    Disk(PathBuf),
    /// A bucket of an S3-compatible service; credentials come from the usual
    /// `AWS_*` environment variables.
    S3 {
        bucket: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("file storage failed: {0}")]
    Store(#[from] object_store::Error),
    #[error("cannot create the uploads directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StorageError::Store(object_store::Error::NotFound { .. })
        )
    }
}

/// A blob read back: the bytes of the range asked for, and the blob's whole size.
pub struct Blob {
    pub stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
    pub range: Range<u64>,
    pub size: u64,
}

#[derive(Clone, Debug)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

impl Blobs {
    pub fn open(backend: &Backend) -> Result<Blobs, StorageError> {
        let store: Arc<dyn ObjectStore> = match backend {
            Backend::Disk(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StorageError::Directory {
                    path: dir.clone(),
                    source,
                })?;
                Arc::new(LocalFileSystem::new_with_prefix(dir)?)
            }
            Backend::S3 {
                bucket,
                endpoint,
                region,
            } => {
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(endpoint) = endpoint {
                    // A self-hosted service (MinIO, Garage, Ceph) is addressed by path
                    // and often over plain HTTP inside a private network.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(region) = region {
                    builder = builder.with_region(region);
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Blobs { store })
    }

    /// Stores a blob that is whole already (small files, processed images).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Starts a blob written part by part.
    pub async fn start(&self, key: &str) -> Result<Parts, StorageError> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        Ok(Parts { upload })
    }

    /// The bytes `range` of a blob (all of it without one).
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Blob, StorageError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&Path::from(key), options).await?;
        let range = result.range.clone();
        let size = result.meta.size;
        Ok(Blob {
            stream: result.into_stream().boxed(),
            range,
            size,
        })
    }

    /// Reads a whole blob (only for ones known to be small).
    pub async fn read(&self, key: &str) -> Result<Bytes, StorageError> {
        Ok(self.store.get(&Path::from(key)).await?.bytes().await?)
    }

    /// Removes a blob; one already gone is not an error (collection runs again after a
    /// crash, and on several nodes).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Whether a blob exists (for tests and the collector's checks).
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}

/// A blob being written in parts; dropped without [`Parts::finish`], call
/// [`Parts::abort`] so that nothing is left behind.
pub struct Parts {
    upload: Box<dyn MultipartUpload>,
}

impl Parts {
    /// Writes one part and waits for it: one part in flight bounds the memory.
    pub async fn write(&mut self, part: Bytes) -> Result<(), StorageError> {
        self.upload.put_part(PutPayload::from_bytes(part)).await?;
        Ok(())
    }

    pub async fn finish(mut self) -> Result<(), StorageError> {
        self.upload.complete().await?;
        Ok(())
    }

    pub async fn abort(mut self) {
        if let Err(error) = self.upload.abort().await {
            tracing::warn!(%error, "abandoning a partial upload failed");
        }
    }
}

/// The key of a file's thumbnail, beside the file's own.
pub fn thumb_key(id: &str) -> String {
    format!("{id}.thumb")
}
