//! Who a message mentions: `@name` for one person, `@room` for every member. The
//! server stores what this finds (mention counts, the Mentions view) and the browser
//! uses the same function to highlight mentions and to decide what notifies, so the
//! two cannot disagree. Text in code (between backticks) mentions nobody.

use std::collections::BTreeSet;

/// The word that mentions every member of a room; no account can be called this.
pub const ROOM: &str = "room";

/// What a body mentions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Lower-case usernames, as written (whether such accounts exist is not checked).
    pub users: BTreeSet<String>,
    /// `@room` was written.
    pub room: bool,
}

impl Mentions {
    pub fn names(&self, user: &str) -> bool {
        self.users.contains(&user.to_ascii_lowercase())
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// The mentions in `body`, and where each one is (byte ranges of `@name`), in order.
pub fn find(body: &str) -> (Mentions, Vec<(std::ops::Range<usize>, String)>) {
    let mut found = Mentions::default();
    let mut spans = Vec::new();
    let mut in_code = false;
    let mut previous: Option<char> = None;
    let mut chars = body.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '`' {
            in_code = !in_code;
        } else if c == '@' && !in_code && !previous.is_some_and(name_char) {
            let start = at + 1;
            let mut end = start;
            while let Some(&(i, next)) = chars.peek() {
                if !name_char(next) {
                    break;
                }
                end = i + next.len_utf8();
                chars.next();
            }
            // A sentence's full stop or a dash after a name is not part of it.
            let name = body[start..end].trim_end_matches(['.', '-']);
            if (3..=32).contains(&name.len()) || name.eq_ignore_ascii_case(ROOM) {
                let name = name.to_ascii_lowercase();
                if name == ROOM {
                    found.room = true;
                } else {
                    found.users.insert(name.clone());
                }
                spans.push((at..start + name.len(), name));
            }
            previous = body[..end].chars().next_back();
            continue;
        }
        previous = Some(c);
    }
    (found, spans)
}

/// What `body` mentions.
pub fn parse(body: &str) -> Mentions {
    find(body).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_room_are_found() {
        let m = parse("hey @Alice and @bob.smith, see @room.");
        assert_eq!(
            m.users,
            ["alice", "bob.smith"]
                .map(String::from)
                .into_iter()
                .collect()
        );
        assert!(m.room);
        assert!(m.names("ALICE"));
    }

    #[test]
    fn emails_code_and_short_names_are_not_mentions() {
        let m = parse("mail bob@example.com, run `@carol` or @ab, @ alone");
        assert!(m.users.is_empty(), "{m:?}");
        assert!(!m.room);
    }

    #[test]
    fn spans_cover_the_written_mention() {
        let body = "hi @Dave!";
        let (_, spans) = find(body);
        assert_eq!(spans, vec![(3..8, "dave".to_string())]);
        assert_eq!(&body[spans[0].0.clone()], "@Dave");
        let (_, spans) = find("é@x @éa @bob-");
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].1, "bob");
    }
}
