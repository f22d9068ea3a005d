//! Durations as written in the file: a whole number and one unit, `"60s"`, `"10m"`, `"12h"`,
//! `"30d"`. Deliberately tiny: no fractions, no compound forms, nothing to misread.
use std::time::Duration;

/// Ten years: far beyond any lifetime that makes sense, far below any overflow.
const MAX_SECS: u64 = 3650 * 86_400;

const FORMAT: &str =
    "must be a whole number followed by s, m, h or d, like \"60s\", \"10m\", \"12h\" or \"30d\"";

/// Parse a positive duration. Zero is rejected: no lifetime or timeout here means "never".
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let d = parse_allowing_zero(text)?;
    if d.is_zero() {
        return Err("must be longer than zero".to_string());
    }
    Ok(d)
}

/// Parse a duration where zero is meaningful ("no grace period").
pub(crate) fn parse_allowing_zero(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(FORMAT.to_string()),
    };
    if digits.is_empty() {
        return Err(FORMAT.to_string());
    }
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|s| *s <= MAX_SECS)
        .ok_or_else(|| "must be at most 3650d".to_string())?;
    Ok(Duration::from_secs(secs))
}

/// An exact rendering for messages, in the largest unit that gives a number of at least 2:
/// 60s -> "60s", 600s -> "10m", 30 days -> "30d".
pub fn render(d: Duration) -> String {
    let s = d.as_secs();
    [(86_400, "d"), (3600, "h"), (60, "m")]
        .into_iter()
        .find(|(unit, _)| s.is_multiple_of(*unit) && s / unit >= 2)
        .map_or_else(
            || format!("{s}s"),
            |(unit, name)| format!("{}{name}", s / unit),
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse("30d").unwrap(), Duration::from_secs(2_592_000));
        assert_eq!(parse(" 5m ").unwrap(), Duration::from_secs(300));
    }

    #[test]
    fn rejects_zero_negative_garbage_and_huge() {
        assert_eq!(parse("0s").unwrap_err(), "must be longer than zero");
        for bad in [
            "-5m",
            "5",
            "m",
            "",
            "1.5h",
            "10 m",
            "10M",
            "1h30m",
            "5ms",
            "ten minutes",
        ] {
            assert!(
                parse(bad)
                    .unwrap_err()
                    .starts_with("must be a whole number"),
                "{bad}"
            );
        }
        assert_eq!(parse("3651d").unwrap_err(), "must be at most 3650d");
        assert_eq!(
            parse("99999999999999999999s").unwrap_err(),
            "must be at most 3650d"
        );
    }

    #[test]
    fn renders_shortest() {
        assert_eq!(render(Duration::from_secs(90)), "90s");
        assert_eq!(render(Duration::from_secs(60)), "60s");
        assert_eq!(render(Duration::from_secs(86_400)), "24h");
        assert_eq!(render(Duration::from_secs(600)), "10m");
        assert_eq!(render(Duration::from_secs(86_400 * 30)), "30d");
    }
}
