//! Rooms and messages: storage, the group-commit writer, in-process fan-out, and the
//! server's implementation of [`app::rooms::ssr::RoomService`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use app::{
    accounts::User,
    error::ApiError,
    protocol::ChatMessage,
    rooms::{rules::DEFAULT_ROOM, ssr::RoomService, HistoryPage, RoomSummary},
};
use async_trait::async_trait;

use crate::{accounts::now_ms, db::Db, error::internal};

/// Per-room broadcast, presence, typing and rate limits.
pub mod hub;
/// The SQL for rooms, membership and messages.
pub mod store;
/// Wire timestamps.
pub mod timefmt;
/// The group-commit writer.
pub mod writer;

use hub::Hub;
use store::{NewMessage, Outcome};
use writer::{to_wire, Writer};

/// A room as the connection code needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRef {
    pub id: i64,
    pub name: String,
}

pub struct Chat {
    pub db: Db,
    pub hub: Hub,
    pub writer: Writer,
    /// Turns true when the server begins shutting down; connections then close politely.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Never sent on: the channel closes when the last `Chat` (held by every open
    /// connection) is dropped, which is how shutdown knows the sockets are done.
    _in_use: tokio::sync::mpsc::Sender<()>,
    /// Room ids by name. Rooms are never renamed or deleted, so entries never go stale.
    room_ids: Mutex<HashMap<String, i64>>,
}

impl Chat {
    /// Creates the default room if needed and starts the writer.
    pub async fn start(
        db: Db,
        limits: hub::Limits,
        stopping: tokio::sync::watch::Receiver<bool>,
        in_use: tokio::sync::mpsc::Sender<()>,
    ) -> Result<Arc<Chat>, sqlx::Error> {
        store::ensure_room(&db, DEFAULT_ROOM, "Everyone, everything", now_ms()).await?;
        let hub = Hub::new(limits);
        let writer = Writer::start(db.clone(), hub.clone());
        Ok(Arc::new(Chat {
            db,
            hub,
            writer,
            stopping,
            _in_use: in_use,
            room_ids: Mutex::new(HashMap::new()),
        }))
    }

    /// Finds a room by name; `None` when there is no such room.
    pub async fn room(&self, name: &str) -> Result<Option<RoomRef>, ApiError> {
        if let Some(&id) = self
            .room_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(Some(RoomRef {
                id,
                name: name.to_string(),
            }));
        }
        let Some(row) = store::room_by_name(&self.db, name)
            .await
            .map_err(|e| internal("looking up a room failed", e))?
        else {
            return Ok(None);
        };
        self.room_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(row.name.clone(), row.id);
        Ok(Some(RoomRef {
            id: row.id,
            name: row.name,
        }))
    }

    pub async fn existing_room(&self, name: &str) -> Result<RoomRef, ApiError> {
        self.room(name)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("There is no room named {name:?}.")))
    }

    pub fn new_message(room: &RoomRef, user: &User, client_id: &str, body: &str) -> NewMessage {
        NewMessage {
            room_id: room.id,
            author_id: user.id,
            client_id: client_id.to_string(),
            body: body.to_string(),
        }
    }
}

#[async_trait]
impl RoomService for Chat {
    async fn list_rooms(&self, _user: &User) -> Result<Vec<RoomSummary>, ApiError> {
        let rooms = store::list_rooms(&self.db)
            .await
            .map_err(|e| internal("listing rooms failed", e))?;
        Ok(rooms
            .into_iter()
            .map(|room| RoomSummary {
                name: room.name,
                topic: room.topic,
                last_seq: room.last_seq,
                members: room.members,
            })
            .collect())
    }

    async fn create_room(
        &self,
        user: &User,
        name: &str,
        topic: &str,
    ) -> Result<RoomSummary, ApiError> {
        let now = now_ms();
        let id = match store::create_room(&self.db, name, topic, Some(user.id), now).await {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(ApiError::Conflict(format!(
                    "A room named {name} exists already."
                )))
            }
            Err(e) => return Err(internal("creating a room failed", e)),
        };
        store::add_member(&self.db, id, user.id, now)
            .await
            .map_err(|e| internal("adding a room member failed", e))?;
        tracing::info!(room = name, user_id = user.id, "room created");
        Ok(RoomSummary {
            name: name.to_string(),
            topic: topic.to_string(),
            last_seq: 0,
            members: 1,
        })
    }

    async fn history(
        &self,
        _user: &User,
        room: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<HistoryPage, ApiError> {
        let room = self.existing_room(room).await?;
        let mut rows = store::messages_before(&self.db, room.id, before, i64::from(limit) + 1)
            .await
            .map_err(|e| internal("reading history failed", e))?;
        let has_more = rows.len() > limit as usize;
        if has_more {
            rows.remove(0);
        }
        Ok(HistoryPage {
            messages: rows.iter().map(to_wire).collect(),
            has_more,
        })
    }

    async fn post(
        &self,
        user: &User,
        room: &str,
        client_id: &str,
        body: &str,
    ) -> Result<ChatMessage, ApiError> {
        let room = self.existing_room(room).await?;
        if !self.hub.allow_send(user.id, std::time::Instant::now()) {
            return Err(ApiError::RateLimited(
                "You are sending too fast. Wait a moment.".into(),
            ));
        }
        let message = Self::new_message(&room, user, client_id, body);
        match self
            .writer
            .store(message, room.name, user.username.clone())
            .await?
        {
            Outcome::Stored(row) | Outcome::Duplicate(row) => Ok(to_wire(&row)),
        }
    }
}
