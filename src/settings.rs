//! The GREEN_* settings: names, accepted values, and their parsers.
//!
//! This file is shared by the library and by the `green` launcher (which includes it with
//! `#[path]`), so that both accept exactly the same values and word their errors the same
//! way. It is pure: no I/O, no allocation on the success path, no libc calls.

/// Smallest and largest stack a green thread may be given. Below 16 KiB even glibc's own
/// functions (printf with a long format) overflow; above 1 GiB is a typo, not a wish.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
pub const MAX_STACK_SIZE: usize = 1024 * 1024 * 1024;

/// How much the runtime says on stderr.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum LogLevel {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

pub const LOG_LEVEL_NAMES: &str = "one of off, error, warn, info, debug, trace";
pub const BOOL_NAMES: &str = "0 or 1";
pub const STACK_SIZE_FORM: &str =
    "a byte count with an optional K, M or G suffix (binary), from 16K to 1G";
pub const TIMESLICE_FORM: &str = "a whole number of microseconds, from 100 to 1000000";
pub const WATCHDOG_FORM: &str = "0 (off) or a whole number of milliseconds, from 1 to 3600000";

/// The time slice a green thread may run before it is preempted: 10 ms, as Go. Below 100 us
/// the ticks would cost more than they give; above a second preemption would be moot.
pub const DEFAULT_TIMESLICE_US: u64 = 10_000;
pub const MIN_TIMESLICE_US: u64 = 100;
pub const MAX_TIMESLICE_US: u64 = 1_000_000;

/// The watchdog's limit: up to an hour (beyond, a thread is stuck, not slow).
pub const MAX_WATCHDOG_MS: u64 = 3_600_000;

#[allow(dead_code)] // the launcher's --help lists them; the library does not
/// One documented setting: the variable, what it accepts, and its default, as README states.
pub struct SettingDoc {
    pub name: &'static str,
    pub accepted: &'static str,
    pub default: &'static str,
}

#[allow(dead_code)]
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc { name: "GREEN_LOG", accepted: LOG_LEVEL_NAMES, default: "warn" },
    SettingDoc {
        name: "GREEN_STACK_SIZE",
        accepted: STACK_SIZE_FORM,
        default: "the native thread default (RLIMIT_STACK, usually 8M)",
    },
    SettingDoc { name: "GREEN_STATS", accepted: BOOL_NAMES, default: "0" },
    SettingDoc { name: "GREEN_DISABLE", accepted: BOOL_NAMES, default: "0" },
    SettingDoc { name: "GREEN_CHILDREN", accepted: BOOL_NAMES, default: "1" },
    SettingDoc { name: "GREEN_PREEMPT", accepted: BOOL_NAMES, default: "1" },
    SettingDoc { name: "GREEN_TIMESLICE_US", accepted: TIMESLICE_FORM, default: "10000" },
    SettingDoc { name: "GREEN_WATCHDOG_MS", accepted: WATCHDOG_FORM, default: "0" },
    SettingDoc { name: "GREEN_RAW_SYSCALLS", accepted: BOOL_NAMES, default: "0" },
];

pub fn parse_log_level(value: &str) -> Option<LogLevel> {
    Some(match value.trim() {
        "off" | "OFF" | "0" => LogLevel::Off,
        "error" | "ERROR" => LogLevel::Error,
        "warn" | "WARN" | "warning" => LogLevel::Warn,
        "info" | "INFO" => LogLevel::Info,
        "debug" | "DEBUG" => LogLevel::Debug,
        "trace" | "TRACE" => LogLevel::Trace,
        _ => return None,
    })
}

