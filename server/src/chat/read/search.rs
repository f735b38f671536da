//! Full-text search over the messages a user may read, and the Mentions view: the
//! query language (`in:#room`, `from:@user`, words), the SQL for each dialect (MySQL's
//! FULLTEXT index, SQLite's FTS5 table), and the snippets with their highlights.

use app::{mentions, model::Found};

use crate::{chat::rules::access::RoomKind, clock::rfc3339_ms};
use crate::{
    db::{Db, Dialect},
    with_pool,
};

/// Results per page.
pub const PAGE: u32 = 20;
/// Longest query, in characters.
pub const QUERY_MAX: usize = 200;
/// Most words a query matches on (all of them must be in a message).
const TERMS_MAX: usize = 8;
/// Characters shown either side of the first match.
const CONTEXT: usize = 80;
/// MySQL: the newest messages (before the page's cursor) looked through directly
/// before the FULLTEXT index is asked, and the most a second, wider look may read; see
/// [`recent_on_mysql`].
const RECENT_SCAN: u32 = 5_000;
const RECENT_SCAN_MAX: u32 = 50_000;
/// Matches in the first window below which the index is asked instead: a word that
/// rare has few rows for the index to read.
const RARE: usize = 4;
/// MySQL's FULLTEXT index leaves out shorter words (`innodb_ft_min_token_size`).
const MYSQL_MIN_TERM: usize = 3;
/// … and InnoDB's default stopwords, which a required term would turn into no result.
const MYSQL_STOPWORDS: [&str; 36] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "the", "www",
];

/// A search as typed, taken apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Lower-case words, each matched as a word or a word's start.
    pub terms: Vec<String>,
    /// `in:#room`
    pub room: Option<String>,
    /// `from:@user`
    pub from: Option<String>,
}

impl Query {
    pub fn parse(q: &str) -> Query {
        let mut query = Query::default();
        for token in q.split_whitespace() {
            if let Some(room) = token.strip_prefix("in:") {
                query.room = Some(room.trim_start_matches('#').to_lowercase());
            } else if let Some(user) = token.strip_prefix("from:") {
                query.from = Some(user.trim_start_matches('@').to_lowercase());
            } else {
                for word in token.split(|c: char| !c.is_alphanumeric()) {
                    if !word.is_empty() && query.terms.len() < TERMS_MAX {
                        query.terms.push(word.to_lowercase());
                    }
                }
            }
        }
        query
    }

    /// The words the database is asked for: MySQL cannot find words under its
    /// minimum length or its stopwords, so those are only highlighted.
    fn indexed_terms(&self, dialect: Dialect) -> Vec<&str> {
        self.terms
            .iter()
            .filter(|t| {
                dialect == Dialect::Sqlite
                    || (t.chars().count() >= MYSQL_MIN_TERM
                        && !MYSQL_STOPWORDS.contains(&t.as_str()))
            })
            .map(String::as_str)
            .collect()
    }
}

/// Where a page of results ends: the next page starts before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageEnd {
    pub at: i64,
    pub room_id: i64,
    pub seq: i64,
}

impl PageEnd {
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.at, self.room_id, self.seq)
    }

    pub fn decode(text: &str) -> Option<PageEnd> {
        let mut parts = text.split('.').map(str::parse::<i64>);
        let cursor = PageEnd {
            at: parts.next()?.ok()?,
            room_id: parts.next()?.ok()?,
            seq: parts.next()?.ok()?,
        };
        parts.next().is_none().then_some(cursor)
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    pub room_id: i64,
    pub room: String,
    pub kind: String,
    pub seq: i64,
    pub author: String,
    pub sent_at: i64,
    /// When the row entered the listing (the message's time, or the mention's).
    pub at: i64,
    pub body: Option<String>,
}

