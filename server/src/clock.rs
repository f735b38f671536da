//! The server's clock: milliseconds since the Unix epoch, the time representation of
//! the schema, and the same instants as the wire spells them (RFC 3339 in UTC with
//! milliseconds). A leaf, so that accounts and the chat both read time from here.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis() as i64)
        .unwrap_or_default()
}

/// `1764107740123` → `2025-11-25T21:55:40.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    // Rfc3339 prints as many fraction digits as needed; pad to exactly three.
    let text = at.format(&Rfc3339).unwrap_or_default();
    let (seconds, _) = text.split_once(['.', 'Z']).unwrap_or((&text, ""));
    format!("{seconds}.{:03}Z", ms.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_three_fraction_digits() {
        assert_eq!(rfc3339_ms(1_764_107_740_123), "2025-11-25T21:55:40.123Z");
        assert_eq!(rfc3339_ms(1_764_107_740_000), "2025-11-25T21:55:40.000Z");
        assert_eq!(rfc3339_ms(1_764_107_740_007), "2025-11-25T21:55:40.007Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    }
}
