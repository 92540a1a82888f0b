//! `green [OPTIONS] [--] COMMAND [ARGS...]`: run COMMAND with libgreen preloaded, in the
//! manner of torsocks, faketime or eatmydata.
//!
//! The launcher checks its options and the GREEN_* environment with the same parsers the
//! library uses, finds libgreen.so, puts it first in LD_PRELOAD and execs COMMAND in its
//! place. It starts no threads and does no I/O worth greening, so a libgreen already in its
//! own LD_PRELOAD does it no harm.

#[allow(dead_code)] // the launcher needs only part of the shared settings
#[path = "../settings.rs"]
mod settings;

#[path = "green_ps/mod.rs"]
mod green_ps;

use std::env;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

const USAGE: &str = "\
Usage: green [OPTIONS] [--] COMMAND [ARGS...]
Run COMMAND with libgreen preloaded: its threads become green threads on one OS thread.

Options (each sets the variable named, which COMMAND inherits):
  --log LEVEL        off, error, warn, info, debug or trace (GREEN_LOG)
  --stack-size SIZE  green thread stack, 16K to 1G, e.g. 64K or 8M (GREEN_STACK_SIZE)
  --stats            report runtime statistics (GREEN_STATS=1)
  --disable          load the library but pass every call through (GREEN_DISABLE=1)
  --no-children      programs COMMAND starts run without libgreen (GREEN_CHILDREN=0)
  --no-preempt       never preempt a busy green thread (GREEN_PREEMPT=0)
  --timeslice US     how long a green thread runs before it is preempted, 100 to 1000000
                     microseconds (GREEN_TIMESLICE_US, default 10000)
  --library PATH     use this libgreen.so
  -h, --help         show this help and exit
  -V, --version      show the version and exit

Options end at `--` or at COMMAND. libgreen.so is taken from --library, else from
$GREEN_LIBRARY, else from beside this program, else from ../lib/ next to its directory.

Exit status: COMMAND's own; 127 if COMMAND is not found, 126 if it cannot be run,
2 for a bad option or setting, 1 if libgreen.so cannot be found.
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Action {
    Help,
    Version,
    Run(Run),
}

#[derive(Debug, PartialEq, Default)]
struct Run {
    /// GREEN_* variables set by options, already validated; a later one wins.
    env: Vec<(&'static str, String)>,
    library: Option<PathBuf>,
    command: Vec<OsString>,
}

/// Both kinds exit with status 2; only usage errors point at --help.
#[derive(Debug, PartialEq)]
enum Failure {
    Usage(String),
    Invalid(String),
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Action, Failure> {
    let usage = |message: String| Err(Failure::Usage(message));
    let mut args = args.into_iter();
    let mut run = Run::default();
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            break;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            run.command.push(arg);
            break;
        }
        let (name, inline) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) if bytes.starts_with(b"--") => (&bytes[..i], Some(&bytes[i + 1..])),
            _ => (bytes, None),
        };
        let name = String::from_utf8_lossy(name);
        // The variable the option sets (none for the others), and whether it takes a value.
        let (var, takes_value) = match &*name {
            "-h" | "--help" | "-V" | "--version" => ("", false),
            "--stats" => ("GREEN_STATS", false),
            "--disable" => ("GREEN_DISABLE", false),
            "--no-children" => ("GREEN_CHILDREN", false),
            "--no-preempt" => ("GREEN_PREEMPT", false),
            "--timeslice" => ("GREEN_TIMESLICE_US", true),
            "--log" => ("GREEN_LOG", true),
            "--stack-size" => ("GREEN_STACK_SIZE", true),
            "--library" => ("", true),
            _ => return usage(format!("unrecognized option '{name}'")),
        };
        let value: OsString = match (inline, takes_value) {
            (Some(value), true) => OsStr::from_bytes(value).into(),
            (None, true) => match args.next() {
                Some(value) => value,
                None => return usage(format!("option '{name}' requires an argument")),
            },
            (Some(_), false) => return usage(format!("option '{name}' doesn't allow an argument")),
            (None, false) if var == "GREEN_CHILDREN" || var == "GREEN_PREEMPT" => "0".into(),
            (None, false) => "1".into(),
        };
        match &*name {
            "-h" | "--help" => return Ok(Action::Help),
            "-V" | "--version" => return Ok(Action::Version),
            "--library" => run.library = Some(value.into()),
            _ => {
                let text =
                    check(var, &value).map_err(|e| Failure::Invalid(format!("{name}: {e}")))?;
                run.env.push((var, text));
            }
        }
    }
    run.command.extend(args);
    if run.command.is_empty() {
        return usage("missing command".into());
    }
    Ok(Action::Run(run))
}