/// Why a search was not run.
#[derive(Debug)]
pub enum SearchError {
    /// Nothing to search for.
    Empty,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for SearchError {
    fn from(error: sqlx::Error) -> Self {
        SearchError::Database(error)
    }
}

/// Messages `user_id` may read that match `query` (in the room `room_id` if given),
/// newest first, before `before`: at most `limit`.
pub async fn search(
    db: &Db,
    user_id: i64,
    query: &Query,
    room_id: Option<i64>,
    before: Option<PageEnd>,
    limit: u32,
) -> Result<Vec<Row>, SearchError> {
    let dialect = db.dialect();
    let terms = query.indexed_terms(dialect);
    if terms.is_empty() && query.room.is_none() && query.from.is_none() {
        return Err(SearchError::Empty);
    }
    if dialect == Dialect::MySql && !terms.is_empty() {
        let mut window = RECENT_SCAN;
        loop {
            let recent =
                recent_on_mysql(db, user_id, query, &terms, room_id, before, limit, window).await?;
            let found = recent.len();
            if found >= limit as usize {
                return Ok(recent);
            }
            if found < RARE || window >= RECENT_SCAN_MAX {
                break;
            }
            // Wide enough, at the rate seen, to fill the page with room to spare.
            let wanted = u64::from(window) * u64::from(limit) * 3 / (2 * found as u64);
            window = wanted.min(u64::from(RECENT_SCAN_MAX)) as u32;
        }
    }
    let (from, matched) = match (dialect, terms.is_empty()) {
        (_, true) => ("messages m".to_string(), String::new()),
        (Dialect::MySql, false) => (
            "messages m".to_string(),
            " AND MATCH (m.body) AGAINST (? IN BOOLEAN MODE)".to_string(),
        ),
        // The FTS5 row id is room_id * 2^32 + seq (see the migration).
        (Dialect::Sqlite, false) => (
            "(SELECT rowid AS id FROM message_search WHERE message_search MATCH ?) hit \
             JOIN messages m ON m.room_id = (hit.id >> 32) AND m.seq = (hit.id & 4294967295)"
                .to_string(),
            String::new(),
        ),
    };
    let expression = match dialect {
        Dialect::MySql => terms
            .iter()
            .map(|t| format!("+{t}*"))
            .collect::<Vec<_>>()
            .join(" "),
        Dialect::Sqlite => terms
            .iter()
            .map(|t| format!("\"{t}\"*"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut sql = format!(
        "SELECT m.room_id, r.name AS room, r.kind, m.seq, u.username AS author, m.sent_at, \
                m.sent_at AS at, m.body \
         FROM {from} JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.author_id \
         WHERE m.deleted_at IS NULL{matched} \
           AND (r.kind = 'public' OR EXISTS \
                (SELECT 1 FROM room_members rm WHERE rm.room_id = m.room_id AND rm.user_id = ?))"
    );
    if room_id.is_some() {
        sql.push_str(" AND m.room_id = ?");
    }
    if query.from.is_some() {
        sql.push_str(" AND u.username = ?");
    }
    if before.is_some() {
        sql.push_str(
            " AND (m.sent_at < ? OR (m.sent_at = ? AND (m.room_id < ? OR (m.room_id = ? AND m.seq < ?))))",
        );
    }
    sql.push_str(" ORDER BY m.sent_at DESC, m.room_id DESC, m.seq DESC LIMIT ?");
    Ok(with_pool!(db, pool => {
        let mut q = sqlx::query_as::<_, Row>(&sql);
        if !terms.is_empty() {
            q = q.bind(expression.as_str());
        }
        q = q.bind(user_id);
        if let Some(room_id) = room_id {
            q = q.bind(room_id);
        }
        if let Some(from) = &query.from {
            q = q.bind(from.as_str());
        }
        if let Some(c) = before {
            q = q.bind(c.at).bind(c.at).bind(c.room_id).bind(c.room_id).bind(c.seq);
        }
        q.bind(limit).fetch_all(pool).await
    })?)
}

/// The first `limit` matches among the newest `window` messages before `before`
/// (in the room, or by the author, the query names), by a word-start match on each
/// term. When that fills a page it is exactly the page the index would give (the
/// window is read in the results' order), and far cheaper for common words: InnoDB's
/// FULLTEXT search hands back every matching row, and a word in a tenth of a million
/// messages costs a hundred thousand row reads and a sort. Rare words do not fill a
/// page here and go to the index, which is quick for them (docs/benchmarks.md).
#[allow(clippy::too_many_arguments)]
async fn recent_on_mysql(
    db: &Db,
    user_id: i64,
    query: &Query,
    terms: &[&str],
    room_id: Option<i64>,
    before: Option<PageEnd>,
    limit: u32,
    window: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    let Db::MySql(pool) = db else {
        return Ok(Vec::new());
    };
    // Where the window ends: an index-only read of the RECENT_SCAN-th newest message
    // (in the room, or by the author, when the query names one).
    // Within one room seq order is time order, and its primary key reads it backwards.
    let order = if room_id.is_some() {
        " ORDER BY m.seq DESC"
    } else {
        " ORDER BY m.sent_at DESC, m.room_id DESC, m.seq DESC"
    };
    // The index that reads the window in that order; MariaDB, seeing few rooms, would
    // rather start from `rooms` and sort every message of each.
    let index = match (room_id, &query.from) {
        (Some(_), _) => "PRIMARY",
        (None, Some(_)) => "messages_author_time",
        (None, None) => "messages_time",
    };
    let mut floor = sqlx::QueryBuilder::new(format!(
        "SELECT sent_at, room_id, seq FROM messages m FORCE INDEX ({index}) WHERE 1 = 1"
    ));
    narrow(&mut floor, query, room_id, before);
    floor
        .push(order)
        .push(" LIMIT 1 OFFSET ")
        .push_bind(window - 1);
    let floor: Option<(i64, i64, i64)> = floor.build_query_as().fetch_optional(pool).await?;

    // The window newest first, stopping at the page's last match.
    let mut sql = sqlx::QueryBuilder::new(format!(
        "SELECT STRAIGHT_JOIN m.room_id, r.name AS room, r.kind, m.seq, u.username AS author, \
                m.sent_at, m.sent_at AS at, m.body \
         FROM messages m FORCE INDEX ({index}) JOIN rooms r ON r.id = m.room_id \
         JOIN users u ON u.id = m.author_id WHERE m.deleted_at IS NULL"
    ));
    narrow(&mut sql, query, room_id, before);
    if let (Some((_, _, seq)), Some(_)) = (floor, room_id) {
        sql.push(" AND m.seq >= ").push_bind(seq);
    } else if let Some((at, room, seq)) = floor {
        sql.push(" AND (m.sent_at > ")
            .push_bind(at)
            .push(" OR (m.sent_at = ")
            .push_bind(at)
            .push(" AND (m.room_id > ")
            .push_bind(room)
            .push(" OR (m.room_id = ")
            .push_bind(room)
            .push(" AND m.seq >= ")
            .push_bind(seq)
            .push("))))");
    }
    sql.push(
        " AND (r.kind = 'public' OR EXISTS \
         (SELECT 1 FROM room_members rm WHERE rm.room_id = m.room_id AND rm.user_id = ",
    )
    .push_bind(user_id)
    .push("))");
    for term in terms {
        // Terms are letters and digits only (`Query::parse`): nothing here is pattern syntax.
        sql.push(" AND m.body REGEXP ")
            .push_bind(format!(r"\b{term}"));
    }
    sql.push(order).push(" LIMIT ").push_bind(limit);
    sql.build_query_as().fetch_all(pool).await
}

/// The conditions every MySQL window query shares: the room, the author, the cursor.
fn narrow<'q>(
    sql: &mut sqlx::QueryBuilder<'q, sqlx::MySql>,
    query: &'q Query,
    room_id: Option<i64>,
    before: Option<PageEnd>,
) {
    if let Some(room_id) = room_id {
        sql.push(" AND m.room_id = ").push_bind(room_id);
    }
    if let Some(from) = &query.from {
        sql.push(" AND m.author_id = (SELECT id FROM users WHERE username = ")
            .push_bind(from.as_str())
            .push(")");
    }
    if let Some(c) = before {
        sql.push(" AND (m.sent_at < ")
            .push_bind(c.at)
            .push(" OR (m.sent_at = ")
            .push_bind(c.at)
            .push(" AND (m.room_id < ")
            .push_bind(c.room_id)
            .push(" OR (m.room_id = ")
            .push_bind(c.room_id)
            .push(" AND m.seq < ")
            .push_bind(c.seq)
            .push("))))");
    }
}

/// The messages that mention `user_id` in rooms it may still read, newest first.
pub async fn mentions_of(
    db: &Db,
    user_id: i64,
    before: Option<PageEnd>,
    limit: u32,
) -> Result<Vec<Row>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT mn.room_id, r.name AS room, r.kind, mn.seq, u.username AS author, m.sent_at, \
                mn.at, m.body \
         FROM mentions mn JOIN messages m ON m.room_id = mn.room_id AND m.seq = mn.seq \
         JOIN rooms r ON r.id = mn.room_id JOIN users u ON u.id = m.author_id \
         WHERE mn.user_id = ? AND m.deleted_at IS NULL \
           AND (r.kind = 'public' OR EXISTS \
                (SELECT 1 FROM room_members rm WHERE rm.room_id = mn.room_id AND rm.user_id = mn.user_id))",
    );
    if before.is_some() {
        sql.push_str(
            " AND (mn.at < ? OR (mn.at = ? AND (mn.room_id < ? OR (mn.room_id = ? AND mn.seq < ?))))",
        );
    }
    sql.push_str(" ORDER BY mn.at DESC, mn.room_id DESC, mn.seq DESC LIMIT ?");
    with_pool!(db, pool => {
        let mut q = sqlx::query_as::<_, Row>(&sql).bind(user_id);
        if let Some(c) = before {
            q = q.bind(c.at).bind(c.at).bind(c.room_id).bind(c.room_id).bind(c.seq);
        }
        q.bind(limit).fetch_all(pool).await
    })
}

impl Row {
    pub fn cursor(&self) -> PageEnd {
        PageEnd {
            at: self.at,
            room_id: self.room_id,
            seq: self.seq,
        }
    }

