//! `hush open`: sealed data in; plaintext onto the clipboard (stdout is a terminal), to a
//! pipe as it authenticates, or to a file only once the whole message authenticated.

use shared::note;
use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use shared::cli::atomic::AtomicFile;
use shared::{Credentials, Summary};
use zeroize::Zeroizing;

use crate::cli::OpenArgs;
use crate::clipboard::{ClipboardService, Outcome};
use crate::creds;
use crate::failure::{Failure, code};
use crate::signals::{self, Signals};

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
    let candidates = creds::load(&args.creds, false)?;
    let mut input = input_reader(args)?;
    match (&args.output, clipboard) {
        (Some(path), _) => {
            let mut file = AtomicFile::create(path)?;
            let (summary, index) = open_into(input, &candidates, args.stderr, &mut file)?;
            file.commit().map_err(Failure::from)?;
            report(
                &summary,
                index,
                &candidates,
                args.stderr,
                &format!("written to {}", path.display()),
            );
            Ok(())
        }
        (None, Some(service)) => {
            let mut data = Vec::new();
            input
                .read_to_end(&mut data)
                .map_err(|e| Failure::new(code::OTHER, format!("cannot read the input: {e}")))?;
            onto_clipboard(&data, &candidates, args.stderr, service)
        }
        (None, None) => {
            // Straight to descriptor 1: the library writes large pieces, and Rust's stdout
            // buffer would keep a copy of plaintext that nothing wipes.
            let mut out = File::from(
                io::stdout()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(Failure::from)?,
            );
            let result = open_into(input, &candidates, args.stderr, &mut out);
            match result {
                Ok((summary, index)) => {
                    report(
                        &summary,
                        index,
                        &candidates,
                        args.stderr,
                        "written to stdout",
                    );
                    Ok(())
                }
                // The reader went away (`| head`): nothing more to say, as ripgrep does.
                Err(shared::Error::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// The sealed input as a stream. From a terminal, reading stops at the END line, so the
/// user needs no Ctrl-D after pasting.
fn input_reader(args: &OpenArgs) -> Result<Box<dyn Read + Send>, Failure> {
    match &args.input {
        Some(path) => Ok(Box::new(File::open(path).map_err(|e| {
            Failure::new(code::OTHER, format!("cannot read {}: {e}", path.display()))
        })?)),
        None if io::stdin().is_terminal() => {
            note!("Paste the sealed block (reading stops at its END line; Ctrl-D to end early):");
            let end: String = shared::armor::END
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let mut compact = String::new();
            let mut data = Vec::new();
            for line in io::stdin().lock().lines() {
                let line = line?;
                compact.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
                data.extend_from_slice(line.as_bytes());
                data.push(b'\n');
                if compact.contains(&end) {
                    break;
                }
            }
            Ok(Box::new(io::Cursor::new(data)))
        }
        None => Ok(Box::new(io::stdin())),
    }
}

/// Opens as a stream into `out` (the chosen stream's records; the other is counted only).
fn open_into(
    input: Box<dyn Read + Send>,
    candidates: &[Credentials],
    want_stderr: bool,
    out: &mut dyn Write,
) -> shared::Result<(Summary, usize)> {
    let mut sink = io::sink();
    if want_stderr {
        shared::open_stream(input, candidates, &mut sink, out)
    } else {
        shared::open_stream(input, candidates, out, &mut sink)
    }
}

fn onto_clipboard(
    input: &[u8],
    candidates: &[Credentials],
    want_stderr: bool,
    service: ClipboardService,
) -> Result<(), Failure> {
    let signals = Signals::install().map_err(Failure::from)?;
    let opened = shared::open(input, candidates)?;
    let bytes = if want_stderr {
        &opened.stderr
    } else {
        &opened.stdout
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => Zeroizing::new(t.to_owned()),
        Err(_) => {
            return Err(Failure::new(
                code::OTHER,
                format!(
                    "the output is binary ({} bytes): it cannot go on the clipboard as text",
                    bytes.len()
                ),
            )
            .hint("write it to a file with -o FILE, or pipe it"));
        }
    };
    let len = text.len();
    let what = if want_stderr { "stderr" } else { "plaintext" };
    let deadline = service.copy(text, what.to_owned()).map_err(Failure::from)?;
    report(
        &opened.summary,
        opened.key_index,
        candidates,
        want_stderr,
        "copied to the clipboard",
    );
    drop(opened);
    let interactive = io::stderr().is_terminal();
    let mut last_shown = None;
    let mut next_check = Instant::now() + Duration::from_secs(1);
    loop {
        if let Some(sig) = signals.pending() {
            let released = service.shutdown();
            if interactive {
                note!();
            }
            if let Some(r) = released {
                note!("hush: {r}");
            }
            return Err(Failure::new(signals::exit_code(sig), "interrupted"));
        }
        // stdout was a terminal when hush started; once it is hung up (window closed, SSH
        // gone) it no longer is, whether or not a SIGHUP reached hush.
        if !io::stdout().is_terminal() {
            service.shutdown();
            return Err(Failure::new(
                signals::exit_code(signal_hook::consts::signal::SIGHUP),
                "the terminal went away; clipboard cleared",
            ));
        }
        if let Some(released) = service.wait_ended(Duration::from_millis(200)) {
            if interactive {
                let _ = write!(io::stderr(), "\r\x1b[K");
            }
            note!("hush: {released}");
            return match released.outcome {
                Outcome::Failed(e) => Err(e.into()),
                _ => Ok(()),
            };
        }
        let left = deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .as_secs_f64()
                .ceil() as u64
        });
        if last_shown != Some(left) && (interactive || last_shown.is_none()) {
            let line = match left {
                Some(s) => format!(
                    "hush: {len} bytes on the clipboard; clears in {s} s (Ctrl-C clears now)"
                ),
                None => format!(
                    "hush: {len} bytes on the clipboard until you copy something else (Ctrl-C clears)"
                ),
            };
            let shown = if interactive {
                write!(io::stderr(), "\r\x1b[K{line}").and_then(|()| io::stderr().flush())
            } else {
                writeln!(io::stderr(), "{line}")
            };
            if let Err(e) = shown {
                // The terminal went away (window closed, SSH gone): clear and leave.
                service.shutdown();
                return Err(Failure::new(
                    signals::exit_code(signal_hook::consts::signal::SIGHUP),
                    format!("the terminal went away ({e}); clipboard cleared"),
                ));
            }
            last_shown = Some(left);
        }
        // In never-clear mode, end once the user copied something else.
        if deadline.is_none() && Instant::now() >= next_check {
            next_check = Instant::now() + Duration::from_secs(1);
            if !service.still_ours().unwrap_or(false) {
                if interactive {
                    note!();
                }
                note!("hush: the clipboard holds something else now; exiting");
                return Ok(());
            }
        }
    }
}

/// One line on stderr about what was opened: sizes, metadata, which key. Never the output.
fn report(
    summary: &Summary,
    index: usize,
    candidates: &[Credentials],
    want_stderr: bool,
    done: &str,
) {
    let what = if want_stderr {
        summary.stderr_len
    } else {
        summary.stdout_len
    };
    let key = match candidates.get(index).and_then(|c| c.fingerprint()) {
        Some(fp) => format!("key {fp}"),
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
