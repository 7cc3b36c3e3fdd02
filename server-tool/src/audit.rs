//! `--audit`: two syslog lines per command (authpriv.info), written to the local syslog
//! socket as glibc's syslog(3) does, without unsafe FFI. They name who ran what, how it
//! ended, how many sealed bytes came out and the key fingerprint; never the output.
//!
//! - A *start* record is written before the command runs, and the command is not run if it
//!   cannot be: an operator who asked for an audit trail gets no unaudited run, even if
//!   hush-run is killed before the command ends.
//! - An *end* record follows with how it ended and where its output went.
//!
//! Every line is kept short (at most [`MAX_LINE`] bytes): a datagram too long for the
//! socket is refused as a whole (over about 200 KB on /dev/log, and syslog daemons cut or
//! drop lines far shorter than that), which would leave a run with no record at all. Long
//! values are cut with a visible marker, and the command's SHA-256 is always logged so that
//! an auditor can match a cut line to the full command.

use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::failure::{Failure, Result};

/// authpriv (10) * 8 + info (6).
const PRIORITY: u32 = 10 * 8 + 6;
/// The longest line sent: well under the 2048 bytes RFC 5424 asks receivers to accept,
/// and under rsyslog's and journald's defaults.
const MAX_LINE: usize = 2048;
/// Room for the command as logged (quoted and escaped), before the truncation marker.
const MAX_COMMAND: usize = 1024;
/// Room for a user name as logged.
const MAX_NAME: usize = 64;

enum Socket {
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

/// A connection to the system log.
pub struct Audit {
    socket: Socket,
    /// Commands started so far: numbers the runs of an interactive session, so that each
    /// end record can be matched to its start (the pid alone is the same for all).
    runs: u64,
}

/// A command whose start was logged: what its end record repeats.
pub struct Run {
    number: u64,
    command: String,
}

/// How a command ended, for its end record.
pub struct End {
    /// hush-run's exit code for this command.
    pub exit: i32,
    /// Bytes of sealed output delivered (0 if withheld).
    pub sealed_bytes: u64,
    /// `delivered`, `withheld`, `not-started` or `failed`.
    pub output: &'static str,
}

/// Who runs hush-run, as logged in both records.
struct Who {
    pid: u32,
    uid: u32,
    user: String,
    /// Login uid and sudo user, from [`behind`].
    behind: String,
}

impl Who {
    fn now() -> Self {
        Self {
            pid: std::process::id(),
            uid: crate::user::uid(),
            user: crate::user::name(),
            behind: behind(),
        }
    }
}

impl Audit {
    /// Connects to the syslog socket (datagram, or stream as some systems use).
    pub fn connect(path: &Path) -> Result<Self> {
        let socket = match UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s)) {
            Ok(s) => Socket::Datagram(s),
            Err(first) => match UnixStream::connect(path) {
                Ok(s) => Socket::Stream(s),
                Err(_) => {
                    return Err(Failure::AuditUnreachable {
                        path: path.to_owned(),
                        source: first,
                    });
                }
            },
        };
        Ok(Self { socket, runs: 0 })
    }

    /// Logs that `command` is about to run. The caller must not run it on an error.
    pub fn start(&mut self, command: &str, fingerprint: Option<&str>) -> io::Result<Run> {
        self.runs += 1;
        let run = Run {
            number: self.runs,
            command: command.to_owned(),
        };
        self.send(&start_line(&run, &Who::now(), fingerprint))?;
        Ok(run)
    }

    /// Logs how the command of `run` ended.
    pub fn end(&mut self, run: &Run, end: &End, fingerprint: Option<&str>) -> io::Result<()> {
        self.send(&end_line(run, end, &Who::now(), fingerprint))
    }

    fn send(&mut self, line: &str) -> io::Result<()> {
        // Holds by construction: every field of unbounded length goes through `quote`.
        debug_assert!(line.len() <= MAX_LINE, "audit line of {} bytes", line.len());
        match &mut self.socket {
            Socket::Datagram(s) => s.send(line.as_bytes()).map(|_| ()),
            // Stream sockets need a delimiter between messages.
            Socket::Stream(s) => s.write_all(format!("{line}\0").as_bytes()),
        }
    }
}

/// Who is behind the account: the kernel's login uid (set at SSH or console login, kept
/// across `sudo` and `su`, and not changeable by the user), and sudo's SUDO_USER for root.
fn behind() -> String {
    let mut out = String::new();
    if let Ok(text) = std::fs::read_to_string("/proc/self/loginuid") {
        // 4294967295 means "not set" (e.g. a daemon started at boot).
        if let Ok(id) = text.trim().parse::<u32>() {
            if id != u32::MAX {
                out.push_str(&format!(" login_uid={id}"));
            }
        }
    }
    if crate::user::uid() == 0 {
        if let Some(sudo_user) = std::env::var_os("SUDO_USER") {
            out.push_str(&format!(
                " sudo_user={}",
                quote(&sudo_user.to_string_lossy(), MAX_NAME)
            ));
        }
    }
    out
}

/// The fields both records start with.
fn head(event: &str, run: &Run, who: &Who) -> String {
    format!(
        "<{PRIORITY}>hush-run[{}]: event={event} run={} user={} uid={}{} command={} command_sha256={}",
        who.pid,
        run.number,
        quote(&who.user, MAX_NAME),
        who.uid,
        who.behind,
        quote(&run.command, MAX_COMMAND),
        sha256_hex(&run.command),
    )
}

