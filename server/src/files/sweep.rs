//! The collector: erases the blobs of files marked deleted (their message deleted,
//! taken back from the composer, or left unclaimed past the time allowed), then their
//! rows. Marking happens in the transaction that deletes the message, so a crash between
//! the two leaves a row the next round finds; erasing twice is harmless, so several
//! nodes may collect at once.

use std::{sync::Arc, time::Duration};

use super::{storage::thumb_key, storage::Blobs, Files};
use crate::clock::now_ms;

/// Files erased per round.
const ROUND: i64 = 200;
/// The longest pause between rounds.
const MAX_PAUSE: Duration = Duration::from_secs(600);

/// Erases one file's blobs; a failure is logged, and the row stays for the next round.
pub async fn erase(blobs: &Blobs, id: &str, thumb: bool) -> bool {
    let mut ok = true;
    for key in [Some(id.to_string()), thumb.then(|| thumb_key(id))]
        .into_iter()
        .flatten()
    {
        if let Err(error) = blobs.delete(&key).await {
            tracing::warn!(%error, "erasing a file failed; it is tried again later");
            ok = false;
        }
    }
    ok
}

/// One round: expire what waited too long, erase what is marked. How many it erased.
pub async fn round(files: &Files) -> Result<usize, sqlx::Error> {
    let now = now_ms();
    let ttl = i64::try_from(files.limits.unclaimed_ttl.as_millis()).unwrap_or(i64::MAX);
    super::rows::expire_unclaimed(&files.db, now.saturating_sub(ttl), now).await?;
    let marked = super::rows::deleted(&files.db, ROUND).await?;
    let mut erased = Vec::with_capacity(marked.len());
    for (id, thumb_type) in marked {
        if erase(&files.blobs, &id, thumb_type.is_some()).await {
            erased.push(id);
        }
    }
    super::rows::forget(&files.db, &erased).await?;
    Ok(erased.len())
}

/// Rounds until the server stops: when woken, and at least every quarter of the
/// unclaimed time (at most ten minutes).
pub async fn run(files: Arc<Files>) {
    let pause = (files.limits.unclaimed_ttl / 4).clamp(Duration::from_millis(250), MAX_PAUSE);
    let mut stopping = files.chat.stopping();
    loop {
        match round(&files).await {
            // A full round: more may be waiting.
            Ok(n) if n as i64 == ROUND => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "collecting files failed; trying again later"),
        }
        tokio::select! {
            _ = files.wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}