    /// The result as shown: the body around what `highlight` marks in it.
    pub fn found(self, highlight: impl Fn(&str) -> Vec<(usize, usize)>) -> Found {
        let body = self.body.unwrap_or_default();
        let marks = highlight(&body);
        let (snippet, marks) = snippet(&body, &marks);
        Found {
            room_label: match RoomKind::parse(&self.kind) {
                RoomKind::Dm => "Direct message".to_string(),
                _ => format!("#{}", self.room),
            },
            room: self.room,
            seq: self.seq,
            author: self.author,
            sent_at: rfc3339_ms(self.sent_at),
            snippet,
            marks,
        }
    }
}

/// Character ranges in `body` of every word starting with one of `terms`, in order.
pub fn term_marks(body: &str, terms: &[String]) -> Vec<(usize, usize)> {
    let chars: Vec<char> = body
        .chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect();
    let terms: Vec<Vec<char>> = terms.iter().map(|t| t.chars().collect()).collect();
    let mut marks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let word_start = chars[i].is_alphanumeric() && (i == 0 || !chars[i - 1].is_alphanumeric());
        let hit = word_start
            .then(|| {
                terms
                    .iter()
                    .filter(|t| !t.is_empty() && chars[i..].starts_with(t))
                    .map(Vec::len)
                    .max()
            })
            .flatten();
        match hit {
            Some(len) => {
                marks.push((i, i + len));
                i += len;
            }
            None => i += 1,
        }
    }
    marks
}

