//! The engine's settings.

use std::time::Duration;

/// Dropbox Sign's retry schedule: the delays before retries 1 to 6 (7 attempts, about 30 hours).
pub const DEFAULT_SCHEDULE: &str = "5m,15m,45m,2h15m,6h45m,20h15m";

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Delay before each retry; its length is the number of retries.
    pub schedule: Vec<Duration>,
    /// Each delay is moved by up to ± this fraction, so retries of many deliveries spread out.
    pub jitter: f64,
    /// Whole-request timeout of one attempt.
    pub timeout: Duration,
    /// Deliveries in flight at once, over all URLs.
    pub max_in_flight: usize,
    /// Deliveries in flight at once to one URL.
    pub max_in_flight_per_url: usize,
    /// How long a claim holds a delivery before another node may take it.
    pub lease: Duration,
    /// Most deliveries claimed in one query.
    pub batch: i64,
    /// Dead deliveries in a row after which a URL is disabled.
    pub disable_after_dead: i64,
    /// Allow `http://` and non-public addresses (development and tests).
    pub allow_private: bool,
    /// Safety-net poll when nothing wakes the engine.
    pub poll_interval: Duration,
    /// How much of a response body is read and judged.
    pub max_response_bytes: usize,
    /// Longest `Retry-After` honoured.
    pub retry_after_max: Duration,
    /// On shutdown, how long deliveries in flight may take to finish before their leases are released.
    pub shutdown_grace: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            schedule: parse_durations(DEFAULT_SCHEDULE).expect("the default schedule parses"),
            jitter: 0.1,
            timeout: Duration::from_secs(30),
            max_in_flight: 512,
            max_in_flight_per_url: 32,
            lease: Duration::from_secs(300),
            batch: 512,
            disable_after_dead: 10,
            allow_private: false,
            poll_interval: Duration::from_secs(5),
            max_response_bytes: 64 * 1024,
            retry_after_max: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Parses one duration: `500ms`, `30s`, `5m`, `2h15m`, `1d`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds >= 0.0 && seconds.is_finite())
            .then(|| Duration::from_secs_f64(seconds))
            .ok_or_else(|| format!("bad duration {text:?}"));
    }
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            "ms"
        } else {
            match c {
                's' => "s",
                'm' => "m",
                'h' => "h",
                'd' => "d",
                _ => return Err(format!("bad duration {text:?}: unknown unit {c:?}")),
            }
        };
        let value: f64 = number.parse().map_err(|_| format!("bad duration {text:?}"))?;
        number.clear();
        let seconds = match unit {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => value * 86400.0,
        };
        total += Duration::from_secs_f64(seconds);
    }
    if !number.is_empty() {
        return Err(format!("bad duration {text:?}: a number without a unit at the end"));
    }
    Ok(total)
}

/// Parses a comma-separated list of durations (`1s,2s,4s`).
pub fn parse_durations(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',').filter(|part| !part.trim().is_empty()).map(parse_duration).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_spelling() {
        assert_eq!(parse_duration("2h15m").unwrap(), Duration::from_secs(8100));
        assert_eq!(parse_duration("20h15m").unwrap(), Duration::from_secs(72900));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("5m3").is_err());
        let schedule = parse_durations(DEFAULT_SCHEDULE).unwrap();
        assert_eq!(schedule.len(), 6);
        assert_eq!(schedule.iter().sum::<Duration>(), Duration::from_secs(30 * 3600 + 20 * 60));
    }
}