/// Validates one setting with the library's own parser, giving its text or why it is not
/// valid. A non-UTF-8 value turns into U+FFFD here, which no parser accepts.
fn check(var: &str, value: &OsStr) -> Result<String, String> {
    let text = value.to_string_lossy().into_owned();
    let Err(accepted) = settings::validate(var, &text) else { return Ok(text) };
    Err(settings::Invalid { name: var, value: &text, accepted }.to_string())
}

/// Checks the GREEN_* variables already in the environment that no option replaces.
fn check_environment(run: &Run) -> Result<(), Failure> {
    for doc in settings::SETTINGS.iter().filter(|doc| run.env.iter().all(|(v, _)| *v != doc.name)) {
        if let Some(value) = env::var_os(doc.name) {
            check(doc.name, &value).map_err(Failure::Invalid)?;
        }
    }
    Ok(())
}

/// The library as an absolute, resolved path, or why it cannot be used.
fn usable(path: &Path) -> Result<PathBuf, String> {
    let full = path.canonicalize().map_err(|e| os_message(&e))?;
    if !full.is_file() {
        return Err("not a regular file".into());
    }
    // ld.so splits LD_PRELOAD at spaces and colons.
    if full.as_os_str().as_bytes().iter().any(|b| b" :".contains(b)) {
        return Err("LD_PRELOAD cannot hold a path with a space or colon".into());
    }
    Ok(full)
}

fn find_library(run: &Run) -> Result<PathBuf, String> {
    if let Some(path) = &run.library {
        return usable(path).map_err(|e| format!("--library {}: {e}", path.display()));
    }
    if let Some(path) = env::var_os("GREEN_LIBRARY").filter(|p| !p.is_empty()) {
        return usable(Path::new(&path))
            .map_err(|e| format!("GREEN_LIBRARY={}: {e}", path.to_string_lossy()));
    }
    let mut looked = Vec::new();
    if let Ok(exe) = env::current_exe().and_then(|exe| exe.canonicalize()) {
        if let Some(dir) = exe.parent() {
            looked.push(dir.join("libgreen.so"));
            if let Some(prefix) = dir.parent() {
                looked.push(prefix.join("lib/libgreen.so"));
            }
        }
    }
    if let Some(path) = looked.iter().find_map(|candidate| usable(candidate).ok()) {
        return Ok(path);
    }
    let list: String = looked.iter().map(|path| format!("  {}\n", path.display())).collect();
    Err(format!(
        "cannot find libgreen.so; looked for:\n{list}Use --library PATH or set GREEN_LIBRARY."
    ))
}

/// LD_PRELOAD with `library` first, keeping what was there.
fn preload(library: &Path, existing: Option<&OsStr>) -> OsString {
    let library = library.as_os_str().as_bytes();
    let existing = existing.map_or(&b""[..], OsStr::as_bytes);
    match existing.split(|b| b" :".contains(b)).find(|entry| !entry.is_empty()) {
        None => OsString::from_vec(library.to_vec()),
        Some(first) if first == library => OsString::from_vec(existing.to_vec()),
        Some(_) => OsString::from_vec([library, b":", existing].concat()),
    }
}

/// An io::Error as the OS words it, without std's " (os error N)".
fn os_message(error: &io::Error) -> String {
    let text = error.to_string();
    text.find(" (os error").map_or(text.clone(), |end| text[..end].to_string())
}

fn exec(run: Run, library: &Path) -> ! {
    let program = &run.command[0];
    let error = Command::new(program)
        .args(&run.command[1..])
        .envs(run.env.iter().map(|(var, value)| (var, value)))
        .env("LD_PRELOAD", preload(library, env::var_os("LD_PRELOAD").as_deref()))
        .exec();
    // Only a bare name is searched in PATH; a path that is missing is reported as the shell does.
    let is_path = program.as_bytes().contains(&b'/');
    let (status, message) = match error.kind() {
        io::ErrorKind::NotFound if !is_path => (127, "command not found".to_string()),
        io::ErrorKind::NotFound => (127, os_message(&error)),
        _ if is_path && Path::new(program).is_dir() => (126, "Is a directory".to_string()),
        _ => (126, os_message(&error)),
    };
    eprintln!("green: {}: {message}", program.to_string_lossy());
    exit(status)
}

