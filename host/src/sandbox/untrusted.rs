//! Limits on what a connector sends, and making its text safe to show
//! (SPEC § Security: nothing a connector sends is trusted — not its sizes,
//! names or text). Each limit is a truncation (text), a dropped-and-counted
//! item (logs, metric names) or a refusal (state, cursors); docs/SPEC.md and
//! README list them.

use rapidbyte_protocol::ConnectorError;

/// A guest log message, an error message or a label is cut at this many bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// An error code, metric name, label key or state key is at most this long.
pub const MAX_NAME_BYTES: usize = 256;
/// Fields per log event and labels per metric.
pub const MAX_LABELS: usize = 32;
/// Distinct metric names one instance may report; more are dropped and counted.
pub const MAX_METRIC_NAMES: usize = 256;
/// A state value (and a checkpoint's cursor, as JSON) is at most this large.
pub const MAX_STATE_VALUE_BYTES: usize = 1 << 20;
/// `retry-after-ms` is capped here (one hour).
pub const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

/// Text from a connector made safe for a terminal and a log file: control
/// characters (ANSI escape sequences included) are shown escaped, and the
/// text is cut at `max` bytes with a note of how much was left out.
/// A secret the connector knows (its password, echoed) is masked too
/// (`telemetry::secret::scrub`), before the text is stored or shown.
pub fn sanitize(text: &str, max: usize) -> String {
    let text = crate::telemetry::secret::scrub(text);
    let mut out = String::with_capacity(text.len().min(max) + 16);
    for (i, c) in text.char_indices() {
        if out.len() >= max {
            out.push_str(&format!("… ({} more bytes)", text.len() - i));
            break;
        }
        push_escaped(&mut out, c);
    }
    out
}

/// `text` with its control characters escaped as [`sanitize`] shows them.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    text.chars().for_each(|c| push_escaped(&mut out, c));
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        // Tabs and newlines are text; everything else below 0x20, DEL and
        // the C1 controls (0x80–0x9f, which include CSI) can drive a terminal.
        '\n' | '\t' => out.push(c),
        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// A connector's error record with its text made safe and its numbers bounded.
pub fn error(mut e: ConnectorError) -> ConnectorError {
    e.code = sanitize(&e.code, MAX_NAME_BYTES);
    e.message = sanitize(&e.message, MAX_TEXT_BYTES);
    e.details = e.details.map(|d| sanitize(&d, MAX_TEXT_BYTES));
    e.retry_after_ms = e.retry_after_ms.map(|ms| ms.min(MAX_RETRY_AFTER_MS));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_never_reach_the_terminal() {
        let s = sanitize("ok\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m done\nnext\tcol", 1000);
        assert!(!s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{s:?}");
        assert!(s.contains("\\u{1b}[2J") && s.contains("\\u{9b}") && s.contains("done\nnext\tcol"), "{s}");
    }

    #[test]
    fn long_text_is_cut_with_a_note() {
        let s = sanitize(&"é".repeat(10_000), 100);
        assert!(s.len() < 140 && s.ends_with("more bytes)"), "{s}");
    }

    #[test]
    fn error_records_are_bounded() {
        let e = error(
            ConnectorError::rate_limit("SLOW\u{1b}[31m", "x".repeat(1 << 20)).with_retry_after_ms(u64::MAX),
        );
        assert_eq!(e.retry_after_ms, Some(MAX_RETRY_AFTER_MS));
        assert!(e.message.len() < MAX_TEXT_BYTES + 64);
        assert!(!e.code.contains('\u{1b}'));
    }
}