/// Character ranges of the `@name` mentions of `user` (and of `@room`) in `body`.
pub fn mention_marks(body: &str, user: &str) -> Vec<(usize, usize)> {
    let (_, spans) = mentions::find(body);
    spans
        .into_iter()
        .filter(|(_, name)| name == user || name == mentions::ROOM)
        .map(|(range, _)| {
            let start = body[..range.start].chars().count();
            (start, start + body[range].chars().count())
        })
        .collect()
}

/// The part of `body` around its first mark (all of it when short), and the marks that
/// fall in it, moved to its character positions.
pub fn snippet(body: &str, marks: &[(usize, usize)]) -> (String, Vec<(usize, usize)>) {
    let chars: Vec<char> = body.chars().collect();
    let first = marks.first().map_or(0, |m| m.0);
    let start = first.saturating_sub(CONTEXT);
    let end = (first + 2 * CONTEXT)
        .max(start + 2 * CONTEXT)
        .min(chars.len());
    let mut text = String::new();
    let mut offset = 0;
    if start > 0 {
        text.push('…');
        offset = 1;
    }
    text.extend(
        chars[start..end]
            .iter()
            .map(|&c| if c == '\n' { ' ' } else { c }),
    );
    if end < chars.len() {
        text.push('…');
    }
    let shifted = marks
        .iter()
        .filter(|(s, e)| *s >= start && *e <= end)
        .map(|(s, e)| (s - start + offset, e - start + offset))
        .collect();
    (text, shifted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_take_filters_and_words() {
        let q = Query::parse("in:#Ops from:@Bob deploy-failed  ÉTÉ");
        assert_eq!(q.room.as_deref(), Some("ops"));
        assert_eq!(q.from.as_deref(), Some("bob"));
        assert_eq!(q.terms, ["deploy", "failed", "été"]);
        assert_eq!(Query::parse("  ").terms, Vec::<String>::new());
        // Nothing of the query language reaches the database's own syntax.
        let q = Query::parse(r#"+a* "b" -c (d) NEAR/2 e:f"#);
        assert!(q.terms.iter().all(|t| t.chars().all(char::is_alphanumeric)));
    }

    #[test]
    fn short_words_are_not_asked_of_mysql() {
        let q = Query::parse("go deploy the");
        assert_eq!(q.indexed_terms(Dialect::MySql), ["deploy"]);
        assert_eq!(q.indexed_terms(Dialect::Sqlite), ["go", "deploy", "the"]);
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = PageEnd {
            at: 1764107740123,
            room_id: 3,
            seq: 58,
        };
        assert_eq!(PageEnd::decode(&c.encode()), Some(c));
        assert_eq!(PageEnd::decode("1.2"), None);
        assert_eq!(PageEnd::decode("1.2.3.4"), None);
        assert_eq!(PageEnd::decode("a.b.c"), None);
    }

    #[test]
    fn marks_cover_word_starts_only() {
        let terms = vec!["dep".to_string(), "ok".to_string()];
        assert_eq!(
            term_marks("Deploy is OK, redeploy: deps", &terms),
            [(0, 3), (10, 12), (24, 27)]
        );
        assert_eq!(term_marks("😀 ok", &terms), [(2, 4)]);
    }

    #[test]
    fn snippets_cut_around_the_first_match() {
        let body = format!("{}needle{}", "a ".repeat(200), " b".repeat(200));
        let marks = term_marks(&body, &["needle".to_string()]);
        let (text, marks) = snippet(&body, &marks);
        assert!(text.starts_with('…') && text.ends_with('…'));
        let (s, e) = marks[0];
        let found: String = text.chars().skip(s).take(e - s).collect();
        assert_eq!(found, "needle");
        let (short, _) = snippet("hi", &[]);
        assert_eq!(short, "hi");
    }

    #[test]
    fn mention_marks_find_the_person_and_room() {
        assert_eq!(
            mention_marks("é @bob and @carol, @room", "bob"),
            [(2, 6), (19, 24)]
        );
    }
}
