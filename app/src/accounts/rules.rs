//! The account rules, shared so the browser can warn before the server refuses.

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
/// Argon2 takes any length, but hashing megabytes on request is a cheap denial of service.
pub const PASSWORD_MAX: usize = 1024;

/// Checks a username and returns it in its stored form: trimmed and lower-case, so
/// that `Alice` and `alice` are one account.
pub fn normalize_username(input: &str) -> Result<String, String> {
    let name = input.trim().to_lowercase();
    let length = name.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&length) {
        return Err(format!(
            "A username is {USERNAME_MIN} to {USERNAME_MAX} characters long."
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "A username may only use letters a-z, digits and _ . - (not {bad:?})."
        ));
    }
    if name == crate::mentions::ROOM {
        return Err("That name is reserved (@room mentions everyone).".into());
    }
    Ok(name)
}

pub fn check_password(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        return Err(format!(
            "A password is at least {PASSWORD_MIN} characters long."
        ));
    }
    if length > PASSWORD_MAX {
        return Err(format!(
            "A password is at most {PASSWORD_MAX} characters long."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_lower_cased() {
        assert_eq!(normalize_username("  Alice ").unwrap(), "alice");
        assert_eq!(normalize_username("bob_2.x-y").unwrap(), "bob_2.x-y");
    }

    #[test]
    fn username_length_is_bounded_in_characters() {
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username("abc").is_ok());
        assert!(normalize_username(&"a".repeat(32)).is_ok());
        assert!(normalize_username(&"a".repeat(33)).is_err());
        assert!(normalize_username("Room").is_err(), "reserved for @room");
        assert!(normalize_username("").is_err());
    }

    #[test]
    fn usernames_refuse_anything_outside_the_alphabet() {
        for bad in [
            "al ice",
            "al@ice",
            "álice",
            "alice!",
            "ali\u{0}ce",
            "😀😀😀",
            "a/b/c",
        ] {
            let err = normalize_username(bad).unwrap_err();
            assert!(
                err.contains("a-z") || err.contains("characters"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn passwords_need_eight_characters_not_bytes() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        // Seven characters but more than eight bytes.
        assert!(check_password("ééééééé").is_err());
        assert!(check_password(&"x".repeat(PASSWORD_MAX)).is_ok());
        assert!(check_password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
    }
}
