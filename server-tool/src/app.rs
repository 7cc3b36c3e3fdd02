//! One invocation of hush-run: get the key once, then run one command (or several, in
//! interactive mode), each output sealed as its own message.

use shared::Written;
use shared::cli::prompt::Tty;
use shared::note;
use shared::{Credentials, SealOptions, SealWriter, Stream};

use crate::audit::{self, Audit};
use crate::child::{self, Ended, Outcome, RunError, Sink};
use crate::command::{self, Spec};
use crate::credentials;
use crate::failure::{EXIT_OWN_FAILURE, Failure, Result};
use crate::mailbox::{self, Mailboxes};
use crate::output::{Dest, Output};
use crate::plan::{KeySource, LaterKey, Plan, Sealing, Work};
use crate::relay::{self, Outgoing, Paired};
use crate::signals::Signals;

impl Sink for Delivery {
    fn take(&mut self, stream: Stream, data: &[u8]) -> shared::Result<()> {
        match self {
            Delivery::Local { sealer, .. } => sealer.write(stream, data),
            Delivery::Relay(outgoing) => outgoing.take(stream, data),
            Delivery::Mailbox(outgoing) => outgoing.take(stream, data),
        }
    }
}

/// Runs the plan; returns how the (last) command ended.
pub fn run(plan: Plan) -> Result<Ended> {
    // A key descriptor is read first, before hush-run opens descriptors of its own: a number
    // the caller forgot to open must be an error, not one of ours taken by mistake.
    let key = match plan.key {
        KeySource::Fd(fd) => Ok(credentials::from_fd(fd)?),
        KeySource::Later(later) => Err(later),
    };
    let signals = Signals::install().map_err(Failure::Signals)?;
    // Interactive mode needs the terminal: without one that is a usage error, found before
    // the key is asked.
    let mut tty = match plan.work {
        Work::Interactive => Some(Tty::open().map_err(Failure::NoCommand)?),
        Work::One(_) => None,
    };
    // Before the key is asked too: an unreachable log does not waste the entry.
    let audit = plan.audit.as_deref().map(Audit::connect).transpose()?;
    let target = match &plan.relay {
        // Relay mode: the pairing takes the key's place, before anything runs.
        Some(settings) => {
            let tty = match &mut tty {
                Some(tty) => tty,
                None => tty.insert(Tty::open().map_err(Failure::NoApprovalTerminal)?),
            };
            Target::Relay(Box::new(relay::pair(settings, tty, plan.sealing.quiet)?))
        }
        // `key` holds the credentials read from the descriptor, or what is still to obtain.
        None => match key {
            Ok(creds) => Target::Key(creds),
            Err(LaterKey::File(path)) => Target::Key(credentials::from_file(&path)?),
            Err(LaterKey::Prompt) => Target::Key(credentials::ask_key(terminal(&mut tty)?)?),
            Err(LaterKey::Passphrase) => {
                Target::Key(credentials::ask_passphrase(terminal(&mut tty)?)?)
            }
            Err(LaterKey::Devices { names, print }) => {
                let to = credentials::for_devices(&names, plan.sealing.quiet)?;
                if print || !to.any() {
                    Target::Key(to.into_credentials())
                } else {
                    Target::Mailboxes(Box::new(to))
                }
            }
        },
    };
    let mut session = Session::new(target, plan.output, plan.sealing, signals, audit);
    let ended = match plan.work {
        Work::One(spec) => session.run(&spec),
        Work::Interactive => session.interactive(terminal(&mut tty)?),
    };
    session.end();
    ended
}

/// What the output is sealed for.
enum Target {
    /// A key and IV, or a passphrase.
    Key(Credentials),
    /// Each receiver approved through the relay.
    Relay(Box<Paired>),
    /// Remembered devices, through their relay mailboxes (`--to`).
    Mailboxes(Box<Mailboxes>),
}

/// The controlling terminal, opened the first time it is needed.
fn terminal(tty: &mut Option<Tty>) -> Result<&mut Tty> {
    match tty {
        Some(tty) => Ok(tty),
        None => Ok(tty.insert(Tty::open().map_err(Failure::NoTerminal)?)),
    }
}

/// The key and settings of an invocation, for each command it runs.
struct Session {
    target: Target,
    fingerprint: Option<String>,
    output: Option<std::path::PathBuf>,
    sealing: Sealing,
    signals: Signals,
    audit: Option<Audit>,
}

