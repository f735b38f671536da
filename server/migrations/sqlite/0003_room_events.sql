-- The room event log. Every change to a room (a message posted, edited or deleted, a
-- reaction added or removed, the topic changed) is one event with the room's next seq,
-- taken in the transaction that makes the change. A posting event is its message's row
-- in `messages` (which also holds the message as it now stands); every other event is a
-- row here. The two share each room's seqs, so a room's log is both, ordered by seq.
-- Keeping posts out of this table keeps a post as cheap to store as before the log
-- (docs/benchmarks.md). No row here carries a body: deleting a message erases its only
-- copy. `reactions` holds the reactions now on each message.
CREATE TABLE room_events (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    -- edited | deleted | reaction_on | reaction_off | topic
    kind       TEXT    NOT NULL,
    actor_id   INTEGER NOT NULL REFERENCES users (id),
    -- The actor's idempotency key, as messages.client_id is for posts: a retry with the
    -- same id changes nothing twice.
    client_id  TEXT    NOT NULL,
    -- The message an edit, deletion or reaction is about.
    target_seq INTEGER NULL,
    emoji      BLOB    NULL,
    topic      TEXT    NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq),
    UNIQUE (actor_id, client_id)
) WITHOUT ROWID;

-- SQLite cannot make a column nullable in place, so `messages` is rebuilt.
CREATE TABLE messages_v3 (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    author_id  INTEGER NOT NULL REFERENCES users (id),
    client_id  TEXT    NOT NULL,
    body       TEXT    NULL,
    sent_at    INTEGER NOT NULL,
    reply_to   INTEGER NULL,
    edited_at  INTEGER NULL,
    deleted_at INTEGER NULL,
    PRIMARY KEY (room_id, seq),
    UNIQUE (author_id, client_id)
) WITHOUT ROWID;

INSERT INTO messages_v3 (room_id, seq, author_id, client_id, body, sent_at)
SELECT room_id, seq, author_id, client_id, body, sent_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v3 RENAME TO messages;

CREATE TABLE reactions (
    room_id     INTEGER NOT NULL,
    message_seq INTEGER NOT NULL,
    emoji       BLOB    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, message_seq, emoji, user_id),
    FOREIGN KEY (room_id, message_seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX reactions_user ON reactions (user_id);
