//! One invocation of hush-run: get the key once, then run one command (or several, in
//! interactive mode), each output sealed as its own message.

use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;

use shared::cli::prompt::Tty;
use shared::note;
use shared::{Credentials, SealOptions, SealWriter, Stream};

use crate::audit::{self, Audit};
use crate::child::{self, Ended, RunError, Sink};
use crate::cli::Cli;
use crate::command::{self, Spec};
use crate::credentials::{self, Source};
use crate::failure::{EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_USAGE, Failure, Result};
use crate::output::Output;
use crate::signals::Signals;

/// Options that apply to every command of the invocation.
struct Settings {
    output: Option<PathBuf>,
    binary: bool,
    seal_stderr: bool,
    seal_on_error: bool,
    stream: bool,
    quiet: bool,
}

struct Session {
    creds: Credentials,
    fingerprint: Option<String>,
    settings: Settings,
    signals: Signals,
    audit: Option<Audit>,
}

impl Sink for SealWriter<File> {
    fn take(&mut self, stream: Stream, data: &[u8]) -> shared::Result<()> {
        self.write(stream, data)
    }
}

/// Runs the invocation; returns the exit code.
pub fn run(cli: Cli) -> Result<Ended> {
    if cli.binary && cli.output.is_none() && std::io::stdout().is_terminal() {
        return Err(
            Failure::new("refusing to write binary sealed data to a terminal")
                .hint("use -o FILE, redirect stdout, or drop --binary for armored text")
                .code(EXIT_USAGE),
        );
    }
    let source = credentials::source(cli.key_file, cli.key_fd, cli.passphrase);
    // A key descriptor is read first, before hush-run opens descriptors of its own: a number
    // the caller forgot to open must be an error, not one of ours taken by mistake.
    let from_fd = match source {
        Source::Fd(fd) => Some(credentials::from_fd(fd)?),
        _ => None,
    };
    let signals = Signals::install().map_err(|e| Failure::new(e.to_string()))?;
    let spec = match (cli.shell, cli.command.is_empty()) {
        (Some(line), _) => Some(Spec::Shell(line)),
        (None, false) => Some(Spec::Argv(cli.command)),
        (None, true) => None,
    };
    // Opened only if needed: automation without a terminal must not fail for lack of one.
    let mut tty = if credentials::needs_tty(&source) || spec.is_none() {
        Tty::open()
    } else {
        Err(shared::cli::Error::NoTerminal(std::io::Error::other(
            "not needed",
        )))
    };
    if spec.is_none() {
        if let Err(e) = &tty {
            return Err(Failure::new(format!(
                "no command given, and no terminal to ask for one on ({})",
                credentials::tty_reason(e)
            ))
            .hint("hush-run -- CMD [ARGS...], or hush-run --shell 'CMD | ...'")
            .code(EXIT_USAGE));
        }
    }
    if spec.is_none() && cli.output.is_some() {
        // Each command would replace the previous one's file.
        return Err(Failure::new(
            "-o FILE takes the output of one command, not of an interactive session",
        )
        .hint("give the command: hush-run -o FILE -- CMD [ARGS...]")
        .code(EXIT_USAGE));
    }
    // Before the key is asked: a bad output folder or an unreachable log is reported
    // without wasting the entry.
    if let Some(path) = &cli.output {
        let dir = shared::cli::parent_dir(path);
        if !dir.is_dir() {
            return Err(Failure::new(format!(
                "-o {}: the folder {} does not exist",
                path.display(),
                dir.display()
            )));
        }
    }
    let audit = if cli.audit {
        Some(Audit::connect(&cli.audit_socket)?)
    } else {
        None
    };
    let creds = match from_fd {
        Some(creds) => creds,
        None => credentials::obtain(source, &mut tty)?,
    };
    // Held for the whole session (interactive mode): out of swap and core dumps.
    shared::cli::hardening::protect_credentials(&creds);
    let fingerprint = creds.fingerprint().map(|f| f.to_string());
    if !cli.quiet {
        match &fingerprint {
            Some(f) => note!("hush-run: key fingerprint {f}"),
            None => note!("hush-run: sealing with a passphrase (Argon2id)"),
        }
    }
    let settings = Settings {
        output: cli.output,
        binary: cli.binary,
        seal_stderr: cli.seal_stderr,
        seal_on_error: cli.seal_on_error,
        stream: cli.stream,
        quiet: cli.quiet,
    };
    let mut session = Session {
        creds,
        fingerprint,
        settings,
        signals,
        audit,
    };
    match (spec, tty) {
        (Some(spec), _) => session.run(&spec),
        (None, Ok(mut tty)) => session.interactive(&mut tty),
        (None, Err(_)) => Ok(Ended::code(EXIT_USAGE)),
    }
}

impl Session {
    /// Prompts for commands until an empty line or Ctrl-D. Returns how the last one ended.
    fn interactive(&mut self, tty: &mut Tty) -> Result<Ended> {
        let mut last = Ended::code(0);
        loop {
            let line = tty
                .read_line("hush-run> ")
                .map_err(|e| Failure::new(format!("cannot read from the terminal: {e}")))?;
            let Some(line) = line else {
                tty.say("\n");
                return Ok(last);
            };
            if line.trim().is_empty() {
                return Ok(last);
            }
            last = match self.run(&Spec::Shell(line)) {
                // A command stopped by Ctrl-C ends only itself, as in a shell: the session
                // goes on, and its status is reported as a plain 128+N at the end.
                Ok(ended) => Ended::code(ended.exit_code()),
                // One failed command does not end the session: report it and go on.
                Err(f) => {
                    shared::cli::failure::report("hush-run", &f);
                    Ended::code(f.code)
                }
            };
        }
    }