/// `0`/`1` flags. The empty string counts as unset (0), because `VAR= cmd` is how shells
/// clear a variable for one command.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "" | "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// Parses `65536`, `64K`, `64k`, `8M`, `1G` (binary multiples) within the accepted range.
pub fn parse_stack_size(value: &str) -> Option<usize> {
    let value = value.trim();
    let (digits, multiplier) = match value.as_bytes().last()? {
        b'k' | b'K' => (&value[..value.len() - 1], 1024usize),
        b'm' | b'M' => (&value[..value.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&value[..value.len() - 1], 1024 * 1024 * 1024),
        b'0'..=b'9' => (value, 1),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let size = digits.parse::<usize>().ok()?.checked_mul(multiplier)?;
    (MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size).then_some(size)
}

/// Parses a time slice in microseconds (digits only) within the accepted range.
pub fn parse_timeslice_us(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let us = value.parse::<u64>().ok()?;
    (MIN_TIMESLICE_US..=MAX_TIMESLICE_US).contains(&us).then_some(us)
}

/// Parses the watchdog's limit in milliseconds (digits only); 0 or the empty string (`VAR=
/// cmd`) is off.
pub fn parse_watchdog_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() {
        return Some(0);
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms = value.parse::<u64>().ok()?;
    (ms <= MAX_WATCHDOG_MS).then_some(ms)
}

/// Checks one variable's value; on error returns the accepted-values phrase for the message
/// `NAME=VALUE is not valid: expected ACCEPTED` (see [`Invalid`]).
pub fn validate(name: &str, value: &str) -> Result<(), &'static str> {
    match name {
        "GREEN_LOG" => parse_log_level(value).map(drop).ok_or(LOG_LEVEL_NAMES),
        "GREEN_STACK_SIZE" => parse_stack_size(value).map(drop).ok_or(STACK_SIZE_FORM),
        "GREEN_STATS" | "GREEN_DISABLE" | "GREEN_CHILDREN" | "GREEN_PREEMPT" | "GREEN_RAW_SYSCALLS" => {
            parse_bool(value).map(drop).ok_or(BOOL_NAMES)
        }
        "GREEN_TIMESLICE_US" => parse_timeslice_us(value).map(drop).ok_or(TIMESLICE_FORM),
        "GREEN_WATCHDOG_MS" => parse_watchdog_ms(value).map(drop).ok_or(WATCHDOG_FORM),
        _ => Ok(()),
    }
}

/// The one-line complaint about an invalid value, worded the same by the library and the
/// launcher: `NAME=VALUE is not valid: expected ACCEPTED`. Formatting allocates nothing.
pub struct Invalid<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub accepted: &'a str,
}

