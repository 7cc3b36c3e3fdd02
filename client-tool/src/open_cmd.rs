//! `hush open`: sealed data in; plaintext onto the clipboard (stdout is a terminal), to a
//! pipe as it authenticates, or to a file only once the whole message authenticated.

use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use shared::cli::atomic::AtomicFile;
use shared::cli::stdout::{Abandoned, Stdout};
use shared::note;
use shared::{Credentials, Mode, Summary};
use zeroize::Zeroizing;

use crate::cli::OpenArgs;
use crate::clipboard::{ClipboardService, Outcome};
use crate::creds;
use crate::failure::Failure;
use crate::signals::Signals;

/// Runs `hush open`.
pub fn run(args: &OpenArgs, clear_after: Option<Duration>) -> Result<(), Failure> {
    let to_clipboard = args.output.is_none() && io::stdout().is_terminal();
    // Without a clipboard there is nowhere to put the plaintext: say so before asking for
    // a passphrase or decrypting anything.
    let clipboard = if to_clipboard {
        Some(ClipboardService::start(clear_after).map_err(Failure::from)?)
    } else {
        None
    };
    let with_identity = args.identity || args.identity_args.identity_passphrase_file.is_some();
    let mut candidates = match creds::load(&args.creds, false) {
        Err(Failure::NoKey) if with_identity => Vec::new(),
        other => other?,
    };
    if with_identity {
        let file = args.identity_args.identity_passphrase_file.as_deref();
        let identity = creds::identity(file, false)?.ok_or(Failure::NoIdentity)?;
        candidates.push(identity.credentials());
    }
    let input = input_reader(args)?;
    let destination = match (&args.output, clipboard) {
        (Some(path), _) => Destination::File(path.clone(), AtomicFile::create(path)?),
        (None, Some(service)) => Destination::Clipboard(service),
        (None, None) => Destination::Stdout(Stdout::new()?),
    };
    hand_over(destination, input, &candidates, args.stderr, &mut || {})
}

/// Where opened plaintext goes: an all-or-nothing file, the clipboard, or stdout.
pub(crate) enum Destination {
    File(PathBuf, AtomicFile),
    Clipboard(ClipboardService),
    Stdout(Stdout),
}

