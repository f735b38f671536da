//! Room name and topic rules, shared by the forms and the server.

pub const NAME_MAX: usize = 32;
pub const TOPIC_MAX: usize = 200;
/// Created on first start; everyone can talk there.
pub const DEFAULT_ROOM: &str = "general";

/// Checks a room name and returns its stored form (trimmed, lower-case).
pub fn normalize_room_name(input: &str) -> Result<String, String> {
    let name = input.trim().to_lowercase();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(format!("A room name is 1 to {NAME_MAX} characters long."));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("A room name may only use letters a-z, digits and -.".into());
    }
    Ok(name)
}

pub fn check_topic(topic: &str) -> Result<String, String> {
    let topic = topic.trim();
    if topic.chars().count() > TOPIC_MAX {
        return Err(format!("A topic is at most {TOPIC_MAX} characters long."));
    }
    Ok(topic.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert_eq!(normalize_room_name(" Dev-Ops ").unwrap(), "dev-ops");
        assert!(normalize_room_name("a").is_ok());
        assert!(normalize_room_name(&"a".repeat(32)).is_ok());
        assert!(normalize_room_name(&"a".repeat(33)).is_err());
        assert!(normalize_room_name("").is_err());
        assert!(normalize_room_name("no_underscores").is_err());
        assert!(normalize_room_name("no space").is_err());
        assert!(normalize_room_name("café").is_err());
    }

    #[test]
    fn topics() {
        assert_eq!(check_topic("  all things ops  ").unwrap(), "all things ops");
        assert!(check_topic(&"é".repeat(200)).is_ok());
        assert!(check_topic(&"é".repeat(201)).is_err());
    }
}