impl core::fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}={} is not valid: expected {}", self.name, self.value, self.accepted)
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::*;

    #[test]
    fn stack_sizes_accepted() {
        assert_eq!(parse_stack_size("65536"), Some(65536));
        assert_eq!(parse_stack_size("16384"), Some(MIN_STACK_SIZE));
        assert_eq!(parse_stack_size("16K"), Some(MIN_STACK_SIZE));
        assert_eq!(parse_stack_size("64K"), Some(65536));
        assert_eq!(parse_stack_size("64k"), Some(65536));
        assert_eq!(parse_stack_size("8m"), Some(8 << 20));
        assert_eq!(parse_stack_size("8M"), Some(8 << 20));
        assert_eq!(parse_stack_size("1G"), Some(MAX_STACK_SIZE));
        assert_eq!(parse_stack_size("1g"), Some(1 << 30));
        assert_eq!(parse_stack_size(" 2M "), Some(2 << 20), "surrounding blanks are ignored");
    }

    #[test]
    fn stack_sizes_rejected() {
        for bad in ["2G", "1025M", "1K", "16383", "K", "12x", "-5M", "", " ", "1.5M", "8MB", "0x1000", "+64K"] {
            assert_eq!(parse_stack_size(bad), None, "{bad:?}");
        }
        assert_eq!(parse_stack_size("99999999999999999999999G"), None, "overflow");
        assert_eq!(parse_stack_size("18014398509481984K"), None, "overflow in the multiplication");
    }

    #[test]
    fn log_levels() {
        let cases = [
            ("off", LogLevel::Off),
            ("OFF", LogLevel::Off),
            ("0", LogLevel::Off),
            ("error", LogLevel::Error),
            ("ERROR", LogLevel::Error),
            ("warn", LogLevel::Warn),
            ("WARN", LogLevel::Warn),
            ("warning", LogLevel::Warn),
            ("info", LogLevel::Info),
            ("INFO", LogLevel::Info),
            ("debug", LogLevel::Debug),
            ("DEBUG", LogLevel::Debug),
            ("trace", LogLevel::Trace),
            ("TRACE", LogLevel::Trace),
            (" info\n", LogLevel::Info),
        ];
        for (text, level) in cases {
            assert_eq!(parse_log_level(text), Some(level), "{text:?}");
        }
        for bad in ["loud", "", "1", "Info", "warnings", "debug2"] {
            assert_eq!(parse_log_level(bad), None, "{bad:?}");
        }
        assert!(LogLevel::Off < LogLevel::Error && LogLevel::Debug < LogLevel::Trace);
    }

    #[test]
    fn timeslices() {
        assert_eq!(parse_timeslice_us("10000"), Some(10_000));
        assert_eq!(parse_timeslice_us("100"), Some(MIN_TIMESLICE_US));
        assert_eq!(parse_timeslice_us("1000000"), Some(MAX_TIMESLICE_US));
        assert_eq!(parse_timeslice_us(" 500 "), Some(500), "surrounding blanks are ignored");
        for bad in ["abc", "", "99", "1000001", "-100", "10ms", "1e4", "+500", "99999999999999999999999"] {
            assert_eq!(parse_timeslice_us(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn watchdog_limits() {
        assert_eq!(parse_watchdog_ms("200"), Some(200));
        assert_eq!(parse_watchdog_ms("0"), Some(0), "off");
        assert_eq!(parse_watchdog_ms(""), Some(0), "VAR= cmd clears it");
        assert_eq!(parse_watchdog_ms("3600000"), Some(MAX_WATCHDOG_MS));
        for bad in ["abc", "3600001", "-1", "200ms", "1.5", "+5", "99999999999999999999999"] {
            assert_eq!(parse_watchdog_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn flags() {
        assert_eq!(parse_bool(""), Some(false), "VAR= cmd clears a flag");
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool(" 1 "), Some(true));
        for bad in ["yes", "true", "2", "01", "on", "-1"] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_setting_validates_with_its_own_phrase() {
        assert_eq!(validate("GREEN_LOG", "loud"), Err(LOG_LEVEL_NAMES));
        assert_eq!(validate("GREEN_LOG", "debug"), Ok(()));
        assert_eq!(validate("GREEN_STACK_SIZE", "1K"), Err(STACK_SIZE_FORM));
        assert_eq!(validate("GREEN_STACK_SIZE", "64K"), Ok(()));
        assert_eq!(validate("GREEN_TIMESLICE_US", "abc"), Err(TIMESLICE_FORM));
        assert_eq!(validate("GREEN_TIMESLICE_US", "10000"), Ok(()));
        for flag in ["GREEN_STATS", "GREEN_DISABLE", "GREEN_CHILDREN", "GREEN_PREEMPT", "GREEN_RAW_SYSCALLS"] {
            assert_eq!(validate(flag, "yes"), Err(BOOL_NAMES), "{flag}");
            assert_eq!(validate(flag, "1"), Ok(()), "{flag}");
        }
        assert_eq!(validate("GREEN_UNKNOWN", "anything"), Ok(()), "other variables are not ours to judge");
        for doc in SETTINGS {
            assert!(validate(doc.name, "not a valid value").is_err(), "{} is validated", doc.name);
        }
    }

    #[test]
    fn error_text() {
        let text = |name, value| {
            let accepted = validate(name, value).unwrap_err();
            Invalid { name, value, accepted }.to_string()
        };
        assert_eq!(
            text("GREEN_LOG", "loud"),
            "GREEN_LOG=loud is not valid: expected one of off, error, warn, info, debug, trace"
        );
        assert_eq!(
            text("GREEN_STACK_SIZE", "1K"),
            "GREEN_STACK_SIZE=1K is not valid: expected a byte count with an optional K, M or G suffix (binary), from 16K to 1G"
        );
        assert_eq!(text("GREEN_STATS", "yes"), "GREEN_STATS=yes is not valid: expected 0 or 1");
        assert_eq!(text("GREEN_DISABLE", "2"), "GREEN_DISABLE=2 is not valid: expected 0 or 1");
        assert_eq!(text("GREEN_CHILDREN", "no"), "GREEN_CHILDREN=no is not valid: expected 0 or 1");
        assert_eq!(text("GREEN_PREEMPT", "2"), "GREEN_PREEMPT=2 is not valid: expected 0 or 1");
        assert_eq!(
            text("GREEN_TIMESLICE_US", "abc"),
            "GREEN_TIMESLICE_US=abc is not valid: expected a whole number of microseconds, from 100 to 1000000"
        );
        assert_eq!(
            text("GREEN_WATCHDOG_MS", "soon"),
            "GREEN_WATCHDOG_MS=soon is not valid: expected 0 (off) or a whole number of milliseconds, from 1 to 3600000"
        );
    }
}