/// Opens `input` into `destination` (`hush open`, `hush receive`); calls `handed_over`
/// once the plaintext is wholly there.
pub(crate) fn hand_over(
    destination: Destination,
    mut input: Box<dyn Read + Send>,
    candidates: &[Credentials],
    want_stderr: bool,
    handed_over: &mut dyn FnMut(),
) -> Result<(), Failure> {
    match destination {
        Destination::File(path, mut file) => {
            // On failure the temporary file is dropped, so deleted: nothing was released.
            let (summary, index, mode) = open_into(input, candidates, want_stderr, &mut file)
                .map_err(|e| Failure::opening(e, Abandoned::Nothing))?;
            file.commit()?;
            handed_over();
            let done = format!("written to {}", path.display());
            report(&summary, index, mode, candidates, want_stderr, &done);
            Ok(())
        }
        Destination::Clipboard(service) => {
            let mut data = Vec::new();
            input.read_to_end(&mut data).map_err(Failure::Stdin)?;
            onto_clipboard(&data, candidates, want_stderr, service, handed_over)
        }
        Destination::Stdout(mut out) => match open_into(input, candidates, want_stderr, &mut out) {
            Ok((summary, index, mode)) => {
                out.finish();
                handed_over();
                report(
                    &summary,
                    index,
                    mode,
                    candidates,
                    want_stderr,
                    "written to stdout",
                );
                Ok(())
            }
            // The reader went away (`| head`): nothing more to say, as ripgrep does.
            Err(shared::Error::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => {
                let abandoned = out.abandon();
                Err(Failure::opening(e, abandoned))
            }
        },
    }
}

/// The sealed input as a stream. From a terminal, reading stops at the END line, so the
/// user needs no Ctrl-D after pasting.
fn input_reader(args: &OpenArgs) -> Result<Box<dyn Read + Send>, Failure> {
    match &args.input {
        Some(path) => Ok(Box::new(File::open(path).map_err(|source| {
            Failure::Input {
                path: path.clone(),
                source,
            }
        })?)),
        None if io::stdin().is_terminal() => {
            note!("Paste the sealed block (reading stops at its END line; Ctrl-D to end early):");
            let data = read_to_end_line(&mut io::stdin().lock())?;
            Ok(Box::new(io::Cursor::new(data)))
        }
        None => Ok(Box::new(io::stdin())),
    }
}

/// Reads pasted lines up to the one that completes the armor's END marker (or to the end of
/// the input), and returns them as they came.
///
/// Terminals and tmux break long lines at soft wraps, so the marker is looked for with
/// white space dropped, and it may straddle lines. Only the new line and the few characters
/// before it can complete it: the check looks at a tail of the compacted text one marker
/// long, never at everything read so far (which made a 7 MB paste take 37 s).
fn read_to_end_line(input: &mut dyn BufRead) -> io::Result<Vec<u8>> {
    let end = shared::armor::compact(shared::armor::END);
    let mut data = Vec::new();
    // The last `end.len() - 1` compacted bytes before the current line, then that line's.
    let mut tail: Vec<u8> = Vec::with_capacity(2 * end.len());
    loop {
        let start = data.len();
        if input.read_until(b'\n', &mut data)? == 0 {
            return Ok(data);
        }
        tail.extend(data[start..].iter().filter(|b| !b.is_ascii_whitespace()));
        if tail.windows(end.len()).any(|w| w == end.as_slice()) {
            return Ok(data);
        }
        let keep = tail.len().min(end.len() - 1);
        tail.drain(..tail.len() - keep);
    }
}

/// Opens as a stream into `out` (the chosen stream's records; the other is counted only).
pub(crate) fn open_into(
    input: Box<dyn Read + Send>,
    candidates: &[Credentials],
    want_stderr: bool,
    out: &mut dyn Write,
) -> shared::Result<(Summary, usize, Mode)> {
    let mut sink = io::sink();
    if want_stderr {
        shared::open_stream(input, candidates, &mut sink, out)
    } else {
        shared::open_stream(input, candidates, out, &mut sink)
    }
}

/// Opens the whole message, puts the chosen stream on the clipboard (nothing unless all of
/// it authenticated), calls `handed_over` once it is there, then counts down until the
/// lease ends.
pub(crate) fn onto_clipboard(
    input: &[u8],
    candidates: &[Credentials],
    want_stderr: bool,
    service: ClipboardService,
    handed_over: impl FnOnce(),
) -> Result<(), Failure> {
    let signals = Signals::install()?;
    let opened =
        shared::open(input, candidates).map_err(|e| Failure::opening(e, Abandoned::Nothing))?;
    let bytes = if want_stderr {
        &opened.stderr
    } else {
        &opened.stdout
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(Failure::BinaryOutput(bytes.len()));
    };
    let text = Zeroizing::new(text.to_owned());
    let len = text.len();
    let what = if want_stderr { "stderr" } else { "plaintext" };
    let deadline = service.copy(text, what.to_owned()).map_err(Failure::from)?;
    report(
        &opened.summary,
        opened.key_index,
        opened.mode,
        candidates,
        want_stderr,
        "copied to the clipboard",
    );
    drop(opened);
    handed_over();
    let countdown = Countdown {
        interactive: io::stderr().is_terminal(),
        len,
        deadline,
    };
    countdown.run(service, &signals)
}

/// The wait while the plaintext is on the clipboard: a countdown line on stderr (redrawn in
/// place on a terminal), until the lease ends, a signal arrives or the terminal goes away.
struct Countdown {
    interactive: bool,
    len: usize,
    /// When the lease ends (`None`: when the user copies something else).
    deadline: Option<Instant>,
}

impl Countdown {
    fn run(&self, service: ClipboardService, signals: &Signals) -> Result<(), Failure> {
        let mut last_shown = None;
        let mut next_check = Instant::now() + Duration::from_secs(1);
        loop {
            if let Some(sig) = signals.pending() {
                let released = service.shutdown();
                self.end_line();
                if let Some(r) = released {
                    note!("hush: {r}");
                }
                return Err(Failure::Signal(sig));
            }
            // stdout was a terminal when hush started; once it is hung up (window closed,
            // SSH gone) it no longer is, whether or not a SIGHUP reached hush.
            if !io::stdout().is_terminal() {
                service.shutdown();
                return Err(Failure::TerminalGone);
            }
            if let Some(released) = service.wait_ended(Duration::from_millis(200)) {
                if self.interactive {
                    let _ = shared::cli::stderr::write("\r\x1b[K");
                }
                note!("hush: {released}");
                return match released.outcome {
                    Outcome::Failed(e) => Err(e.into()),
                    _ => Ok(()),
                };
            }
            let left = self.seconds_left();
            if last_shown != Some(left) && (self.interactive || last_shown.is_none()) {
                if self.show(left).is_err() {
                    // The terminal went away (window closed, SSH gone): clear and leave.
                    service.shutdown();
                    return Err(Failure::TerminalGone);
                }
                last_shown = Some(left);
            }
            // In never-clear mode, end once the user copied something else.
            if self.deadline.is_none() && Instant::now() >= next_check {
                next_check = Instant::now() + Duration::from_secs(1);
                if !service.still_ours().unwrap_or(false) {
                    self.end_line();
                    note!("hush: the clipboard holds something else now; exiting");
                    return Ok(());
                }
            }
        }
    }

    fn seconds_left(&self) -> Option<u64> {
        self.deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .as_secs_f64()
                .ceil() as u64
        })
    }

    /// Writes the countdown line; an error means the terminal is gone.
    fn show(&self, left: Option<u64>) -> io::Result<()> {
        let len = self.len;
        let line = match left {
            Some(s) => {
                format!("hush: {len} bytes on the clipboard; clears in {s} s (Ctrl-C clears now)")
            }
            None => format!(
                "hush: {len} bytes on the clipboard until you copy something else (Ctrl-C clears)"
            ),
        };
        if self.interactive {
            shared::cli::stderr::write(&format!("\r\x1b[K{line}"))
        } else {
            shared::cli::stderr::write(&format!("{line}\n"))
        }
    }

    /// Ends the countdown's line on a terminal, so that the next note starts on its own.
    fn end_line(&self) {
        if self.interactive {
            note!();
        }
    }
}

