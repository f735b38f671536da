-- Rooms, membership and messages. `rooms.last_seq` is the per-room counter that the
-- storing transaction advances, so seq is 1, 2, 3 … with no gaps.
CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    topic      TEXT    NOT NULL DEFAULT '',
    created_by INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE room_members (
    room_id   INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE INDEX room_members_user ON room_members (user_id);

CREATE TABLE messages (
    room_id   INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    author_id INTEGER NOT NULL REFERENCES users (id),
    -- The sender's idempotency key: a resend with the same id stores nothing new.
    -- Stored lower-case (UUIDs are case-insensitive).
    client_id TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    sent_at   INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq),
    UNIQUE (author_id, client_id)
) WITHOUT ROWID;
