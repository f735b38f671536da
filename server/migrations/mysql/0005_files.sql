-- Files attached to messages (docs/files.md). A row per stored blob: an upload is
-- unclaimed (message_seq NULL, visible to its uploader only) until a post in its room
-- claims it in the transaction that stores the post. Deleting the message marks its
-- files deleted in that transaction; the collector then erases the blobs and the rows,
-- as it does for uploads left unclaimed for a day.
CREATE TABLE files (
    -- 128 random bits in lower-case hex: the blob's key and the address's only secret.
    id           CHAR(32)     CHARACTER SET ascii NOT NULL PRIMARY KEY,
    uploader_id  BIGINT       NOT NULL,
    room_id      BIGINT       NOT NULL,
    message_seq  BIGINT       NULL,
    -- Order among the message's files.
    position     INT          NOT NULL DEFAULT 0,
    name         VARCHAR(255) NOT NULL,
    size         BIGINT       NOT NULL,
    sha256       BINARY(32)   NOT NULL,
    -- Sniffed from the bytes.
    content_type VARCHAR(100) NOT NULL,
    -- Pixels of an image shown inline (upright); NULL for every other file.
    width        INT          NULL,
    height       INT          NULL,
    -- The type of the smaller copy stored beside it (`<id>.thumb`), if any.
    thumb_type   VARCHAR(16)  NULL,
    created_at   BIGINT       NOT NULL,
    deleted_at   BIGINT       NULL,
    KEY files_message (room_id, message_seq, position),
    KEY files_unclaimed (uploader_id, message_seq),
    KEY files_sweep (deleted_at),
    KEY files_age (message_seq, created_at),
    CONSTRAINT files_uploader_fk FOREIGN KEY (uploader_id) REFERENCES users (id),
    CONSTRAINT files_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
