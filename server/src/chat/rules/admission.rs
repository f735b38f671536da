//! The door every change passes before it is queued: the sender's rate, then the
//! room's and the server's load. Refusing here stores nothing and costs little, which
//! is the point of refusing at all.

use std::{sync::Mutex, time::Instant};

use app::protocol::ErrorCode;

use super::load::{RoomLoad, ServerLoad};
use crate::{chat::refusal::Refusal, rate::Buckets};

/// Send tokens per user.
pub struct Admission {
    sends: Mutex<Buckets>,
}

impl Admission {
    /// `send_rate` changes a second per user, with `send_burst` above that.
    pub fn new(send_rate: f64, send_burst: f64) -> Admission {
        Admission {
            sends: Mutex::new(Buckets::new(send_rate, send_burst)),
        }
    }

    /// Whether `user_id` may change a room now: the room (`room`, its delivery gauge
    /// when anyone here follows it) not so far behind that more would only deepen the
    /// backlog, and the user within their send rate. A change the room turns away takes
    /// no token.
    pub fn admit(
        &self,
        user_id: i64,
        room: Option<&RoomLoad>,
        server: &ServerLoad,
        now: Instant,
    ) -> Result<(), Refusal> {
        if room.is_some_and(|room| !room.admit(server, now)) {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                "This room is too busy right now; this was not sent. Try again in a moment.",
            ));
        }
        let allowed = self
            .sends
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(user_id, now);
        if allowed {
            Ok(())
        } else {
            Err(Refusal::new(
                ErrorCode::RateLimited,
                "You are sending too fast; this was not sent.",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_sender_past_their_burst_is_refused_until_tokens_refill() {
        let door = Admission::new(1.0, 2.0);
        let server = ServerLoad::default();
        let now = Instant::now();
        assert!(door.admit(1, None, &server, now).is_ok());
        assert!(door.admit(1, None, &server, now).is_ok());
        let refused = door.admit(1, None, &server, now).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(door.admit(2, None, &server, now).is_ok(), "per user");
        assert!(door
            .admit(1, None, &server, now + Duration::from_secs(1))
            .is_ok());
    }

    #[test]
    fn a_room_behind_refuses_without_taking_the_senders_token() {
        let door = Admission::new(1.0, 1.0);
        let server = ServerLoad::default();
        let room = RoomLoad::default();
        let now = Instant::now();
        room.record(Duration::from_secs(1), now);
        let refused = door.admit(1, Some(&room), &server, now).unwrap_err();
        assert!(refused.message.contains("too busy"), "{}", refused.message);
        assert!(door.admit(1, None, &server, now).is_ok(), "token kept");
    }
}
