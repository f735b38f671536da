-- Who may see what, and what is waiting for whom (docs/rooms.md).
--
-- users: the server's admins (the first account is one whatever this says) and bans.
ALTER TABLE users
    ADD COLUMN is_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN banned_at BIGINT  NULL;

-- rooms: `kind` is public | private | dm. A conversation's name is '@' and a digest of
-- its members' ids, so the unique name makes one conversation per set of people even
-- when two of them open it at once. `mention_room` says who may notify everyone with
-- @room: members | moderators.
ALTER TABLE rooms
    ADD COLUMN kind         VARCHAR(8)  NOT NULL DEFAULT 'public',
    ADD COLUMN archived_at  BIGINT      NULL,
    ADD COLUMN mention_room VARCHAR(12) NOT NULL DEFAULT 'members';

-- room_members: a moderator or a member (the owner is the room's creator while a
-- member), how far into the room's log the member has read, and whether it is muted.
ALTER TABLE room_members
    ADD COLUMN role          VARCHAR(10) NOT NULL DEFAULT 'member',
    ADD COLUMN last_read_seq BIGINT      NOT NULL DEFAULT 0,
    ADD COLUMN muted         BOOLEAN     NOT NULL DEFAULT FALSE;

-- Everyone starts with what was there before read, not with a room full of unread.
UPDATE room_members SET last_read_seq = (SELECT r.last_seq FROM rooms r WHERE r.id = room_members.room_id);

-- Membership and archiving events name who they are about and the role given.
ALTER TABLE room_events
    ADD COLUMN subject_id BIGINT      NULL,
    ADD COLUMN role       VARCHAR(10) NULL;

-- messages: whether the post notified the whole room (@room, when its author may), a
-- full-text index for search (kept by InnoDB on every insert and update; a deleted
-- message's NULL body leaves it), and an index for `from:` searches.
ALTER TABLE messages
    ADD COLUMN room_mention BOOLEAN NOT NULL DEFAULT FALSE,
    ADD KEY messages_author_time (author_id, sent_at),
    ADD KEY messages_time (sent_at);
ALTER TABLE messages ADD FULLTEXT INDEX messages_body_search (body);

-- Who each post mentions (by @name, or everyone by @room), for mention counts and
-- the Mentions view.
CREATE TABLE mentions (
    user_id BIGINT NOT NULL,
    room_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, seq),
    KEY mentions_recent (user_id, at),
    CONSTRAINT mentions_message_fk FOREIGN KEY (room_id, seq)
        REFERENCES messages (room_id, seq) ON DELETE CASCADE,
    CONSTRAINT mentions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Single-use sign-up invitations (`--registration invite`). Only a digest of the code
-- is stored, like session tokens.
CREATE TABLE invites (
    code_hash  BINARY(32) NOT NULL PRIMARY KEY,
    created_by BIGINT     NOT NULL,
    created_at BIGINT     NOT NULL,
    expires_at BIGINT     NOT NULL,
    CONSTRAINT invites_creator_fk FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