    /// Runs one command and delivers its sealed output. Returns how the command ended.
    fn run(&mut self, spec: &Spec) -> Result<Ended> {
        let Settings {
            binary,
            seal_stderr,
            seal_on_error,
            stream,
            quiet,
            ..
        } = self.settings;
        let output = Output::open(self.settings.output.as_deref(), stream, seal_stderr)?;
        let meta = command::metadata(spec);
        // Armor and writing run on a second thread, overlapping with encryption; nothing is
        // written before the first 256 KiB of sealed bytes (see `shared::offload`), so a
        // command that fails early leaves nothing even on a streamed stdout.
        let mut sealer = output
            .file()
            .map_err(shared::Error::Io)
            .and_then(|file| {
                SealWriter::new_offloaded(file, &self.creds, &meta, !binary, SealOptions::default())
            })
            .map_err(|e| Failure::new(format!("cannot start the sealed output: {e}")))?;
        let written = sealer.written().unwrap_or_default();
        let shown = spec.display();
        // Logged before the command starts: if it cannot be, the command does not run.
        let run = match self
            .audit
            .as_mut()
            .map(|a| a.start(&shown, self.fingerprint.as_deref()))
        {
            None => None,
            Some(Ok(run)) => Some(run),
            Some(Err(e)) => {
                drop(sealer);
                output.discard();
                return Err(Failure::new(format!(
                    "--audit: cannot write to the system log: {e}; the command was not run"
                ))
                .hint(
                    "check that rsyslog or systemd-journald is running, or run without --audit",
                ));
            }
        };
        let run = run.as_ref();
        let outcome = match child::run(spec, seal_stderr, &self.signals, &mut sealer) {
            Ok(outcome) => outcome,
            Err(RunError::Spawn(e)) => {
                drop(sealer);
                output.discard();
                let (code, why) = match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        (EXIT_NOT_FOUND, "command not found".to_owned())
                    }
                    std::io::ErrorKind::PermissionDenied => {
                        (EXIT_CANNOT_EXECUTE, "permission denied".to_owned())
                    }
                    _ => (EXIT_CANNOT_EXECUTE, e.to_string()),
                };
                self.log(run, code, 0, "not-started");
                return Err(
                    Failure::new(format!("cannot run '{}': {why}", spec.program())).code(code),
                );
            }
            Err(RunError::Output(e)) => {
                drop(sealer);
                output.discard();
                self.log(run, crate::failure::EXIT_OWN_FAILURE, 0, "failed");
                return Err(
                    Failure::new(format!("cannot seal the output of {shown}: {e}")).hint(
                        "the command was stopped; check free space in the output folder or TMPDIR",
                    ),
                );
            }
        };
        let code = outcome.ended.exit_code();
        let succeeded = outcome.ended == Ended::Exited(0);
        if !succeeded && !seal_on_error {
            drop(sealer);
            // An unfinished block is on stdout only if some of it was written before the end.
            let unfinished = output.discard() && written.get() > 0;
            self.log(run, code, 0, "withheld");
            // One line: what ended how, and that nothing was shown.
            let withheld = outcome.stdout_bytes + outcome.stderr_bytes;
            let note = if unfinished {
                "the sealed block above is unfinished and cannot be opened"
            } else {
                "--seal-on-error seals it anyway"
            };
            note!(
                "hush-run: {shown}: {}; its output ({withheld} bytes) was withheld ({note})",
                outcome.ended.describe()
            );
            return Ok(outcome.ended);
        }
        let sealed = sealer.finish(Some(code)).map(|_file| written.get());
        let delivered = sealed.map_err(|e| e.to_string()).and_then(|bytes| {
            output
                .commit()
                .map(|to| (bytes, to))
                .map_err(|e| e.to_string())
        });
        let (bytes, to) = match delivered {
            Ok(done) => done,
            Err(e) => {
                self.log(run, crate::failure::EXIT_OWN_FAILURE, 0, "failed");
                return Err(Failure::new(format!("cannot write the sealed output: {e}")));
            }
        };
        self.log(run, code, bytes, "delivered");
        if !succeeded {
            note!(
                "hush-run: {shown}: {}; its output was sealed anyway (--seal-on-error)",
                outcome.ended.describe()
            );
        } else if outcome.stdout_bytes == 0 && !seal_stderr {
            note!(
                "hush-run: warning: {shown}: printed nothing on stdout (if the secret went to stderr, use --seal-stderr)"
            );
        } else if !quiet {
            let what = if seal_stderr {
                "stdout and stderr"
            } else {
                "stdout"
            };
            let to = if to == "stdout" {
                String::new()
            } else {
                format!(" into {to}")
            };
            note!(
                "hush-run: sealed {} bytes of {what}{to}",
                outcome.stdout_bytes + outcome.stderr_bytes
            );
        }
        Ok(outcome.ended)
    }

    /// Writes the end record of `run` (if --audit). The command has run by now: a record
    /// that cannot be written is worth a warning, not a failure.
    fn log(
        &mut self,
        run: Option<&audit::Run>,
        exit: i32,
        sealed_bytes: u64,
        output: &'static str,
    ) {
        if let (Some(audit), Some(run)) = (&mut self.audit, run) {
            let end = audit::End {
                exit,
                sealed_bytes,
                output,
            };
            if let Err(e) = audit.end(run, &end, self.fingerprint.as_deref()) {
                note!("hush-run: warning: --audit: cannot write to the system log: {e}");
            }
        }
    }
}
