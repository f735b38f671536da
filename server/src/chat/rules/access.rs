//! Kinds of room and the names of direct conversations: what decides who may see a
//! room. The rules themselves are applied where each operation is decided (`plan` for
//! changes to a log, [`super::Chat`] for reading one), always answering an outsider of
//! a private room exactly as for a room that does not exist.

use app::protocol::Role;
use sha2::{Digest, Sha256};

/// Most people in one direct conversation.
pub const MAX_DM_PEOPLE: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomKind {
    /// Listed; anyone may join, read and post.
    Public,
    /// Invite only; members only.
    Private,
    /// A direct conversation between a fixed set of people.
    Dm,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Public => "public",
            RoomKind::Private => "private",
            RoomKind::Dm => "dm",
        }
    }

    /// Whether someone may read the room (its log, its files): anyone a public room,
    /// members the others.
    pub fn readable(self, member: bool) -> bool {
        self == RoomKind::Public || member
    }

    pub fn parse(kind: &str) -> RoomKind {
        match kind {
            "private" => RoomKind::Private,
            "dm" => RoomKind::Dm,
            // Rows from before kinds existed are public.
            _ => RoomKind::Public,
        }
    }
}

/// A membership's role as `room_members.role` stores it (`member` or `moderator`).
pub fn stored_role(role: &str) -> Role {
    if role == Role::Moderator.as_str() {
        Role::Moderator
    } else {
        Role::Member
    }
}

/// The role of member `user_id` whose stored role is `stored`: a room's creator owns it
/// (a conversation has no owner), anyone else has the role stored.
pub fn member_role(kind: RoomKind, created_by: Option<i64>, user_id: i64, stored: Role) -> Role {
    if kind != RoomKind::Dm && created_by == Some(user_id) {
        Role::Owner
    } else {
        stored
    }
}

/// `rooms.mention_room`: who may notify everyone with `@room`.
const MENTION_ROOM_MODERATORS: &str = "moderators";
const MENTION_ROOM_MEMBERS: &str = "members";

/// Whether a room's `mention_room` leaves `@room` to its moderators and owner.
pub fn room_mentions_restricted(setting: &str) -> bool {
    setting == MENTION_ROOM_MODERATORS
}

/// The `mention_room` stored for a restriction (or none).
pub fn room_mentions_setting(restricted: bool) -> &'static str {
    if restricted {
        MENTION_ROOM_MODERATORS
    } else {
        MENTION_ROOM_MEMBERS
    }
}

/// The room name of the conversation between exactly the accounts `ids`: `@` and a
/// digest of the sorted ids. Room names chosen by people cannot contain `@`, and the
/// unique index on names then makes one conversation per set of people, even when two
/// of them start it at the same moment.
pub fn dm_name(ids: &[i64]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let key = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("@{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_set_of_people_has_one_name_whatever_the_order() {
        assert_eq!(dm_name(&[3, 1, 2]), dm_name(&[1, 2, 3]));
        assert_eq!(dm_name(&[1, 2, 2, 3]), dm_name(&[1, 2, 3]));
        assert_ne!(dm_name(&[1, 2]), dm_name(&[1, 2, 3]));
        assert_ne!(dm_name(&[1, 23]), dm_name(&[12, 3]));
        let name = dm_name(&[1, 2]);
        assert_eq!(name.len(), 21);
        assert!(app::rooms::rules::normalize_room_name(&name).is_err());
    }

    #[test]
    fn creators_own_rooms_but_not_conversations() {
        assert_eq!(stored_role("moderator"), Role::Moderator);
        assert_eq!(stored_role("member"), Role::Member);
        assert_eq!(
            member_role(RoomKind::Private, Some(7), 7, Role::Member),
            Role::Owner
        );
        assert_eq!(
            member_role(RoomKind::Dm, Some(7), 7, Role::Member),
            Role::Member
        );
        assert_eq!(
            member_role(RoomKind::Public, Some(7), 8, Role::Moderator),
            Role::Moderator
        );
        for restricted in [true, false] {
            assert_eq!(
                room_mentions_restricted(room_mentions_setting(restricted)),
                restricted
            );
        }
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [RoomKind::Public, RoomKind::Private, RoomKind::Dm] {
            assert_eq!(RoomKind::parse(kind.as_str()), kind);
        }
    }
}
