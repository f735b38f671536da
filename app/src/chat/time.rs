//! Message times for people: local time in the browser, UTC while server-rendered.

/// `("2026-11-25", "21:55")` from `2026-11-25T21:55:40.123Z`, in UTC.
pub fn utc_day_and_time(sent_at: &str) -> (String, String) {
    let day = sent_at.get(..10).unwrap_or_default().to_string();
    let time = sent_at.get(11..16).unwrap_or_default().to_string();
    (day, time)
}

/// The day and time to show: the browser's local ones once the wasm runs.
pub fn day_and_time(sent_at: &str, local: bool) -> (String, String) {
    #[cfg(feature = "hydrate")]
    if local {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(sent_at));
        if !date.get_time().is_nan() {
            let day = format!(
                "{:04}-{:02}-{:02}",
                date.get_full_year(),
                date.get_month() + 1,
                date.get_date()
            );
            let time = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
            return (day, time);
        }
    }
    let _ = local;
    utc_day_and_time(sent_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_rfc3339() {
        assert_eq!(
            utc_day_and_time("2026-11-25T21:55:40.123Z"),
            ("2026-11-25".to_string(), "21:55".to_string())
        );
        assert_eq!(utc_day_and_time(""), (String::new(), String::new()));
    }
}
