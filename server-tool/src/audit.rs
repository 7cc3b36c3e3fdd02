//! `--audit`: one syslog line per command (authpriv.info), written to the local syslog
//! socket as glibc's syslog(3) does, without unsafe FFI. It names who ran what, how it
//! ended, how many sealed bytes came out and the key fingerprint; never the output.
//!
//! The socket is connected before anything runs: an operator who asked for an audit trail
//! gets no unaudited run.

use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;

use crate::failure::{Failure, Result};

/// authpriv (10) * 8 + info (6).
const PRIORITY: u32 = 10 * 8 + 6;

enum Socket {
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

/// A connection to the system log.
pub struct Audit {
    socket: Socket,
}

/// What one line says.
pub struct Record<'a> {
    /// The command as shown to the user.
    pub command: &'a str,
    /// hush-run's exit code for this command.
    pub exit: i32,
    /// Bytes of sealed output delivered (0 if withheld).
    pub sealed_bytes: u64,
    /// The key fingerprint, or `None` in passphrase mode.
    pub fingerprint: Option<String>,
    /// `delivered`, `withheld`, `not-started` or `failed`.
    pub output: &'static str,
    /// Login uid and sudo user, from [`behind`] (empty in tests).
    pub behind: String,
}

impl Audit {
    /// Connects to the syslog socket (datagram, or stream as some systems use).
    pub fn connect(path: &Path) -> Result<Self> {
        let socket = match UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s)) {
            Ok(s) => Socket::Datagram(s),
            Err(first) => match UnixStream::connect(path) {
                Ok(s) => Socket::Stream(s),
                Err(_) => {
                    return Err(Failure::new(format!(
                        "--audit: cannot reach the system log at {}: {first}",
                        path.display()
                    ))
                    .hint("start rsyslog or systemd-journald, or run without --audit"));
                }
            },
        };
        Ok(Self { socket })
    }

    /// Sends one line.
    pub fn log(&mut self, record: Record<'_>) -> io::Result<()> {
        let record = Record {
            behind: behind(),
            ..record
        };
        let line = format_line(
            &record,
            std::process::id(),
            crate::user::uid(),
            &crate::user::name(),
        );
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
                escape(&sudo_user.to_string_lossy())
            ));
        }
    }
    out
}

fn format_line(r: &Record<'_>, pid: u32, uid: u32, user: &str) -> String {
    format!(
        "<{PRIORITY}>hush-run[{pid}]: user={} uid={uid}{} command={} exit={} sealed_bytes={} fingerprint={} output={}",
        escape(user),
        r.behind,
        escape(r.command),
        r.exit,
        r.sealed_bytes,
        r.fingerprint.as_deref().unwrap_or("passphrase"),
        r.output
    )
}

/// Quotes a value so that a hostile command line cannot forge fields or lines in the log.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_quoted_and_single() {
        let r = Record {
            command: "echo \"x\"\nfake=1",
            exit: 0,
            sealed_bytes: 10,
            fingerprint: Some("AAAA-BBBB-CCCC".into()),
            output: "delivered",
            behind: " login_uid=1000".into(),
        };
        let line = format_line(&r, 7, 0, "root");
        assert_eq!(
            line,
            "<86>hush-run[7]: user=\"root\" uid=0 login_uid=1000 command=\"echo \\\"x\\\"\\x0afake=1\" exit=0 sealed_bytes=10 \
             fingerprint=AAAA-BBBB-CCCC output=delivered"
        );
    }
}
