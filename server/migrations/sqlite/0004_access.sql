-- Who may see what, and what is waiting for whom (docs/rooms.md). The same columns as
-- the MySQL migration; search is an FTS5 table kept by triggers.
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN banned_at INTEGER NULL;

-- `kind` is public | private | dm; a conversation's name is '@' and a digest of its
-- members' ids (one conversation per set of people).
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'public';
ALTER TABLE rooms ADD COLUMN archived_at INTEGER NULL;
ALTER TABLE rooms ADD COLUMN mention_room TEXT NOT NULL DEFAULT 'members';

ALTER TABLE room_members ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
ALTER TABLE room_members ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE room_members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
UPDATE room_members SET last_read_seq = (SELECT r.last_seq FROM rooms r WHERE r.id = room_members.room_id);

ALTER TABLE room_events ADD COLUMN subject_id INTEGER NULL;
ALTER TABLE room_events ADD COLUMN role TEXT NULL;

ALTER TABLE messages ADD COLUMN room_mention INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_author_time ON messages (author_id, sent_at);
CREATE INDEX messages_time ON messages (sent_at);

CREATE TABLE mentions (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, seq),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX mentions_recent ON mentions (user_id, at);

CREATE TABLE invites (
    code_hash  BLOB    NOT NULL PRIMARY KEY,
    created_by INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Full-text search. Contentless (the body's one copy stays in `messages`, so deleting
-- a message erases it), with deletes allowed; a message's row id is
-- room_id * 2^32 + seq, which the search query turns back into (room, seq).
CREATE VIRTUAL TABLE message_search USING fts5(
    body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO message_search (rowid, body)
    SELECT room_id * 4294967296 + seq, body FROM messages WHERE body IS NOT NULL;
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages WHEN new.body IS NOT NULL
BEGIN
    INSERT INTO message_search (rowid, body) VALUES (new.room_id * 4294967296 + new.seq, new.body);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF body ON messages
BEGIN
    DELETE FROM message_search WHERE rowid = old.room_id * 4294967296 + old.seq;
    INSERT INTO message_search (rowid, body)
        SELECT new.room_id * 4294967296 + new.seq, new.body WHERE new.body IS NOT NULL;
END;
