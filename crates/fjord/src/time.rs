//! Parsing the times operators give `fjord groups reset`: ISO 8601 instants
//! (`2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.250+01:00`) and durations (`PT1H`, `P1DT30M`).

use anyhow::{Context, Result, bail};

/// Milliseconds since the Unix epoch of an ISO 8601 date-time with a zone (`Z` or `±HH:MM`).
pub fn parse_instant(s: &str) -> Result<i64> {
    let bad = || format!("'{s}' is not an ISO 8601 date-time like 2026-11-23T10:00:00Z");
    let (date, rest) = s.split_once('T').with_context(bad)?;
    let mut d = date.split('-');
    let (year, month, day) =
        (next_num(&mut d).with_context(bad)?, next_num(&mut d).with_context(bad)?, next_num(&mut d).with_context(bad)?);
    let (time, offset_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else if let Some(at) = rest.rfind(['+', '-']) {
        let (t, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone[1..].split_once(':').with_context(bad)?;
        (t, sign * (h.parse::<i64>().with_context(bad)? * 3_600_000 + m.parse::<i64>().with_context(bad)? * 60_000))
    } else {
        bail!("{}: a zone (Z or +HH:MM) is required", bad());
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':');
    let (hour, minute, second) =
        (next_num(&mut t).with_context(bad)?, next_num(&mut t).with_context(bad)?, next_num(&mut t).unwrap_or(0));
    let millis: i64 = format!("{frac:0<3}")[..3].parse().with_context(bad)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        bail!("{}", bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millis - offset_ms)
}

/// Milliseconds of an ISO 8601 duration of days, hours, minutes and seconds (`P1DT2H30M`).
pub fn parse_duration(s: &str) -> Result<i64> {
    let bad = || format!("'{s}' is not an ISO 8601 duration like PT1H or P1DT30M");
    let body = s.strip_prefix('P').with_context(bad)?;
    let (days, time) = body.split_once('T').unwrap_or((body, ""));
    let mut total = 0i64;
    if !days.is_empty() {
        total += days.strip_suffix('D').with_context(bad)?.parse::<i64>().with_context(bad)? * 86_400_000;
    }
    let mut number = String::new();
    for c in time.chars() {
        let unit = match c {
            '0'..='9' | '.' => {
                number.push(c);
                continue;
            }
            'H' => 3_600_000.0,
            'M' => 60_000.0,
            'S' => 1_000.0,
            _ => bail!("{}", bad()),
        };
        total += (number.parse::<f64>().with_context(bad)? * unit) as i64;
        number.clear();
    }
    if !number.is_empty() || (days.is_empty() && time.is_empty()) {
        bail!("{}", bad());
    }
    Ok(total)
}

fn next_num<'a>(parts: &mut impl Iterator<Item = &'a str>) -> Option<i64> {
    parts.next()?.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_instant("2026-11-23T10:00:00Z").unwrap(), 1_795_428_000_000);
        assert_eq!(parse_instant("2026-11-23T11:00:00.250+01:00").unwrap(), 1_795_428_000_250);
        assert_eq!(parse_instant("2000-02-29T23:59:59-00:30").unwrap(), 951_870_599_000);
        for bad in ["2026-11-23", "2026-11-23T10:00:00", "2026-13-01T00:00:00Z", "yesterday"] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H").unwrap(), 3_600_000);
        assert_eq!(parse_duration("P1DT30M").unwrap(), 86_400_000 + 1_800_000);
        assert_eq!(parse_duration("PT1.5S").unwrap(), 1_500);
        assert_eq!(parse_duration("P2D").unwrap(), 172_800_000);
        for bad in ["1H", "P", "PT", "PT5X", "PT5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
