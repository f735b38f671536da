//! A room's log read from the database as its members receive it: what a join replays,
//! what a lagging connection catches up with, and what fills a gap in a room's feed.

use super::store;
use crate::chat::{
    fanout::Event,
    wire::{self, membership_ended},
};
use crate::db::Db;

/// Events read per query when replaying or catching up.
pub const PAGE: i64 = 500;

/// One page of room `room_id`'s log after seq `after`, encoded with the room's name
/// `room`, and whether more follows.
pub async fn page(
    db: &Db,
    room_id: i64,
    room: &str,
    after: i64,
) -> Result<(Vec<Event>, bool), sqlx::Error> {
    let rows = store::events_after(db, room_id, after, PAGE).await?;
    let more = rows.len() as i64 == PAGE;
    let posts = || {
        rows.iter()
            .filter(|row| row.kind == "message")
            .map(|row| row.seq)
    };
    let mut files = match (posts().min(), posts().max()) {
        (Some(first), Some(last)) => {
            wire::files_by_message(store::files_between(db, room_id, first, last).await?)
        }
        _ => Default::default(),
    };
    let events = rows
        .into_iter()
        .map(|row| {
            let seq = row.seq;
            let frame = row.into_frame(room, files.remove(&seq).unwrap_or_default())?;
            Ok(Event {
                seq: Some(seq),
                frame: Event::encode(&frame),
                at: None,
                ends: membership_ended(&frame),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((events, more))
}
