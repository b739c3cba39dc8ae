//! Dates of allowlist entries, without a date library. Writing RFC 3339 stamps is
//! `zoll_stdx::time`'s; this lenient reader stays here, where its leniency is wanted.

/// `YYYY-MM-DD[THH:MM:SS[Z]]` to seconds since the epoch (for allowlist expiry dates).
pub fn parse_date(s: &str) -> Option<u64> {
    let date = s.get(0..10)?;
    let mut it = date.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut secs = days * 86_400;
    if let Some(t) = s.get(11..19) {
        let mut p = t.split(':');
        let h: i64 = p.next()?.parse().ok()?;
        let mi: i64 = p.next()?.parse().ok()?;
        let se: i64 = p.next()?.parse().ok()?;
        secs += h * 3600 + mi * 60 + se;
    }
    u64::try_from(secs).ok()
}
