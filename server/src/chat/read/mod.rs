//! Reading rooms: a room's log as members receive it (the replay on joining, the
//! catch-up of a lagging member, shared among a room's lagging members), the SQL for
//! rooms and membership, and search.

use std::{future::Future, sync::Arc};

use super::{fanout::Event, room::RoomRef};
use crate::db::Db;

/// Catching up, one read shared by a room's lagging members.
mod catchup;
/// A room's log read as members receive it.
pub mod replay;
/// Full-text search and the Mentions view.
pub mod search;
/// The SQL for rooms, membership and reading logs.
pub mod store;

/// Reads of room logs for members catching up, detached from any one borrow so that
/// a room feed can keep a read in flight while its connection does other work.
#[derive(Clone)]
pub struct Reader {
    db: Db,
    catch_up: Arc<catchup::CatchUp>,
}

impl Reader {
    pub fn new(db: Db) -> Reader {
        Reader {
            db,
            catch_up: Arc::default(),
        }
    }

    /// The next page of `room`'s log after seq `after`, and whether more follows.
    pub fn after(
        &self,
        room: RoomRef,
        after: i64,
    ) -> impl Future<Output = Result<(Vec<Event>, bool), sqlx::Error>> + Send + 'static {
        let reader = self.clone();
        async move {
            reader
                .catch_up
                .after(room.id, after, || {
                    replay::page(&reader.db, room.id, &room.name, after)
                })
                .await
        }
    }
}
