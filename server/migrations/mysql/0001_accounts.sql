-- Accounts and sessions. Times are milliseconds since the Unix epoch (UTC), the same
-- representation on both backends.
CREATE TABLE users (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- Stored lower-case; the rules allow only a-z 0-9 _ . -
    username      VARCHAR(32)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT       NOT NULL,
    UNIQUE KEY users_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE sessions (
    id           BIGINT     NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash   BINARY(32) NOT NULL,
    user_id      BIGINT     NOT NULL,
    created_at   BIGINT     NOT NULL,
    last_seen_at BIGINT     NOT NULL,
    expires_at   BIGINT     NOT NULL,
    UNIQUE KEY sessions_token_hash (token_hash),
    KEY sessions_user (user_id),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
