//! When a failed request is tried again, and after how long: the official SDKs' rules,
//! exponential backoff with jitter, and the server's `retry-after-ms` / `Retry-After`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{ApiError, Error, ErrorKind, Timeout};
use crate::response_info::ResponseInfo;

/// Server-suggested retry delays above this are ignored in favour of backoff.
const MAX_SERVER_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The wait before retrying after failed attempt number `attempt` (0 for the first) when the
/// server suggested no delay: `initial` doubled per attempt, at most `max`, then up to 25% less
/// as `random` says, so clients that failed together do not retry together.
pub(super) fn backoff_delay(
    initial: Duration,
    max: Duration,
    attempt: u32,
    random: u64,
) -> Duration {
    let exp = initial.saturating_mul(1u32 << attempt.min(20)).min(max);
    let jitter = random % 1000;
    exp.mul_f64(1.0 - 0.25 * (jitter as f64 / 1000.0))
}

pub(super) enum RetryDecision {
    No,
    /// Retry after this delay (`None`: after the backoff delay).
    After(Option<Duration>),
}

/// The retry rules of the official SDKs: connection failures before a
/// response, 408, 409, 429 and 5xx; `x-should-retry` overrides; never for
/// `insufficient_quota`.
pub(super) fn retry_decision(e: &Error) -> RetryDecision {
    match e.kind() {
        ErrorKind::Connect => RetryDecision::After(None),
        ErrorKind::Timeout => match e.timeout() {
            Some(Timeout::Connect | Timeout::ResponseHeaders) => RetryDecision::After(None),
            _ => RetryDecision::No,
        },
        ErrorKind::Api => {
            let Some(api) = e.api() else {
                return RetryDecision::No;
            };
            if api.in_stream {
                return RetryDecision::No;
            }
            let retry = e.should_retry().unwrap_or_else(|| {
                let quota = api.code.as_deref() == Some("insufficient_quota")
                    || api.error_type.as_deref() == Some("insufficient_quota");
                match api.status {
                    429 => !quota,
                    408 | 409 => true,
                    s => s >= 500,
                }
            });
            if retry {
                RetryDecision::After(e.retry_after())
            } else {
                RetryDecision::No
            }
        }
        _ => RetryDecision::No,
    }
}

/// Whether an error that came as a stream's first event is retried like an
/// HTTP 429 or 5xx: a rate limit (except `insufficient_quota`), an overload
/// or a server error, by `type` or `code` (servers that send the HTTP
/// status as the code are understood too).
pub(super) fn first_event_retryable(api: &ApiError) -> bool {
    let fields = [api.error_type.as_deref(), api.code.as_deref()];
    if fields.contains(&Some("insufficient_quota")) {
        return false;
    }
    fields.into_iter().flatten().any(|f| {
        matches!(
            f,
            "rate_limit_exceeded"
                | "rate_limit_error"
                | "overloaded"
                | "overloaded_error"
                | "server_error"
                | "internal_server_error"
                | "service_unavailable"
                | "service_unavailable_error"
        ) || f
            .parse::<u16>()
            .is_ok_and(|code| code == 429 || (500..600).contains(&code))
    })
}

/// `retry-after-ms`, then `Retry-After` (seconds or an HTTP date), when
/// positive and at most a minute.
pub(super) fn server_retry_delay(info: &ResponseInfo) -> Option<Duration> {
    let valid = |d: Duration| (!d.is_zero() && d <= MAX_SERVER_RETRY_DELAY).then_some(d);
    let retry_after_ms = info
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .and_then(|ms| valid(Duration::from_secs_f64(ms.min(1e9) / 1000.0)));
    if retry_after_ms.is_some() {
        return retry_after_ms;
    }
    let value = info.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs > 0.0 {
            return valid(Duration::from_secs_f64(secs.min(1e9)));
        }
        return None;
    }
    let at = parse_http_date(value)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    valid(Duration::from_secs(at.checked_sub(now)?))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only HTTP
