//! Latency histograms and the shared shape of every scenario's output.

use hdrhistogram::Histogram;

/// Microsecond latencies from 1 µs to 100 s at three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds")
}

/// A quantile in milliseconds.
pub fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

/// Prints a Markdown table: a header row and data rows.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    println!("| {} |", header.join(" | "));
    println!("|{}", " --- |".repeat(header.len()));
    for row in rows {
        println!("| {} |", row.join(" | "));
    }
}

/// An optional figure, or "n/a".
pub fn or_na(value: Option<String>) -> String {
    value.unwrap_or_else(|| "n/a".to_string())
}