/// One line on stderr about what was opened: sizes, metadata, which key. Never the output.
pub(crate) fn report(
    summary: &Summary,
    index: usize,
    mode: Mode,
    candidates: &[Credentials],
    want_stderr: bool,
    done: &str,
) {
    let what = if want_stderr {
        summary.stderr_len
    } else {
        summary.stdout_len
    };
    let key = match candidates.get(index) {
        Some(Credentials::Relay(session)) => format!("the relay pairing {}", session.receiver_code),
        Some(c @ Credentials::Devices(_)) => format!(
            "this laptop's identity, sealed by {}",
            crate::keyring::sealed_by(c, mode).unwrap_or_default()
        ),
        Some(c) => match c.fingerprint() {
            Some(fp) => format!("key {fp}"),
            None => "the passphrase".to_owned(),
        },
        None => "the passphrase".to_owned(),
    };
    let mut line = format!("hush: opened with {key}: {what} bytes {done}");
    let meta = crate::keyring::describe_summary(summary);
    if !meta.is_empty() {
        line.push_str(&format!(" ({meta})"));
    }
    note!("{line}");
    if !want_stderr && summary.stderr_len > 0 {
        note!(
            "hush: the message also holds {} bytes of stderr (use --stderr for them)",
            summary.stderr_len
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pasted block of `lines` base64 lines, as a terminal delivers it.
    fn pasted_block(lines: usize) -> Vec<u8> {
        let mut text = format!("{}\r\n", shared::armor::BEGIN).into_bytes();
        for i in 0..lines {
            let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26];
            text.extend(std::iter::repeat_n(c, 64));
            text.extend_from_slice(b"  \r\n");
        }
        text
    }

    #[test]
    fn a_10_mb_paste_is_read_up_to_its_end_line_in_linear_time() {
        let mut block = pasted_block(10 * 1024 * 1024 / 68);
        // The END line, broken at a soft wrap as tmux copies it, then what must stay unread.
        block.extend_from_slice(b"-----END HUSH SEA\n  LED MESSAGE----- \n");
        let want = block.len();
        block.extend_from_slice(b"typed after the block\n");
        let started = Instant::now();
        let read = read_to_end_line(&mut io::Cursor::new(&block)).unwrap();
        // Not asserted (shared machines vary); shown with --nocapture for the record.
        println!(
            "read {} bytes up to END in {:?}",
            read.len(),
            started.elapsed()
        );
        assert_eq!(read.len(), want);
        assert!(read == block[..want]);
    }

    #[test]
    fn the_end_marker_is_found_wherever_the_lines_break() {
        let end = shared::armor::END;
        for cut in 0..end.len() {
            let mut block = pasted_block(3);
            block.extend_from_slice(&end.as_bytes()[..cut]);
            block.extend_from_slice(b"\n");
            block.extend_from_slice(&end.as_bytes()[cut..]);
            block.extend_from_slice(b"\nmore\n");
            let read = read_to_end_line(&mut io::Cursor::new(&block)).unwrap();
            assert!(
                read.ends_with(format!("{}\n", &end[cut..]).as_bytes()),
                "cut {cut}"
            );
        }
        // No END line: everything up to the end of the input (Ctrl-D).
        let block = pasted_block(3);
        let read = read_to_end_line(&mut io::Cursor::new(&block)).unwrap();
        assert_eq!(read, block);
        // A BEGIN line is not mistaken for END, however it is broken.
        let read = read_to_end_line(&mut io::Cursor::new(b"-----BEG\nIN x\n")).unwrap();
        assert_eq!(read.len(), 14);
    }
}