/// One command's sealed output on its way out.
enum Delivery {
    /// To stdout or a file.
    Local {
        output: Output,
        /// Boxed: large, and one per command.
        sealer: Box<SealWriter<Dest>>,
        written: Written,
    },
    /// To each receiver, through the relay.
    Relay(Outgoing),
    /// To the devices' mailboxes.
    Mailbox(mailbox::Outgoing),
}

impl Session {
    fn new(
        target: Target,
        output: Option<std::path::PathBuf>,
        sealing: Sealing,
        signals: Signals,
        audit: Option<Audit>,
    ) -> Self {
        let mut fingerprint = None;
        let creds = match &target {
            Target::Key(creds) => Some(creds),
            Target::Mailboxes(m) => Some(m.credentials()),
            Target::Relay(_) => None,
        };
        if let Some(creds) = creds {
            // Held for the whole session (interactive mode): out of swap and core dumps.
            shared::cli::hardening::protect_credentials(creds);
            fingerprint = creds.fingerprint().map(|f| f.to_string());
            if !sealing.quiet {
                match (&fingerprint, creds) {
                    (Some(f), _) => note!("hush-run: key fingerprint {f}"),
                    (None, Credentials::Devices(keys)) => note!(
                        "hush-run: sealing for {} as this server ({})",
                        keys.peers
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        keys.own.public().fingerprint()
                    ),
                    (None, _) => note!("hush-run: sealing with a passphrase (Argon2id)"),
                }
            }
        }
        Self {
            target,
            fingerprint,
            output,
            sealing,
            signals,
            audit,
        }
    }

