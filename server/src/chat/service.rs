//! The room server functions' side of the chat ([`RoomService`]): listing, creating
//! and reading rooms, conversations, read positions, search. Changes to a room's log
//! go through [`Chat::queue`] like socket frames do.

use std::collections::{BTreeSet, HashMap};

use app::{
    accounts::rules::normalize_username,
    error::ApiError,
    model::{FoundPage, HistoryPage, Member, ReadState, Receipt, RoomSummary, User},
    protocol::{Change, Role, ServerFrame, RECENT_ON_JOIN},
    rooms::{
        port::RoomService,
        rules::{check_topic, normalize_room_name},
        HISTORY_MAX,
    },
};
use async_trait::async_trait;

use super::{
    read::{
        search::{self, PageEnd, Query},
        store::{self, RoomListing},
    },
    rules::access::{self, RoomKind},
    wire,
    write::rooms,
    Chat,
};
use crate::{clock::now_ms, error::internal};

/// Usernames one completion returns.
const COMPLETIONS: u32 = 10;

impl Chat {
    /// The listing rows as `user` sees them, with each conversation's people.
    async fn summaries(
        &self,
        user: &User,
        rows: Vec<RoomListing>,
    ) -> Result<Vec<RoomSummary>, ApiError> {
        let dms: Vec<&str> = rows
            .iter()
            .filter(|row| RoomKind::parse(&row.kind) == RoomKind::Dm)
            .map(|row| row.name.as_str())
            .collect();
        let mut people: HashMap<String, Vec<String>> = HashMap::new();
        for (room, username) in store::dm_people(&self.db, &dms)
            .await
            .map_err(|e| internal("listing conversations failed", e))?
        {
            if username != user.username {
                people.entry(room).or_default().push(username);
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let kind = RoomKind::parse(&row.kind);
                let role = row.role.as_deref().map(|role| {
                    access::member_role(kind, row.created_by, user.id, access::stored_role(role))
                });
                RoomSummary {
                    people: people.remove(&row.name).unwrap_or_default(),
                    name: row.name,
                    topic: row.topic,
                    last_seq: row.last_seq,
                    members: row.members,
                    private: kind == RoomKind::Private,
                    dm: kind == RoomKind::Dm,
                    role,
                    unread: row.unread,
                    mentions: row.mentions,
                    last_read_seq: row.last_read_seq.unwrap_or_default(),
                    muted: row.muted.unwrap_or_default() != 0,
                    archived: row.archived_at.is_some(),
                    last_activity: row.last_activity.unwrap_or_default(),
                    mention_room_moderators: access::room_mentions_restricted(&row.mention_room),
                }
            })
            .collect())
    }

    /// One room as `user` sees it in the list.
    async fn summary(&self, user: &User, name: &str) -> Result<RoomSummary, ApiError> {
        let rows = store::list_rooms(&self.db, user.id, "", 1, Some(name))
            .await
            .map_err(|e| internal("reading a room failed", e))?;
        self.summaries(user, rows)
            .await?
            .pop()
            .ok_or_else(|| ApiError::NotFound(super::refusal::Refusal::unknown_room(name).message))
    }

    /// Tells `user`'s connections where its reading of a room now stands.
    fn tell_read(&self, user: &User, state: &ReadState) {
        self.hub.to_user(
            &user.username,
            &ServerFrame::Read {
                room: state.room.clone(),
                seq: state.seq,
                unread: state.unread,
                mentions: state.mentions,
                last_seq: state.last_seq,
            },
        );
    }
}

#[async_trait]
impl RoomService for Chat {
    async fn list_rooms(
        &self,
        user: &User,
        after: &str,
        limit: u32,
    ) -> Result<Vec<RoomSummary>, ApiError> {
        let rows = store::list_rooms(&self.db, user.id, after, limit, None)
            .await
            .map_err(|e| internal("listing rooms failed", e))?;
        self.summaries(user, rows).await
    }

