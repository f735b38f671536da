//! Where a connection is in one room's log: the highest seq it has been sent. Every
//! event, replayed or live, is placed against it, so nothing goes out twice and a
//! missing stretch is noticed and read from the database.

/// Where an event's seq falls relative to what was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// At or below the cursor: sent already (by a replay or a catch-up).
    Sent,
    /// The very next one.
    Next,
    /// Beyond the next: something between was not seen here.
    Gap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogCursor {
    last: i64,
}

impl LogCursor {
    /// A cursor that owes everything after `last`.
    pub fn after(last: i64) -> Self {
        LogCursor { last }
    }

    pub fn last(&self) -> i64 {
        self.last
    }

    pub fn place(&self, seq: i64) -> Place {
        if seq <= self.last {
            Place::Sent
        } else if seq == self.last + 1 {
            Place::Next
        } else {
            Place::Gap
        }
    }

    /// Records that `seq` was sent; later events at or below it count as sent.
    pub fn advance(&mut self, seq: i64) {
        self.last = self.last.max(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_events_against_what_was_sent() {
        let mut cursor = LogCursor::after(4);
        assert_eq!(cursor.place(3), Place::Sent);
        assert_eq!(cursor.place(4), Place::Sent);
        assert_eq!(cursor.place(5), Place::Next);
        assert_eq!(cursor.place(7), Place::Gap);
        cursor.advance(7);
        assert_eq!(cursor.place(7), Place::Sent);
        cursor.advance(2);
        assert_eq!(cursor.last(), 7, "never moves back");
    }
}