/// date format senders may generate (RFC 9110, 5.6.7), into Unix seconds.
fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let last_day = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    // A day past its month's end would otherwise count on into the next month.
    if parts.next()? != "GMT"
        || parts.next().is_some()
        || hms.next().is_some()
        || !(1..=last_day).contains(&day)
        || h > 23
        || m > 59
        || sec > 60
    {
        return None;
    }
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()? // dates before 1970 are in the past anyway
        .checked_mul(86_400)?
        .checked_add(h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("garbage"), None);
    }

    fn is_leap(year: u64) -> bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    fn days_in_month(year: u64, month: u64) -> u64 {
        match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// Seconds since 1970 by counting whole years and months, the slow way: an independent
    /// check of the day arithmetic in `parse_http_date`.
    fn seconds_by_counting(year: u64, month: u64, day: u64, h: u64, m: u64, s: u64) -> u64 {
        let days = (1970..year)
            .map(|y| if is_leap(y) { 366 } else { 365 })
            .sum::<u64>()
            + (1..month).map(|mo| days_in_month(year, mo)).sum::<u64>()
            + day
            - 1;
        days * 86_400 + h * 3600 + m * 60 + s
    }

    #[test]
    fn http_dates_in_every_month_agree_with_counting() {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        // Leap and common years, the century rules (2000 leap, 2100 not), each month's first
        // and last day, and the edges of the time of day (60 for a leap second).
        for year in [1970, 1999, 2000, 2024, 2025, 2100, 2400] {
            for (index, name) in MONTHS.iter().enumerate() {
                let month = index as u64 + 1;
                let last = days_in_month(year, month);
                for (day, h, m, s) in [(1, 0, 0, 0), (last, 23, 59, 60), (15, 12, 34, 56)] {
                    let text = format!("Xxx, {day:02} {name} {year} {h:02}:{m:02}:{s:02} GMT");
                    assert_eq!(
                        parse_http_date(&text),
                        Some(seconds_by_counting(year, month, day, h, m, s)),
                        "{text}"
                    );
                }
            }
        }
    }

    #[test]
    fn malformed_http_dates_are_refused() {
        for text in [
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Nov 1994 08:60:37 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, xx Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov yyyy 08:49:37 GMT",
            "Sun, 06 Nov 1994 hh:49:37 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sat, 31 Apr 2027 08:49:37 GMT",
            "Sat, 29 Feb 2027 08:49:37 GMT",
            "Mon, 29 Feb 2100 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT and more",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "",
        ] {
            assert_eq!(parse_http_date(text), None, "{text}");
        }
    }

    #[test]
    fn first_event_errors_retried_like_429_and_5xx() {
        let api = |kind: Option<&str>, code: Option<&str>| ApiError {
            status: 200,
            message: String::new(),
            error_type: kind.map(str::to_owned),
            code: code.map(str::to_owned),
            param: None,
            request_id: None,
            body: String::new(),
            in_stream: true,
        };
        for (kind, code) in [
            (Some("requests"), Some("rate_limit_exceeded")),
            (Some("rate_limit_error"), None),
            (Some("overloaded_error"), None),
            (Some("server_error"), None),
            (None, Some("503")),
            (None, Some("429")),
        ] {
            assert!(first_event_retryable(&api(kind, code)), "{kind:?} {code:?}");
        }
        for (kind, code) in [
            (Some("insufficient_quota"), Some("insufficient_quota")),
            (Some("rate_limit_error"), Some("insufficient_quota")),
            (
                Some("invalid_request_error"),
                Some("context_length_exceeded"),
            ),
            (None, Some("400")),
            (None, None),
        ] {
            assert!(
                !first_event_retryable(&api(kind, code)),
                "{kind:?} {code:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_less_at_most_a_quarter() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for (attempt, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            let full = Duration::from_millis(full);
            // No jitter at 0 (and at 1000: only `random % 1000` counts).
            assert_eq!(backoff_delay(initial, max, attempt, 0), full, "{attempt}");
            assert_eq!(
                backoff_delay(initial, max, attempt, 1000),
                full,
                "{attempt}"
            );
            // The most jitter: just over three quarters.
            let least = backoff_delay(initial, max, attempt, 999);
            assert!(
                least >= full.mul_f64(0.75) && least <= full.mul_f64(0.7503),
                "attempt {attempt}: {least:?} for {full:?}"
            );
            for random in [1, 250, 500, 998, 1_234_567, u64::MAX] {
                let delay = backoff_delay(initial, max, attempt, random);
                assert!(
                    delay <= full && delay >= full.mul_f64(0.75),
                    "attempt {attempt}, random {random}: {delay:?} for {full:?}"
                );
            }
        }
    }

    /// What `retry_decision` says, as `Some(server delay)` for a retry and `None` for none.
    fn retried(e: &Error) -> Option<Option<Duration>> {
        match retry_decision(e) {
            RetryDecision::No => None,
            RetryDecision::After(delay) => Some(delay),
        }
    }

    fn status(status: u16, code: Option<&str>, error_type: Option<&str>) -> Error {
        let fields = crate::chat::ApiErrorFields {
            code: code.map(str::to_owned),
            error_type: error_type.map(str::to_owned),
            ..Default::default()
        };
        Error::api_error(ApiError::new(
            status,
            None,
            "{}".into(),
            Some(fields),
            false,
        ))
    }

    #[test]
    fn retry_rules() {
        assert_eq!(retried(&Error::connect("refused")), Some(None));
        for (timeout, retry) in [
            (Timeout::Connect, true),
            (Timeout::ResponseHeaders, true),
            (Timeout::Request, false),
        ] {
            let e = Error::timeout_of(timeout);
            assert_eq!(retried(&e).is_some(), retry, "{timeout:?}");
        }
        for code in [429, 408, 409, 500, 503] {
            assert_eq!(retried(&status(code, None, None)), Some(None), "{code}");
        }
        for code in [400, 401, 404, 422] {
            assert_eq!(retried(&status(code, None, None)), None, "{code}");
        }
        // Out of quota is not retried, whichever of `code` and `type` says so.
        let quota = Some("insufficient_quota");
        assert_eq!(retried(&status(429, quota, None)), None);
        assert_eq!(retried(&status(429, None, quota)), None);
        // The server's delay is passed on; `x-should-retry` overrides the status.
        let delay = Some(Duration::from_millis(1500));
        let hinted = status(503, None, None).with_retry_hints(delay, None);
        assert_eq!(retried(&hinted), Some(delay));
        assert_eq!(
            retried(&status(400, None, None).with_retry_hints(None, Some(true))),
            Some(None)
        );
        assert_eq!(
            retried(&status(503, None, None).with_retry_hints(None, Some(false))),
            None
        );
        // An error inside a stream that already began is never retried.
        let in_stream = ApiError::new(500, None, "{}".into(), None, true);
        assert_eq!(retried(&Error::api_error(in_stream)), None);
        assert_eq!(retried(&Error::protocol("not HTTP")), None);
    }

    #[test]
    fn server_retry_delays() {
        let delay = |headers: &[(&str, &str)]| {
            server_retry_delay(&ResponseInfo::new(
                429,
                headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            ))
        };
        let ms = Duration::from_millis;
        assert_eq!(delay(&[("retry-after-ms", "1500")]), Some(ms(1500)));
        assert_eq!(
            delay(&[("retry-after-ms", "0.5")]),
            Some(Duration::from_micros(500))
        );
        // `retry-after-ms` first; `Retry-After` when it is missing or unusable.
        let both = [("retry-after-ms", "20"), ("retry-after", "3")];
        assert_eq!(delay(&both), Some(ms(20)));
        for unusable in ["0", "-5", "nan", "inf", "60001", "soon"] {
            let headers = [("retry-after-ms", unusable), ("Retry-After", "2")];
            assert_eq!(delay(&headers), Some(ms(2000)), "{unusable}");
            assert_eq!(delay(&headers[..1]), None, "{unusable}");
        }
        assert_eq!(delay(&[("retry-after", "1.5")]), Some(ms(1500)));
        assert_eq!(delay(&[("retry-after", "60")]), Some(ms(60_000)));
        for ignored in [
            "0",
            "-1",
            "nan",
            "inf",
            "61",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            assert_eq!(delay(&[("retry-after", ignored)]), None, "{ignored}");
        }
        assert_eq!(delay(&[]), None);
    }
}
