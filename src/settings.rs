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

/// Checks one variable's value; on error returns the accepted-values phrase for the message
/// `NAME=VALUE is not valid: expected ACCEPTED`.
pub fn validate(name: &str, value: &str) -> Result<(), &'static str> {
    match name {
        "GREEN_LOG" => parse_log_level(value).map(drop).ok_or(LOG_LEVEL_NAMES),
        "GREEN_STACK_SIZE" => parse_stack_size(value).map(drop).ok_or(STACK_SIZE_FORM),
        "GREEN_STATS" | "GREEN_DISABLE" | "GREEN_CHILDREN" => parse_bool(value).map(drop).ok_or(BOOL_NAMES),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_sizes() {
        assert_eq!(parse_stack_size("65536"), Some(65536));
        assert_eq!(parse_stack_size("64K"), Some(65536));
        assert_eq!(parse_stack_size("8m"), Some(8 << 20));
        assert_eq!(parse_stack_size("1G"), Some(1 << 30));
        assert_eq!(parse_stack_size("2G"), None);
        assert_eq!(parse_stack_size("1K"), None);
        assert_eq!(parse_stack_size("K"), None);
        assert_eq!(parse_stack_size("12x"), None);
        assert_eq!(parse_stack_size("-5M"), None);
        assert_eq!(parse_stack_size(""), None);
        assert_eq!(parse_stack_size("99999999999999999999999G"), None);
    }

    #[test]
    fn log_levels_and_flags() {
        assert_eq!(parse_log_level("debug"), Some(LogLevel::Debug));
        assert_eq!(parse_log_level("loud"), None);
        assert_eq!(parse_bool(""), Some(false));
        assert_eq!(parse_bool("1"), Some(true));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(validate("GREEN_LOG", "loud"), Err(LOG_LEVEL_NAMES));
        assert!(validate("GREEN_STACK_SIZE", "64K").is_ok());
    }
}