    /// Prompts for commands until an empty line or Ctrl-D. Returns how the last one ended.
    fn interactive(&mut self, tty: &mut Tty) -> Result<Ended> {
        let mut last = Ended::code(0);
        loop {
            let line = tty.read_line("hush-run> ").map_err(Failure::Terminal)?;
            let Some(line) = line else {
                // Ctrl-D: end the prompt's line.
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
                    Ended::code(i32::from(shared::cli::failure::Failure::exit_code(&f)))
                }
            };
        }
    }

    /// Runs one command and delivers its sealed output. Returns how the command ended.
    fn run(&mut self, spec: &Spec) -> Result<Ended> {
        let mut delivery = self.start_delivery(spec)?;
        let shown = spec.display();
        // Logged before the command starts: if it cannot be, the command does not run.
        let run = match self.audit.as_mut() {
            Some(audit) => Some(
                audit
                    .start(&shown, self.fingerprint.as_deref())
                    .map_err(Failure::AuditStart)?,
            ),
            None => None,
        };
        let run = run.as_ref();
        let ran = child::run(spec, self.sealing.seal_stderr, &self.signals, &mut delivery);
        let outcome = match ran {
            Ok(outcome) => outcome,
            Err(e) => {
                delivery.discard();
                let (code, failure) = match e {
                    RunError::Spawn(e) => (None, Failure::spawn(spec.program(), e)),
                    RunError::Output(source) => (
                        Some("failed"),
                        Failure::Sealing {
                            command: shown,
                            source,
                        },
                    ),
                };
                let exit = shared::cli::failure::Failure::exit_code(&failure);
                self.log(run, i32::from(exit), 0, code.unwrap_or("not-started"));
                return Err(failure);
            }
        };
        if outcome.ended != Ended::Exited(0) && !self.sealing.seal_on_error {
            let unfinished = delivery.discard();
            self.log(run, outcome.ended.exit_code(), 0, "withheld");
            withheld(&shown, &outcome, unfinished);
            if let Target::Relay(paired) = &self.target {
                note!("hush-run: nothing was sent to {}", paired.receivers());
            }
            return Ok(outcome.ended);
        }
        match delivery.finish(outcome.ended.exit_code(), &mut self.target) {
            Ok((bytes, to)) => {
                self.log(run, outcome.ended.exit_code(), bytes, "delivered");
                self.delivered(&shown, &outcome, &to);
                Ok(outcome.ended)
            }
            Err(e) => {
                self.log(run, i32::from(EXIT_OWN_FAILURE), 0, "failed");
                Err(Failure::Delivery(e))
            }
        }
    }

    /// Prepares the destination and the sealer before the command starts, so that an
    /// unusable one is reported without running anything.
    fn start_delivery(&self, spec: &Spec) -> Result<Delivery> {
        let Sealing {
            binary,
            seal_stderr,
            stream,
            ..
        } = self.sealing;
        let meta = command::metadata(spec);
        let creds = match &self.target {
            Target::Key(creds) => creds,
            Target::Relay(paired) => return Ok(Delivery::Relay(Outgoing::start(paired, &meta)?)),
            Target::Mailboxes(to) => return Ok(Delivery::Mailbox(to.start(&meta)?)),
        };
        let output = Output::open(self.output.as_deref(), stream, seal_stderr)?;
        // Armor and writing run on a second thread, overlapping with encryption; nothing is
        // written before the first 256 KiB of sealed bytes (see `shared::offload`), so a
        // command that fails early leaves nothing even on a streamed stdout.
        let sealer = output
            .sink()
            .map_err(shared::Error::Io)
            .and_then(|sink| {
                SealWriter::new_offloaded(sink, creds, &meta, !binary, SealOptions::default())
            })
            .map_err(Failure::StartSealing)?;
        let written = sealer.written().unwrap_or_default();
        Ok(Delivery::Local {
            output,
            sealer: Box::new(sealer),
            written,
        })
    }

    /// The end of the invocation: the relay's room is closed (unless a message waits in it).
    fn end(self) {
        if let Target::Relay(paired) = self.target {
            paired.close();
        }
    }

    /// Notes what was delivered where.
    fn delivered(&self, shown: &str, outcome: &Outcome, to: &str) {
        let seal_stderr = self.sealing.seal_stderr;
        if outcome.ended != Ended::Exited(0) {
            note!(
                "hush-run: {shown}: {}; its output was sealed anyway (--seal-on-error)",
                outcome.ended.describe()
            );
        } else if outcome.stdout_bytes == 0 && !seal_stderr {
            note!(
                "hush-run: warning: {shown}: printed nothing on stdout (if the secret went to stderr, use --seal-stderr)"
            );
        } else if !self.sealing.quiet {
            let what = if seal_stderr {
                "stdout and stderr"
            } else {
                "stdout"
            };
            note!(
                "hush-run: sealed {} bytes of {what}{to}",
                outcome.stdout_bytes + outcome.stderr_bytes
            );
        }
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

/// One line: what ended how, and that its output was not shown.
fn withheld(shown: &str, outcome: &Outcome, unfinished: bool) {
    let withheld = outcome.stdout_bytes + outcome.stderr_bytes;
    let note = if unfinished {
        "the sealed block above is unfinished: `hush open` releases its complete part"
    } else {
        "--seal-on-error seals it anyway"
    };
    note!(
        "hush-run: {shown}: {}; its output ({withheld} bytes) was withheld ({note})",
        outcome.ended.describe()
    );
}

impl Delivery {
    /// Throws the sealed output away; returns whether an unfinished block was left on a
    /// streamed stdout (only if some of it was written before the end).
    fn discard(self) -> bool {
        match self {
            Delivery::Local {
                output,
                sealer,
                written,
            } => {
                drop(sealer);
                output.discard() && written.get() > 0
            }
            Delivery::Relay(outgoing) => {
                drop(outgoing);
                false
            }
            Delivery::Mailbox(outgoing) => {
                drop(outgoing);
                false
            }
        }
    }

    /// Ends the message with the exit status and delivers it; returns the bytes written and
    /// where they went, for the note (`""` for stdout, ` into FILE`, ` for K7MQ`).
    fn finish(self, exit_status: i32, target: &mut Target) -> std::io::Result<(u64, String)> {
        match (self, target) {
            (
                Delivery::Local {
                    output,
                    sealer,
                    written,
                },
                _,
            ) => {
                let sink = sealer
                    .finish(Some(exit_status))
                    .map_err(std::io::Error::other)?;
                let to = output.commit(sink)?;
                let to = if to == "stdout" {
                    String::new()
                } else {
                    format!(" into {to}")
                };
                Ok((written.get(), to))
            }
            (Delivery::Relay(outgoing), Target::Relay(paired)) => {
                outgoing.finish(exit_status, paired)
            }
            (Delivery::Mailbox(outgoing), Target::Mailboxes(to)) => {
                outgoing.finish(exit_status, to)
            }
            (Delivery::Relay(_) | Delivery::Mailbox(_), _) => {
                Err(std::io::Error::other("a delivery without its target"))
            }
        }
    }
}
