//! Go's duration syntax (`time.ParseDuration`), used by HEALTHCHECK options:
//! `300ms`, `1.5h`, `2h45m`, `-1s`, `0`. Units: `ns`, `us` (`µs`, `μs`),
//! `ms`, `s`, `m`, `h`; every number needs a unit except a lone `0`.
//! Hand-written because no crate parses exactly Go's grammar (humantime
//! accepts spaces, days and more, and rejects fractions like `1.5h`).

/// Nanoseconds, signed like Go's `time.Duration`.
pub type Nanos = i64;

/// Parses a Go duration into nanoseconds.
pub fn parse_go_duration(text: &str) -> Result<Nanos, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration {text:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        // Fractions: digits beyond nanosecond precision are dropped, as in Go.
        let mut frac_scale = scale;
        for d in frac_part.bytes() {
            frac_scale /= 10;
            if frac_scale == 0 {
                break;
            }
            value += u128::from(d - b'0') * frac_scale;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(negative) {
            return Err(invalid());
        }
        rest = after;
    }
    if negative {
        Ok((-(total as i128)) as i64)
    } else {
        Ok(total as i64)
    }
}

/// Renders nanoseconds like Go's `Duration.String` for common values
/// (`1m30s`, `500ms`, `0s`); used in messages.
pub fn format_go_duration(nanos: Nanos) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (v, unit) = if n < 1_000 {
            (n as f64, "ns")
        } else if n < 1_000_000 {
            (n as f64 / 1e3, "µs")
        } else {
            (n as f64 / 1e6, "ms")
        };
        return format!("{sign}{v}{unit}");
    }
    let h = n / 3_600_000_000_000;
    let m = (n / 60_000_000_000) % 60;
    let s = (n % 60_000_000_000) as f64 / 1e9;
    let mut out = sign.to_string();
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn duration_parses_single_units() {
        assert_eq!(parse_go_duration("30s"), Ok(30 * S));
        assert_eq!(parse_go_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_go_duration("2h"), Ok(7200 * S));
        assert_eq!(parse_go_duration("7ns"), Ok(7));
        assert_eq!(parse_go_duration("3us"), Ok(3_000));
        assert_eq!(parse_go_duration("3µs"), Ok(3_000));
        assert_eq!(parse_go_duration("3μs"), Ok(3_000));
    }

    #[test]
    fn duration_parses_compound_values() {
        assert_eq!(parse_go_duration("1m30s"), Ok(90 * S));
        assert_eq!(parse_go_duration("2h45m"), Ok((2 * 3600 + 45 * 60) * S));
    }

    #[test]
    fn duration_parses_fractions() {
        assert_eq!(parse_go_duration("1.5h"), Ok(5400 * S));
        assert_eq!(parse_go_duration(".5s"), Ok(S / 2));
        assert_eq!(parse_go_duration("1.s"), Ok(S));
        assert_eq!(parse_go_duration("1.0000000001s"), Ok(S));
    }

    #[test]
    fn duration_accepts_signs_and_lone_zero() {
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-0"), Ok(0));
        assert_eq!(parse_go_duration("-1s"), Ok(-S));
        assert_eq!(parse_go_duration("+1s"), Ok(S));
    }

    #[test]
    fn duration_rejects_missing_or_unknown_units() {
        assert!(
            parse_go_duration("30")
                .unwrap_err()
                .contains("missing unit")
        );
        assert!(
            parse_go_duration("1d")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("s").is_err());
        assert!(parse_go_duration(".s").is_err());
        assert!(parse_go_duration("1 s").is_err());
        assert!(parse_go_duration("$T").is_err());
    }

    #[test]
    fn duration_rejects_overflow() {
        assert!(parse_go_duration("9223372036854775807ns").is_ok());
        assert!(parse_go_duration("9223372036854775808ns").is_err());
        assert!(parse_go_duration("-9223372036854775808ns").is_ok());
        assert!(parse_go_duration("100000000h").is_err());
    }

    #[test]
    fn duration_formats_like_go() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(1_000_000), "1ms");
        assert_eq!(format_go_duration(90 * S), "1m30s");
        assert_eq!(format_go_duration(3600 * S), "1h0m0s");
    }
}
