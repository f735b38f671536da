//! What this tab sends: the changes that wait for the server (a message until its echo,
//! an edit, deletion or reaction until the timeline holds it), and the queue that takes
//! frames to the socket. A change is kept until then so that a reconnect can send it
//! again under its original `client_id`, which the server stores once however often it
//! arrives.

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use leptos::prelude::*;

use crate::protocol::{Attachment, ClientFrame};

/// The composer sends a typing notice at most this often.
const TYPING_EVERY_MS: f64 = 2_000.0;

/// Where a message sent from this tab stands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SendState {
    /// On its way, or waiting for a connection; a reconnect sends it again.
    Sending,
    /// Refused, for the reason given; sent again only when the person retries.
    Failed(String),
}

/// A message sent from this tab and not yet seen back from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMessage {
    pub client_id: String,
    pub body: String,
    pub reply_to: Option<i64>,
    /// Uploaded already; the message claims them.
    pub files: Vec<Attachment>,
    pub state: SendState,
}

impl PendingMessage {
    /// The `send` frame for this message, sent (and resent) under its `client_id`.
    pub fn frame(&self, room: &str) -> ClientFrame {
        ClientFrame::Send {
            room: room.to_string(),
            client_id: self.client_id.clone(),
            body: self.body.clone(),
            reply_to: self.reply_to,
            files: self.files.iter().map(|file| file.id.clone()).collect(),
        }
    }
}

/// An edit, deletion or reaction sent from this tab and not yet in the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOp {
    pub client_id: String,
    pub target: i64,
    /// The frame, kept to resend after a reconnect.
    pub frame: ClientFrame,
    /// The seq the server stored it as; the op is done once the timeline reaches it.
    pub acked: Option<i64>,
}

impl PendingOp {
    /// The new body of a pending edit.
    pub fn edit_body(&self) -> Option<&str> {
        match &self.frame {
            ClientFrame::Edit { body, .. } => Some(body),
            _ => None,
        }
    }

    pub fn is_delete(&self) -> bool {
        matches!(self.frame, ClientFrame::Delete { .. })
    }

    /// Whether the timeline, at `position`, already shows this op's effect: then the
    /// view shows the timeline and no longer the op.
    pub fn settled(&self, position: i64) -> bool {
        self.acked.is_some_and(|seq| seq <= position)
    }
}

/// What a new connection sends again for `room`: the messages still sending (a failed
/// one waits for the person's retry), then the changes never acknowledged, each in the
/// order made.
pub fn unsent(room: &str, pending: &[PendingMessage], ops: &[PendingOp]) -> Vec<ClientFrame> {
    let messages = pending
        .iter()
        .filter(|message| message.state == SendState::Sending)
        .map(|message| message.frame(room));
    let changes = ops
        .iter()
        .filter(|op| op.acked.is_none())
        .map(|op| op.frame.clone());
    messages.chain(changes).collect()
}

/// Whether a typing notice is due at `now`, the last one having gone at `last_sent`
/// (both on the browser clock): others see one for a few seconds, so one every two
/// seconds keeps it showing without a frame per key.
pub fn typing_due(last_sent: f64, now: f64) -> bool {
    now - last_sent >= TYPING_EVERY_MS
}

/// The queue of frames to the socket. Open only while connected: without a connection
/// a frame is not queued but refused, and what needs to arrive stays pending in its
/// room until [`unsent`] names it for the next connection.
#[derive(Clone, Copy)]
pub struct Outbox {
    // Thread-safe storage: the server renders with this type too, on any thread.
    queue: StoredValue<Option<UnboundedSender<String>>>,
}

impl Outbox {
    pub(super) fn new() -> Self {
        Outbox {
            queue: StoredValue::new(None),
        }
    }

    /// Opens the queue for a new connection, which writes out what it receives; a queue
    /// opened before is closed.
    pub fn open(&self) -> UnboundedReceiver<String> {
        let (tx, rx) = unbounded();
        self.queue.set_value(Some(tx));
        rx
    }

