//! What survives the tab: the messages sent and not yet stored (one `localStorage` key
//! per user, written before each is sent), so that a reload or a closed tab sends them
//! again under their original `client_id` and the server keeps each once; and the
//! composer's draft per room. What is read back is checked, so a corrupt or foreign
//! entry is dropped and never stops the page from loading.

use serde::{Deserialize, Serialize};

use super::outbox::{PendingMessage, SendState};
use crate::protocol::{check_body, normalize_client_id, Attachment, MAX_BODY_CHARS};

/// Unsent messages kept at most; past this the oldest are dropped.
pub const MAX_KEPT: usize = 200;

const OUTBOX_KEY: &str = "banter.unsent.v1.";
const DRAFT_KEY: &str = "banter.draft.v1.";

/// One unsent message as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub room: String,
    pub client_id: String,
    pub body: String,
    #[serde(default)]
    pub reply_to: Option<i64>,
    #[serde(default)]
    pub files: Vec<Attachment>,
}

impl Kept {
    pub fn of(room: &str, message: &PendingMessage) -> Kept {
        Kept {
            room: room.to_string(),
            client_id: message.client_id.clone(),
            body: message.body.clone(),
            reply_to: message.reply_to,
            files: message.files.clone(),
        }
    }

    pub fn pending(self) -> (String, PendingMessage) {
        (
            self.room,
            PendingMessage {
                client_id: self.client_id,
                body: self.body,
                reply_to: self.reply_to,
                files: self.files,
                state: SendState::Sending,
            },
        )
    }

    /// Whether it could have been written by this app: anything else is dropped.
    fn sound(&self) -> bool {
        let body_ok = if self.files.is_empty() {
            check_body(&self.body).is_ok()
        } else {
            self.body.chars().count() <= MAX_BODY_CHARS
        };
        !self.room.is_empty()
            && self.room.len() <= 64
            && normalize_client_id(&self.client_id).is_ok()
            && body_ok
            && self.files.len() <= crate::attachments::MAX_FILES_PER_MESSAGE
            && self.reply_to.is_none_or(|seq| seq > 0)
    }
}

/// The storage key of `user`'s unsent messages.
pub fn outbox_key(user: &str) -> String {
    format!("{OUTBOX_KEY}{user}")
}

/// The storage key of `user`'s draft in `room`.
pub fn draft_key(user: &str, room: &str) -> String {
    format!("{DRAFT_KEY}{user}.{room}")
}

/// The unsent messages in `stored`, oldest first: the sound entries of a JSON list,
/// nothing from anything else.
pub fn parse(stored: &str) -> Vec<Kept> {
    let Ok(entries) = serde_json::from_str::<Vec<serde_json::Value>>(stored) else {
        return Vec::new();
    };
    let mut kept: Vec<Kept> = entries
        .into_iter()
        .filter_map(|entry| serde_json::from_value::<Kept>(entry).ok())
        .filter(Kept::sound)
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    kept.retain(|k| seen.insert(k.client_id.clone()));
    let excess = kept.len().saturating_sub(MAX_KEPT);
    kept.drain(..excess);
    kept
}

/// The list as stored: the newest [`MAX_KEPT`].
pub fn serialise(kept: &[Kept]) -> String {
    let from = kept.len().saturating_sub(MAX_KEPT);
    serde_json::to_string(&kept[from..]).unwrap_or_else(|_| "[]".into())
}

/// The browser's `localStorage`; every failure (storage off, full, private mode) is
/// quietly nothing, since what is kept is a convenience on top of the server's record.
#[cfg(feature = "hydrate")]
pub mod storage {
    fn local() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok().flatten()
    }

    pub fn get(key: &str) -> Option<String> {
        local()?.get_item(key).ok().flatten()
    }

    pub fn set(key: &str, value: &str) {
        if let Some(storage) = local() {
            let _ = storage.set_item(key, value);
        }
    }

    pub fn remove(key: &str) {
        if let Some(storage) = local() {
            let _ = storage.remove_item(key);
        }
    }

    /// Removes every key starting with `prefix`.
    pub fn remove_prefixed(prefix: &str) {
        let Some(storage) = local() else {
            return;
        };
        let count = storage.length().unwrap_or(0);
        let keys: Vec<String> = (0..count)
            .filter_map(|i| storage.key(i).ok().flatten())
            .filter(|key| key.starts_with(prefix))
            .collect();
        for key in keys {
            let _ = storage.remove_item(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(id: &str) -> Kept {
        Kept {
            room: "general".into(),
            client_id: id.into(),
            body: format!("body {id}"),
            reply_to: None,
            files: Vec::new(),
        }
    }

    #[test]
    fn what_is_written_reads_back_in_order() {
        let list = vec![kept("a"), kept("b"), kept("c")];
        assert_eq!(parse(&serialise(&list)), list);
    }

    #[test]
    fn corrupt_or_foreign_entries_are_dropped_and_never_fail() {
        for junk in ["", "{", "null", "42", "{\"room\":1}", "[1,2]", "\u{0}"] {
            assert!(parse(junk).is_empty(), "{junk:?}");
        }
        let mixed = r#"[
            {"room":"general","client_id":"ok-1","body":"fine"},
            {"room":"general","client_id":"bad id!","body":"x"},
            {"room":"","client_id":"ok-2","body":"x"},
            {"room":"general","client_id":"ok-3","body":"   "},
            {"room":"general","client_id":"ok-4","body":"x","reply_to":-1},
            "a string",
            {"room":"general","client_id":"ok-1","body":"again"},
            {"room":"general","client_id":"ok-5","body":"","files":[{"id":"0123456789abcdef0123456789abcdef","name":"a.png","size":1,"content_type":"image/png"}]}
        ]"#;
        let ids: Vec<String> = parse(mixed).into_iter().map(|k| k.client_id).collect();
        assert_eq!(ids, ["ok-1", "ok-5"]);
    }

    #[test]
    fn at_most_the_newest_two_hundred_are_kept() {
        let list: Vec<Kept> = (0..250).map(|i| kept(&format!("m{i}"))).collect();
        let back = parse(&serialise(&list));
        assert_eq!(back.len(), MAX_KEPT);
        assert_eq!(back[0].client_id, "m50");
        assert_eq!(back[MAX_KEPT - 1].client_id, "m249");
    }

    #[test]
    fn keys_belong_to_one_user() {
        assert_ne!(outbox_key("alice"), outbox_key("bob"));
        assert_ne!(draft_key("alice", "general"), draft_key("bob", "general"));
        assert_ne!(draft_key("alice", "a"), draft_key("alice", "b"));
    }
}
