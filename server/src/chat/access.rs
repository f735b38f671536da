//! Kinds of room and the names of direct conversations: what decides who may see a
//! room. The rules themselves are applied where each operation is decided (`plan` for
//! changes to a log, [`super::Chat`] for reading one), always answering an outsider of
//! a private room exactly as for a room that does not exist.

use sha2::{Digest, Sha256};

/// Most people in one direct conversation.
pub const MAX_DM_PEOPLE: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Listed; anyone may join, read and post.
    Public,
    /// Invite only; members only.
    Private,
    /// A direct conversation between a fixed set of people.
    Dm,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Public => "public",
            Kind::Private => "private",
            Kind::Dm => "dm",
        }
    }

    pub fn parse(kind: &str) -> Kind {
        match kind {
            "private" => Kind::Private,
            "dm" => Kind::Dm,
            // Rows from before kinds existed are public.
            _ => Kind::Public,
        }
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
    fn kinds_round_trip() {
        for kind in [Kind::Public, Kind::Private, Kind::Dm] {
            assert_eq!(Kind::parse(kind.as_str()), kind);
        }
    }
}
