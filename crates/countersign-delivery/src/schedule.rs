//! Judging an attempt and deciding what comes next.

use std::time::Duration;

use countersign_domain::ids::fill_random;
use countersign_store::deliveries::Outcome;

use crate::config::DeliveryConfig;

/// What an attempt got back.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: Option<u16>,
    /// Whether the first `max_response_bytes` of the body contain `Hello API Event Received`.
    pub acknowledged: bool,
    pub retry_after: Option<Duration>,
}

/// The text a receiver must answer with, as Dropbox Sign requires.
pub const ACK_TEXT: &[u8] = b"Hello API Event Received";

/// A success is HTTP 200 *and* the acknowledgement text; anything else (another 2xx, a redirect, a
/// timeout, a connection error, the wrong body) is a failure.
pub fn is_success(answer: &Answer) -> bool {
    answer.status == Some(200) && answer.acknowledged
}

/// The outcome of an attempt, given how many attempts this round had before it.
pub fn decide(answer: &Answer, round_attempts_before: i64, config: &DeliveryConfig, now_ms: i64) -> Outcome {
    if is_success(answer) {
        return Outcome::Delivered;
    }
    if answer.status == Some(410) {
        return Outcome::Gone;
    }
    let retry_index = usize::try_from(round_attempts_before).unwrap_or(usize::MAX);
    let Some(base) = config.schedule.get(retry_index) else {
        return Outcome::Dead;
    };
    let mut delay = jittered(*base, config.jitter);
    if let (Some(429 | 503), Some(asked)) = (answer.status, answer.retry_after) {
        // Honour the receiver's wish, but never sooner than the schedule and never past the cap.
        delay = asked.max(delay).min(config.retry_after_max.max(delay));
    }
    Outcome::Retry { next_attempt_ms: now_ms + delay.as_millis() as i64 }
}

fn jittered(base: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return base;
    }
    let mut bytes = [0u8; 8];
    fill_random(&mut bytes);
    let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    base.mul_f64(1.0 + jitter * (2.0 * unit - 1.0))
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    httpdate_to_system_time(value).map(|when| when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP requires senders to use.
fn httpdate_to_system_time(value: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == parts[2])? as u64
        + 1;
    let year: u64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4].split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if hms.len() != 3 || year < 1970 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let seconds = days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    Some(std::time::UNIX_EPOCH + Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(schedule: &[u64]) -> DeliveryConfig {
        DeliveryConfig {
            schedule: schedule.iter().map(|s| Duration::from_secs(*s)).collect(),
            jitter: 0.0,
            ..DeliveryConfig::default()
        }
    }

    fn answer(status: u16, acknowledged: bool) -> Answer {
        Answer { status: Some(status), acknowledged, retry_after: None }
    }

    #[test]
    fn only_200_with_the_acknowledgement_is_success() {
        let c = config(&[1]);
        assert_eq!(decide(&answer(200, true), 0, &c, 0), Outcome::Delivered);
        for failed in [
            answer(200, false),
            answer(201, true),
            answer(204, true),
            answer(302, true),
            answer(500, true),
            Answer::default(),
        ] {
            assert_eq!(decide(&failed, 0, &c, 0), Outcome::Retry { next_attempt_ms: 1000 }, "{failed:?}");
        }
        assert_eq!(decide(&answer(410, false), 0, &c, 0), Outcome::Gone);
    }

    #[test]
    fn the_schedule_counts_attempts_then_gives_up() {
        let c = config(&[1, 2, 4]);
        assert_eq!(decide(&answer(500, false), 0, &c, 10_000), Outcome::Retry { next_attempt_ms: 11_000 });
        assert_eq!(decide(&answer(500, false), 2, &c, 10_000), Outcome::Retry { next_attempt_ms: 14_000 });
        assert_eq!(decide(&answer(500, false), 3, &c, 10_000), Outcome::Dead);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let c = DeliveryConfig { retry_after_max: Duration::from_secs(3600), ..config(&[60]) };
        let asks = |seconds| Answer {
            status: Some(429),
            acknowledged: false,
            retry_after: Some(Duration::from_secs(seconds)),
        };
        assert_eq!(decide(&asks(600), 0, &c, 0), Outcome::Retry { next_attempt_ms: 600_000 });
        assert_eq!(
            decide(&asks(5), 0, &c, 0),
            Outcome::Retry { next_attempt_ms: 60_000 },
            "never sooner than the schedule"
        );
        assert_eq!(decide(&asks(86_400), 0, &c, 0), Outcome::Retry { next_attempt_ms: 3_600_000 }, "capped at an hour");
        let ignored = Answer { status: Some(500), acknowledged: false, retry_after: Some(Duration::from_secs(600)) };
        assert_eq!(decide(&ignored, 0, &c, 0), Outcome::Retry { next_attempt_ms: 60_000 });
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(300), 0.1);
            assert!(d >= Duration::from_secs(270) && d <= Duration::from_secs(330), "{d:?}");
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784111777);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