fn start_line(run: &Run, who: &Who, fingerprint: Option<&str>) -> String {
    format!(
        "{} fingerprint={}",
        head("start", run, who),
        fingerprint.unwrap_or("passphrase")
    )
}

fn end_line(run: &Run, end: &End, who: &Who, fingerprint: Option<&str>) -> String {
    format!(
        "{} exit={} sealed_bytes={} fingerprint={} output={}",
        head("end", run, who),
        end.exit,
        end.sealed_bytes,
        fingerprint.unwrap_or("passphrase"),
        end.output
    )
}

fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Quotes a value so that a hostile command line cannot forge fields or lines in the log,
/// keeping at most `max` bytes of it (escaped). A longer value is cut between two escaped
/// characters (never inside an escape, which could leave a `\` that swallows the closing
/// quote) and ends with `…[truncated, N bytes, sha256=HEX]`, N and HEX being those of the
/// whole value.
fn quote(value: &str, max: usize) -> String {
    let mut out = String::with_capacity(value.len().min(max) + 100);
    out.push('"');
    let mut kept = 0;
    let mut unit = String::with_capacity(8);
    for c in value.chars() {
        unit.clear();
        match c {
            '"' => unit.push_str("\\\""),
            '\\' => unit.push_str("\\\\"),
            c if c.is_control() => unit.push_str(&format!("\\x{:02x}", c as u32)),
            c => unit.push(c),
        }
        if kept + unit.len() > max {
            out.push_str(&format!(
                "…[truncated, {} bytes, sha256={}]",
                value.len(),
                sha256_hex(value)
            ));
            break;
        }
        kept += unit.len();
        out.push_str(&unit);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(user: &str, behind: &str) -> Who {
        Who {
            pid: 7,
            uid: 0,
            user: user.into(),
            behind: behind.into(),
        }
    }

    fn run(command: &str) -> Run {
        Run {
            number: 1,
            command: command.into(),
        }
    }

    #[test]
    fn lines_are_quoted_and_single() {
        let r = run("echo \"x\"\nfake=1");
        let sha = sha256_hex("echo \"x\"\nfake=1");
        let who = who("root", " login_uid=1000");
        assert_eq!(
            start_line(&r, &who, Some("AAAA-BBBB-CCCC")),
            format!(
                "<86>hush-run[7]: event=start run=1 user=\"root\" uid=0 login_uid=1000 \
                 command=\"echo \\\"x\\\"\\x0afake=1\" command_sha256={sha} fingerprint=AAAA-BBBB-CCCC"
            )
        );
        let end = End {
            exit: 0,
            sealed_bytes: 10,
            output: "delivered",
        };
        assert_eq!(
            end_line(&r, &end, &who, None),
            format!(
                "<86>hush-run[7]: event=end run=1 user=\"root\" uid=0 login_uid=1000 \
                 command=\"echo \\\"x\\\"\\x0afake=1\" command_sha256={sha} exit=0 sealed_bytes=10 \
                 fingerprint=passphrase output=delivered"
            )
        );
    }

    #[test]
    fn the_sha256_is_of_the_whole_command() {
        // FIPS 180-2's "abc" vector.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn long_values_are_cut_with_a_marker_and_lines_stay_short() {
        // Worst cases: every character escaped to four bytes, or wide characters.
        for command in [
            "a".repeat(300_000),
            "\n".repeat(300_000),
            "é".repeat(300_000),
        ] {
            let long_name = "\u{1}".repeat(10_000);
            let who = who(
                &long_name,
                &format!(
                    " login_uid=4294967294 sudo_user={}",
                    quote(&long_name, MAX_NAME)
                ),
            );
            let r = Run {
                number: u64::MAX,
                command: command.clone(),
            };
            let end = End {
                exit: i32::MIN,
                sealed_bytes: u64::MAX,
                output: "not-started",
            };
            let start = start_line(&r, &who, Some("AAAA-BBBB-CCCC-DDDD"));
            let end = end_line(&r, &end, &who, Some("AAAA-BBBB-CCCC-DDDD"));
            let marker = format!(
                "…[truncated, {} bytes, sha256={}]\"",
                command.len(),
                sha256_hex(&command)
            );
            for line in [start, end] {
                assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
                assert!(line.contains(&marker), "{line}");
                assert!(!line.contains('\n'), "{line}");
            }
        }
    }

    #[test]
    fn a_cut_never_splits_an_escape() {
        for pad in 0..4 {
            let value = format!("{}{}", "a".repeat(pad), "\"\\\n".repeat(100));
            let quoted = quote(&value, 20);
            let inner = &quoted[1..quoted.find('…').unwrap()];
            // What is kept reads back as escapes only: no lone backslash at the end.
            assert!(inner.len() <= 20, "{quoted}");
            let trailing = inner.len() - inner.trim_end_matches('\\').len();
            assert_eq!(trailing % 2, 0, "{quoted}");
            assert!(
                !inner.ends_with("\\x") && !inner.ends_with("\\x0"),
                "{quoted}"
            );
        }
        assert_eq!(quote("short", 20), "\"short\"");
    }

    #[test]
    fn a_closed_log_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let mut audit = Audit::connect(&path).unwrap_or_else(|f| panic!("{f}"));
        drop(receiver);
        assert!(audit.start("true", None).is_err());
    }
}