fn fail(failure: Failure) -> ! {
    match failure {
        Failure::Usage(message) => eprintln!("green: {message}\nTry 'green --help'."),
        Failure::Invalid(message) => eprintln!("green: {message}"),
    }
    exit(2)
}

fn main() {
    let words: Vec<String> = env::args_os().skip(1).take(4).map(|a| a.to_string_lossy().into_owned()).collect();
    if let Some(status) = green_ps::dispatch(&words) {
        exit(status);
    }
    let run = match parse(env::args_os().skip(1)) {
        Ok(Action::Help) => return print!("{USAGE}"),
        Ok(Action::Version) => return println!("green {}", env!("CARGO_PKG_VERSION")),
        Ok(Action::Run(run)) => run,
        Err(failure) => fail(failure),
    };
    check_environment(&run).unwrap_or_else(|failure| fail(failure));
    let library = find_library(&run).unwrap_or_else(|message| {
        eprintln!("green: {message}");
        exit(1)
    });
    exec(run, &library)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Action, Failure> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn options_stop_at_the_command() {
        let args = ["--stats", "--log=debug", "--stack-size", "64K", "prog", "--log", "x", "-h"];
        let Ok(Action::Run(r)) = parse_strs(&args) else { panic!() };
        let env = [("GREEN_STATS", "1"), ("GREEN_LOG", "debug"), ("GREEN_STACK_SIZE", "64K")];
        assert_eq!(r.env, env.map(|(var, value)| (var, value.to_string())));
        assert_eq!(r.command, ["prog", "--log", "x", "-h"]);
        let Ok(Action::Run(r)) = parse_strs(&["--library=/l.so", "--", "-x", "--"]) else {
            panic!()
        };
        assert_eq!((r.library, r.command), (Some("/l.so".into()), vec!["-x".into(), "--".into()]));
        assert_eq!(parse_strs(&["--log", "info", "-h", "prog"]), Ok(Action::Help));
        assert_eq!(parse_strs(&["-V", "--bogus"]), Ok(Action::Version));
    }

    #[test]
    fn errors() {
        let usage = |message: &str| Failure::Usage(message.into());
        let log = "--log: GREEN_LOG=loud is not valid: expected ".to_string();
        let size = "--stack-size: GREEN_STACK_SIZE=1K is not valid: expected ".to_string();
        for (args, failure) in [
            (&[][..], usage("missing command")),
            (&["--stats", "--"], usage("missing command")),
            (&["--bogus=1", "prog"], usage("unrecognized option '--bogus'")),
            (&["-hV", "prog"], usage("unrecognized option '-hV'")),
            (&["--log"], usage("option '--log' requires an argument")),
            (&["--stats=1", "prog"], usage("option '--stats' doesn't allow an argument")),
            (&["--log", "loud", "prog"], Failure::Invalid(log + settings::LOG_LEVEL_NAMES)),
            (&["--stack-size=1K", "prog"], Failure::Invalid(size + settings::STACK_SIZE_FORM)),
        ] {
            assert_eq!(parse_strs(args), Err(failure));
        }
        let not_utf8 = parse(["--log".into(), OsString::from_vec(vec![0xff]), "prog".into()]);
        assert!(
            matches!(not_utf8, Err(Failure::Invalid(m)) if m.contains("GREEN_LOG=\u{fffd} is"))
        );
    }

    #[test]
    fn preload_goes_first_once() {
        let lib = Path::new("/p/libgreen.so");
        for (existing, expected) in [
            (None, "/p/libgreen.so"),
            (Some(""), "/p/libgreen.so"),
            (Some("a.so b.so"), "/p/libgreen.so:a.so b.so"),
            (Some("/p/libgreen.so:a.so"), "/p/libgreen.so:a.so"),
            (Some(" /p/libgreen.so"), " /p/libgreen.so"),
        ] {
            assert_eq!(preload(lib, existing.map(OsStr::new)), expected);
        }
    }
}