    async fn create_room(
        &self,
        user: &User,
        name: &str,
        topic: &str,
        private: bool,
    ) -> Result<RoomSummary, ApiError> {
        let name = normalize_room_name(name).map_err(ApiError::Invalid)?;
        let topic = check_topic(topic).map_err(ApiError::Invalid)?;
        let allowed = self
            .creations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(user.id, std::time::Instant::now());
        if !allowed {
            return Err(ApiError::RateLimited(
                "You have created many rooms just now; try again in a minute.".into(),
            ));
        }
        let now = now_ms();
        let kind = if private {
            RoomKind::Private
        } else {
            RoomKind::Public
        };
        let id =
            match rooms::create_room(&self.db, &name, &topic, kind.as_str(), Some(user.id), now)
                .await
            {
                Ok(id) => id,
                // A private room's name is taken as much as a public one's; saying so
                // reveals no more than trying to create it does anywhere.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(ApiError::Conflict(format!(
                        "A room named {name} exists already."
                    )))
                }
                Err(e) => return Err(internal("creating a room failed", e)),
            };
        rooms::add_creator(&self.db, id, user.id, now)
            .await
            .map_err(|e| internal("adding a room member failed", e))?;
        tracing::info!(room = name, user_id = user.id, private, "room created");
        self.summary(user, &name).await
    }

    async fn open_dm(&self, user: &User, usernames: &[String]) -> Result<RoomSummary, ApiError> {
        let mut others = BTreeSet::new();
        for name in usernames {
            let name = name.trim().trim_start_matches('@');
            if name.is_empty() {
                continue;
            }
            let name = normalize_username(name)
                .map_err(|_| ApiError::NotFound(format!("There is no account named {name:?}.")))?;
            if name != user.username {
                others.insert(name);
            }
        }
        if others.is_empty() || others.len() >= access::MAX_DM_PEOPLE {
            return Err(ApiError::Invalid(format!(
                "A direct conversation has 1 to {} other people.",
                access::MAX_DM_PEOPLE - 1
            )));
        }
        let others: Vec<String> = others.into_iter().collect();
        let found = store::accounts_named(&self.db, &others)
            .await
            .map_err(|e| internal("looking up accounts failed", e))?;
        if let Some(missing) = others
            .iter()
            .find(|name| !found.iter().any(|(_, n)| n == *name))
        {
            return Err(ApiError::NotFound(format!(
                "There is no account named {missing:?}."
            )));
        }
        let mut ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
        ids.push(user.id);
        let name = access::dm_name(&ids);
        let created = rooms::create_dm(&self.db, &name, user.id, &ids, now_ms())
            .await
            .map_err(|e| internal("starting a conversation failed", e))?;
        if created {
            for (_, person) in &found {
                self.hub.to_user(person, &ServerFrame::RoomsChanged {});
            }
            self.hub
                .to_user(&user.username, &ServerFrame::RoomsChanged {});
        }
        self.summary(user, &name).await
    }

    async fn members(&self, user: &User, room: &str) -> Result<Vec<Member>, ApiError> {
        let room = self.room_for(user, room).await?;
        let rows = store::members(&self.db, room.id)
            .await
            .map_err(|e| internal("listing members failed", e))?;
        Ok(rows
            .into_iter()
            .map(|(username, user_id, role, created_by)| Member {
                username,
                role: access::member_role(
                    room.kind,
                    created_by,
                    user_id,
                    access::stored_role(&role),
                ),
            })
            .collect())
    }

    async fn history(
        &self,
        user: &User,
        room: &str,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ApiError> {
        let limit = limit.unwrap_or(RECENT_ON_JOIN as u32);
        if limit == 0 || limit > HISTORY_MAX {
            return Err(ApiError::Invalid(format!("limit is 1 to {HISTORY_MAX}.")));
        }
        let room = self.room_for(user, room).await?;
        // The position first: whatever changes after it is replayed to a client that
        // joins with it, so the page may be newer than it but never older.
        let last_seq = store::last_seq(&self.db, room.id)
            .await
            .map_err(|e| internal("reading history failed", e))?;
        let (mut rows, reactions, files) =
            store::messages_before(&self.db, room.id, before, i64::from(limit) + 1)
                .await
                .map_err(|e| internal("reading history failed", e))?;
        let has_more = rows.len() > limit as usize;
        if has_more {
            rows.remove(0);
        }
        Ok(HistoryPage {
            messages: wire::message_views(rows, reactions, files),
            has_more,
            last_seq,
        })
    }

    async fn submit(
        &self,
        user: &User,
        room: &str,
        client_id: &str,
        change: Change,
    ) -> Result<Receipt, ApiError> {
        let queued = self.queue(user, room, client_id, change).await?;
        Ok(queued.await?)
    }

    async fn mark_read(&self, user: &User, room: &str, seq: i64) -> Result<ReadState, ApiError> {
        if seq < 0 {
            return Err(ApiError::Invalid("seq is 0 or more.".into()));
        }
        let found = self.room_for(user, room).await?;
        let last_seq = store::last_seq(&self.db, found.id)
            .await
            .map_err(|e| internal("reading a room failed", e))?;
        rooms::mark_read(&self.db, found.id, user.id, seq.min(last_seq))
            .await
            .map_err(|e| internal("recording a read position failed", e))?;
        // The room as the list shows it now: the counts, and whether `user` is in it.
        let summary = self.summary(user, room).await?;
        if summary.role.is_none() {
            return Err(ApiError::Invalid(format!(
                "Join #{room} to keep your place in it."
            )));
        }
        let state = summary.read_state();
        self.tell_read(user, &state);
        Ok(state)
    }

    async fn mark_all_read(&self, user: &User) -> Result<Vec<ReadState>, ApiError> {
        let moved = rooms::mark_all_read(&self.db, user.id)
            .await
            .map_err(|e| internal("marking rooms read failed", e))?;
        let states: Vec<ReadState> = moved
            .into_iter()
            .map(|(room, seq)| ReadState {
                room,
                seq,
                unread: 0,
                mentions: 0,
                last_seq: seq,
            })
            .collect();
        for state in &states {
            self.tell_read(user, state);
        }
        Ok(states)
    }

    async fn set_muted(&self, user: &User, room: &str, muted: bool) -> Result<(), ApiError> {
        let found = self.room_for(user, room).await?;
        let member = rooms::set_muted(&self.db, found.id, user.id, muted)
            .await
            .map_err(|e| internal("muting a room failed", e))?;
        if !member {
            return Err(ApiError::Invalid(format!("Join #{room} to mute it.")));
        }
        self.hub
            .to_user(&user.username, &ServerFrame::RoomsChanged {});
        Ok(())
    }

    async fn set_room_mentions(
        &self,
        user: &User,
        room: &str,
        moderators_only: bool,
    ) -> Result<(), ApiError> {
        let found = self.room_for(user, room).await?;
        let summary = self.summary(user, room).await?;
        if summary.dm || !summary.role.is_some_and(Role::manages) {
            return Err(ApiError::Forbidden(
                "Only the room's owner and moderators can change who may use @room.".into(),
            ));
        }
        let who = access::room_mentions_setting(moderators_only);
        rooms::set_mention_room(&self.db, found.id, who)
            .await
            .map_err(|e| internal("changing a room failed", e))
    }

    async fn search(
        &self,
        user: &User,
        q: &str,
        before: Option<&str>,
    ) -> Result<FoundPage, ApiError> {
        if q.chars().count() > search::QUERY_MAX {
            return Err(ApiError::Invalid(format!(
                "A search is at most {} characters long.",
                search::QUERY_MAX
            )));
        }
        let query = Query::parse(q);
        let before = cursor(before)?;
        let room_id = match &query.room {
            Some(name) => Some(self.room_for(user, name).await?.id),
            None => None,
        };
        let rows = match search::search(
            &self.db,
            user.id,
            &query,
            room_id,
            before,
            search::PAGE + 1,
        )
        .await
        {
            Ok(rows) => rows,
            Err(search::SearchError::Empty) => {
                return Err(ApiError::Invalid(
                    "Search for a word (of three letters or more), in:#room or from:@someone."
                        .into(),
                ))
            }
            Err(search::SearchError::Database(e)) => return Err(internal("searching failed", e)),
        };
        Ok(page(rows, |body| search::term_marks(body, &query.terms)))
    }

    async fn mentions(&self, user: &User, before: Option<&str>) -> Result<FoundPage, ApiError> {
        let before = cursor(before)?;
        let rows = search::mentions_of(&self.db, user.id, before, search::PAGE + 1)
            .await
            .map_err(|e| internal("listing mentions failed", e))?;
        Ok(page(rows, |body| {
            search::mention_marks(body, &user.username)
        }))
    }

    async fn find_users(&self, _user: &User, prefix: &str) -> Result<Vec<String>, ApiError> {
        let prefix = prefix.trim().trim_start_matches('@').to_lowercase();
        let valid = !prefix.is_empty()
            && prefix.len() <= app::accounts::rules::USERNAME_MAX
            && prefix.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
            });
        if !valid {
            return Ok(Vec::new());
        }
        store::usernames_starting(&self.db, &prefix, COMPLETIONS)
            .await
            .map_err(|e| internal("completing a username failed", e))
    }
}

/// Where a page of results starts: after the `next` of the page before, if any.
fn cursor(before: Option<&str>) -> Result<Option<PageEnd>, ApiError> {
    before
        .filter(|text| !text.is_empty())
        .map(|text| {
            PageEnd::decode(text)
                .ok_or_else(|| ApiError::Invalid("That page of results does not exist.".into()))
        })
        .transpose()
}

/// A page of results from `rows` (one more than a page, when there are more).
fn page(mut rows: Vec<search::Row>, marks: impl Fn(&str) -> Vec<(usize, usize)>) -> FoundPage {
    let more = rows.len() > search::PAGE as usize;
    rows.truncate(search::PAGE as usize);
    let next = more
        .then(|| rows.last().map(|row| row.cursor().encode()))
        .flatten();
    FoundPage {
        hits: rows.into_iter().map(|row| row.found(&marks)).collect(),
        next,
    }
}
