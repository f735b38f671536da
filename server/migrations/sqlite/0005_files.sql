-- Files attached to messages: the same columns as the MySQL migration (docs/files.md).
CREATE TABLE files (
    id           TEXT    NOT NULL PRIMARY KEY,
    uploader_id  INTEGER NOT NULL REFERENCES users (id),
    room_id      INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_seq  INTEGER NULL,
    position     INTEGER NOT NULL DEFAULT 0,
    name         TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       BLOB    NOT NULL,
    content_type TEXT    NOT NULL,
    width        INTEGER NULL,
    height       INTEGER NULL,
    thumb_type   TEXT    NULL,
    created_at   INTEGER NOT NULL,
    deleted_at   INTEGER NULL
) WITHOUT ROWID;
CREATE INDEX files_message ON files (room_id, message_seq, position);
CREATE INDEX files_unclaimed ON files (uploader_id, message_seq);
CREATE INDEX files_sweep ON files (deleted_at);
CREATE INDEX files_age ON files (message_seq, created_at);
