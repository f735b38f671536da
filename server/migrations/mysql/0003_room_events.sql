-- The room event log. Every change to a room (a message posted, edited or deleted, a
-- reaction added or removed, the topic changed) is one event with the room's next seq,
-- taken in the transaction that makes the change. A posting event is its message's row
-- in `messages` (which also holds the message as it now stands); every other event is a
-- row here. The two share each room's seqs, so a room's log is both, ordered by seq.
-- Keeping posts out of this table keeps a post as cheap to store as before the log
-- (docs/benchmarks.md). No row here carries a body: deleting a message erases its only
-- copy. `reactions` holds the reactions now on each message.
CREATE TABLE room_events (
    room_id    BIGINT        NOT NULL,
    seq        BIGINT        NOT NULL,
    -- edited | deleted | reaction_on | reaction_off | topic
    kind       VARCHAR(16)   NOT NULL,
    actor_id   BIGINT        NOT NULL,
    -- The actor's idempotency key, as messages.client_id is for posts: a retry with the
    -- same id changes nothing twice.
    client_id  VARCHAR(64)   NOT NULL,
    -- The message an edit, deletion or reaction is about.
    target_seq BIGINT        NULL,
    -- Bytes, compared exactly: utf8mb4_unicode_ci would call every emoji equal.
    emoji      VARBINARY(64) NULL,
    topic      VARCHAR(200)  NULL,
    at         BIGINT        NOT NULL,
    PRIMARY KEY (room_id, seq),
    UNIQUE KEY room_events_client (actor_id, client_id),
    CONSTRAINT room_events_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT room_events_actor_fk FOREIGN KEY (actor_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

ALTER TABLE messages
    MODIFY body TEXT NULL,
    ADD COLUMN reply_to   BIGINT NULL,
    ADD COLUMN edited_at  BIGINT NULL,
    ADD COLUMN deleted_at BIGINT NULL;

CREATE TABLE reactions (
    room_id     BIGINT        NOT NULL,
    message_seq BIGINT        NOT NULL,
    emoji       VARBINARY(64) NOT NULL,
    user_id     BIGINT        NOT NULL,
    PRIMARY KEY (room_id, message_seq, emoji, user_id),
    KEY reactions_user (user_id),
    CONSTRAINT reactions_message_fk FOREIGN KEY (room_id, message_seq)
        REFERENCES messages (room_id, seq) ON DELETE CASCADE,
    CONSTRAINT reactions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