    /// Closes the queue: the connection is gone.
    pub fn close(&self) {
        self.queue.set_value(None);
    }

    /// Queues `frame` for the socket; false when there is no connection to take it.
    pub fn send(&self, frame: &ClientFrame) -> bool {
        let Ok(text) = serde_json::to_string(frame) else {
            return false;
        };
        self.queue.with_value(|queue| {
            queue
                .as_ref()
                .is_some_and(|tx| tx.unbounded_send(text).is_ok())
        })
    }
}

/// A fresh UUID v4 for a change's `client_id`.
pub fn new_client_id() -> String {
    #[cfg(feature = "hydrate")]
    {
        window()
            .crypto()
            .map(|crypto| crypto.random_uuid())
            .unwrap_or_else(|_| {
                format!(
                    "{:x}{:x}",
                    js_sys::Date::now() as u64,
                    (js_sys::Math::random() * 1e16) as u64
                )
            })
    }
    #[cfg(all(feature = "ssr", not(feature = "hydrate")))]
    {
        uuid::Uuid::new_v4().to_string()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        String::from("00000000-0000-4000-8000-000000000000")
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn message(client_id: &str, state: SendState) -> PendingMessage {
        PendingMessage {
            client_id: client_id.into(),
            body: format!("body of {client_id}"),
            reply_to: None,
            files: vec![],
            state,
        }
    }

    fn delete(client_id: &str, target: i64, acked: Option<i64>) -> PendingOp {
        PendingOp {
            client_id: client_id.into(),
            target,
            frame: ClientFrame::Delete {
                room: "r".into(),
                target,
                client_id: client_id.into(),
            },
            acked,
        }
    }

    #[test]
    fn a_reconnect_resends_what_is_sending_and_unacknowledged_under_the_same_ids() {
        let pending = [
            message("m1", SendState::Sending),
            message("m2", SendState::Failed("too long".into())),
            message("m3", SendState::Sending),
        ];
        let ops = [delete("o1", 4, Some(9)), delete("o2", 5, None)];
        let frames = unsent("r", &pending, &ops);
        let ids: Vec<&str> = frames
            .iter()
            .map(|frame| match frame {
                ClientFrame::Send { client_id, .. } | ClientFrame::Delete { client_id, .. } => {
                    client_id.as_str()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            ids,
            ["m1", "m3", "o2"],
            "not the failed one, nor the acked op"
        );
        assert_eq!(
            frames[0],
            ClientFrame::Send {
                room: "r".into(),
                client_id: "m1".into(),
                body: "body of m1".into(),
                reply_to: None,
                files: vec![],
            }
        );
    }

    #[test]
    fn an_op_settles_once_the_timeline_reaches_its_ack() {
        assert!(!delete("o", 1, None).settled(100), "not acknowledged yet");
        assert!(!delete("o", 1, Some(8)).settled(7));
        assert!(delete("o", 1, Some(8)).settled(8));
        assert!(delete("o", 1, Some(8)).settled(9));
    }

    #[test]
    fn typing_notices_go_at_most_every_two_seconds() {
        assert!(typing_due(f64::NEG_INFINITY, 0.0), "the first one goes");
        assert!(!typing_due(1_000.0, 2_999.0));
        assert!(typing_due(1_000.0, 3_000.0));
    }

    #[test]
    fn the_outbox_takes_frames_only_while_open() {
        let owner = Owner::new();
        owner.set();
        let outbox = Outbox::new();
        let typing = ClientFrame::Typing { room: "r".into() };
        assert!(!outbox.send(&typing), "no connection");
        let mut queue = outbox.open();
        assert!(outbox.send(&typing));
        let text = futures::executor::block_on(queue.next()).unwrap();
        assert_eq!(text, r#"{"type":"typing","room":"r"}"#);
        outbox.close();
        assert!(!outbox.send(&typing), "closed with its connection");
        assert_eq!(futures::executor::block_on(queue.next()), None);
    }
}
