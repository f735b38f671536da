//! The checks a change passes before it goes near the database: the same rules for a
//! WebSocket frame and a form post.

use app::{
    accounts::rules::normalize_username,
    attachments::{is_file_id, MAX_FILES_PER_MESSAGE},
    protocol::{check_body, normalize_emoji, Change},
    rooms::rules::check_topic,
};

use crate::chat::refusal::Refusal;

/// Returns the change in its stored form (trimmed body, canonical emoji), or why not.
pub fn check(change: Change) -> Result<Change, Refusal> {
    let seq = |target: i64| {
        if target > 0 {
            Ok(target)
        } else {
            Err(Refusal::invalid(
                "A message is named by its seq, 1 or more.",
            ))
        }
    };
    Ok(match change {
        Change::Post {
            body,
            reply_to,
            files,
        } => {
            let files = check_files(files)?;
            // A file may go without a caption.
            let body = if !files.is_empty() && body.trim().is_empty() {
                String::new()
            } else {
                check_body(&body).map_err(Refusal::invalid)?.to_string()
            };
            Change::Post {
                body,
                reply_to: reply_to.map(seq).transpose()?,
                files,
            }
        }
        Change::Edit { target, body } => Change::Edit {
            target: seq(target)?,
            body: check_body(&body).map_err(Refusal::invalid)?.to_string(),
        },
        Change::Delete { target } => Change::Delete {
            target: seq(target)?,
        },
        Change::React { target, emoji, on } => Change::React {
            target: seq(target)?,
            emoji: normalize_emoji(&emoji).map_err(Refusal::invalid)?,
            on,
        },
        Change::Topic { topic } => Change::Topic {
            topic: check_topic(&topic).map_err(Refusal::invalid)?,
        },
        Change::Invite { user } => Change::Invite {
            user: account(&user)?,
        },
        Change::Remove { user } => Change::Remove {
            user: account(&user)?,
        },
        Change::SetRole { user, role } => Change::SetRole {
            user: account(&user)?,
            role,
        },
        change @ (Change::Join | Change::Leave | Change::Archive) => change,
    })
}

/// Upload ids: well formed, each once, at most [`MAX_FILES_PER_MESSAGE`].
fn check_files(files: Vec<String>) -> Result<Vec<String>, Refusal> {
    if files.len() > MAX_FILES_PER_MESSAGE {
        return Err(Refusal::invalid(format!(
            "A message carries at most {MAX_FILES_PER_MESSAGE} files."
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in &files {
        if !is_file_id(id) || !seen.insert(id.as_str()) {
            return Err(Refusal::invalid(
                "The files are named by their upload ids, each once.",
            ));
        }
    }
    Ok(files)
}

/// A username as an account is stored under; one the rules refuse names no account.
fn account(name: &str) -> Result<String, Refusal> {
    let name = name.trim().trim_start_matches('@');
    normalize_username(name)
        .map_err(|_| Refusal::invalid(format!("There is no account named {name:?}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_come_back_in_their_stored_form() {
        assert_eq!(
            check(Change::Post {
                body: "hi  \n".into(),
                reply_to: Some(3),
                files: vec![],
            }),
            Ok(Change::Post {
                body: "hi".into(),
                reply_to: Some(3),
                files: vec![],
            })
        );
        let file = "0123456789abcdef0123456789abcdef".to_string();
        assert_eq!(
            check(Change::Post {
                body: "  ".into(),
                reply_to: None,
                files: vec![file.clone()],
            }),
            Ok(Change::Post {
                body: String::new(),
                reply_to: None,
                files: vec![file],
            }),
            "a file needs no caption"
        );
        assert_eq!(
            check(Change::React {
                target: 1,
                emoji: "\u{2764}".into(),
                on: true
            }),
            Ok(Change::React {
                target: 1,
                emoji: "\u{2764}\u{fe0f}".into(),
                on: true
            })
        );
    }

    #[test]
    fn bad_changes_are_refused() {
        for change in [
            Change::Post {
                body: " ".into(),
                reply_to: None,
                files: vec![],
            },
            Change::Post {
                body: "x".into(),
                reply_to: Some(0),
                files: vec![],
            },
            Change::Post {
                body: "x".into(),
                reply_to: None,
                files: vec!["not-an-id".into()],
            },
            Change::Post {
                body: "x".into(),
                reply_to: None,
                files: vec!["0123456789abcdef0123456789abcdef".into(); 2],
            },
            Change::Post {
                body: "x".into(),
                reply_to: None,
                files: (0..11)
                    .map(|i| format!("0123456789abcdef0123456789abcd{i:02}"))
                    .collect(),
            },
            Change::Edit {
                target: 1,
                body: "x".repeat(4001),
            },
            Change::Edit {
                target: -1,
                body: "x".into(),
            },
            Change::Delete { target: 0 },
            Change::React {
                target: 1,
                emoji: "thumbs up".into(),
                on: true,
            },
            Change::Topic {
                topic: "t".repeat(201),
            },
        ] {
            let refusal = check(change.clone()).unwrap_err();
            assert_eq!(
                refusal.code,
                app::protocol::ErrorCode::InvalidMessage,
                "{change:?}"
            );
        }
    }
}
