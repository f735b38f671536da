-- Rooms, membership and messages. `rooms.last_seq` is the per-room counter that the
-- storing transaction advances, so seq is 1, 2, 3 … with no gaps.
CREATE TABLE rooms (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(32)  NOT NULL,
    topic      VARCHAR(200) NOT NULL DEFAULT '',
    created_by BIGINT       NULL,
    created_at BIGINT       NOT NULL,
    last_seq   BIGINT       NOT NULL DEFAULT 0,
    UNIQUE KEY rooms_name (name),
    CONSTRAINT rooms_creator_fk FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE room_members (
    room_id   BIGINT NOT NULL,
    user_id   BIGINT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id),
    KEY room_members_user (user_id),
    CONSTRAINT room_members_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT room_members_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE messages (
    room_id   BIGINT      NOT NULL,
    seq       BIGINT      NOT NULL,
    author_id BIGINT      NOT NULL,
    -- The sender's idempotency key: a resend with the same id stores nothing new.
    -- Stored lower-case (UUIDs are case-insensitive), so the _ci collation is exact.
    client_id VARCHAR(64) NOT NULL,
    body      TEXT        NOT NULL,
    sent_at   BIGINT      NOT NULL,
    PRIMARY KEY (room_id, seq),
    UNIQUE KEY messages_client (author_id, client_id),
    CONSTRAINT messages_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT messages_author_fk FOREIGN KEY (author_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
