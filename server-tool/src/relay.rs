//! Relay mode (`--relay`): pair with `hush` on one or more laptops through a hush-relay
//! with a one-time code, before the command runs (a failed pairing never wastes a one-shot
//! setup command); then seal the command's output once per approved receiver (envelope
//! mode 0x03) and deliver it through the relay, printing the armored block instead when
//! the relay cannot take it (docs/RELAY.md, docs/hush-run.md "Relay mode").
//!
//! The code's secret half is shown on the terminal only (never stderr, argv, a log or a
//! `Debug`), and taken off the screen once the pairing is over.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shared::cli::config;
use shared::cli::devices::{self, PeerKind, Peers};
use shared::cli::prompt::Tty;
use shared::cli::relay_client::{RelayClient, RelayError, parse_pin};
use shared::cli::relay_flow::{Approval, Candidate, FlowError, SenderRoom, payload_id};
use shared::cli::remember::{Offer, Reply};
use shared::cli::stderr::StatusLine;
use shared::{Credentials, Metadata, SealOptions, SealWriter, Stream, note};
use zeroize::Zeroizing;

use crate::failure::{Failure, Result};

/// The largest payload the protocol lets a relay take (docs/RELAY.md §3; a relay may set
/// less, and says so with 413): larger sealed output is printed without trying.
pub const MAX_PAYLOAD: u64 = 1024 * 1024;
/// How long to watch for the receivers to take their payloads before saying they are
/// stored on the relay.
const DELIVERY_WAIT: Duration = Duration::from_secs(5);
/// The first pause of the outbox between two attempts; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// Default of `--relay-timeout`.
pub const DEFAULT_TIMEOUT: u64 = 60;
/// Rows written below the code before it is taken off the screen, at most, when the
/// terminal does not tell its height (further up, it may have scrolled away, and moving up
/// would overwrite another line).
const ERASE_LINES: usize = 20;

/// `--relay` and its companions, checked, with the settings file applied.
pub struct Settings {
    /// `https://host:port`.
    pub url: String,
    /// The certificate's SHA-256, for a self-signed relay.
    pub pin: Option<[u8; 32]>,
    /// How many receivers to approve before the command runs.
    pub receivers: u8,
    /// How long the outbox retries an unreachable relay.
    pub timeout: Duration,
    /// `--remember NAME`: the name to remember the receiver as.
    pub remember: Option<String>,
}

impl Settings {
    /// Resolves the relay settings: flags first, then `[relay]` of the settings file (read
    /// only when a flag leaves something to it). `relay` is `""` for `--relay` alone.
    pub fn resolve(
        relay: String,
        pin: Option<String>,
        receivers: Option<u8>,
        timeout: Option<u64>,
        remember: Option<String>,
    ) -> Result<Self> {
        if let Some(name) = &remember {
            if receivers.unwrap_or(1) > 1 {
                return Err(Failure::RememberSeveral);
            }
            devices::check_name(name).map_err(Failure::UnknownDevice)?;
        }
        let file = if relay.is_empty() || pin.is_none() {
            config::load().map_err(Failure::Config)?.relay
        } else {
            config::RelaySettings::default()
        };
        let (url, file_url) = if relay.is_empty() {
            let place = config::default_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "$XDG_CONFIG_HOME/hush/config.toml".to_owned());
            (file.url.clone().ok_or(Failure::RelayNoUrl(place))?, true)
        } else {
            // The file's pin belongs to the file's relay: another URL does not get it.
            let same = file.url.as_deref().map(|u| u.trim_end_matches('/'))
                == Some(relay.trim_end_matches('/'));
            (relay, same)
        };
        // The URL's form only: nothing is connected yet.
        RelayClient::new(&url, None).map_err(Failure::RelayUrl)?;
        let pin = match (pin, file.pin.filter(|_| file_url)) {
            (Some(text), _) => Some(parse_pin(&text).map_err(|source| Failure::RelayPin {
                from: "--relay-pin".to_owned(),
                source,
            })?),
            (None, Some(text)) => Some(parse_pin(&text).map_err(|source| Failure::RelayPin {
                from: "[relay] pin of the settings file".to_owned(),
                source,
            })?),
            (None, None) => None,
        };
        Ok(Self {
            url,
            pin,
            receivers: receivers.unwrap_or(1),
            timeout: Duration::from_secs(timeout.unwrap_or(DEFAULT_TIMEOUT)),
            remember,
        })
    }
}

/// The terminal during the pairing: counts the rows written below the code, so that the
/// code can be taken off the screen at the end. Rows, not lines: a line wider than the
/// window wraps onto several rows (a denial's warning does in 80 columns), and moving up by
/// lines would then land below the code and erase another line.
struct Screen<'a> {
    tty: &'a mut Tty,
    /// Rows written below the code's line.
    rows: usize,
    /// Rows of the code's line itself (in a narrow window it wraps too).
    code_rows: usize,
}

impl Screen<'_> {
    /// The rows a line of `chars` characters takes (one, if the width is unknown). A line
    /// exactly as wide as the window takes one row: the cursor waits in the last column.
    fn rows_of(&self, chars: usize) -> usize {
        match self.tty.size() {
            Some((columns, _)) => chars.div_ceil(usize::from(columns)).max(1),
            None => 1,
        }
    }

    /// Writes whole lines (each ends with a newline).
    fn say(&mut self, text: &str) {
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            self.rows += self.rows_of(line.trim_end_matches('\n').chars().count());
        }
        self.tty.say(text);
    }

    /// Asks `prompt`; `true` only for y or yes.
    fn approve(&mut self, prompt: &str) -> Result<bool> {
        let answer = self.tty.read_line(prompt).map_err(Failure::Terminal)?;
        // The answer's Enter ended the line; Ctrl-D did not.
        if answer.is_none() {
            self.tty.say("\n");
        }
        // The prompt and the echoed answer share their rows.
        let typed = answer.as_deref().map_or(0, |a| a.chars().count());
        self.rows += self.rows_of(prompt.chars().count() + typed);
        Ok(answer.is_some_and(|a| {
            let a = a.trim();
            a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes")
        }))
    }

    /// Replaces the code's line (its rows, `rows` rows up) with `text`, cut to fit them
    /// (a longer text would wrap onto the line below), and comes back; not if the code's
    /// line may have scrolled off the window (moving up would overwrite another line).
    fn replace_code_line(&mut self, text: &str) {
        let up = self.rows + self.code_rows;
        let size = self.tty.size();
        let reachable = match size {
            // From the bottom row, the top one is `height - 1` up.
            Some((_, height)) => up < usize::from(height),
            None => up <= ERASE_LINES,
        };
        if !reachable {
            return;
        }
        // One column short of the rows: the last column would leave the cursor waiting
        // to wrap, and some terminals wrap at once.
        let fits = size.map_or(usize::MAX, |(columns, _)| {
            usize::from(columns) * self.code_rows - 1
        });
        let text: String = text.chars().take(fits).collect();
        // Save the cursor (no row is added meanwhile, so nothing scrolls), clear each row
        // of the code's line from its top, write the text there, restore the cursor.
        let mut out = format!("\x1b7\x1b[{up}A\r\x1b[2K");
        for _ in 1..self.code_rows {
            out.push_str("\x1b[B\x1b[2K");
        }
        if self.code_rows > 1 {
            out.push_str(&format!("\x1b[{}A\r", self.code_rows - 1));
        }
        out.push_str(&text);
        out.push_str("\x1b8");
        self.tty.say(&out);
    }
}

/// An approved receiver, with its approval until the relay took it: a relay away right
/// after the approval prompt gets it from the outbox, before the payload.
struct Approved {
    candidate: Candidate,
    unsent: Option<Approval>,
}

/// The receivers approved for this invocation, and their room.
pub struct Paired {
    room: SenderRoom,
    approved: Vec<Approved>,
    timeout: Duration,
    quiet: bool,
    /// A payload is stored on the relay, not yet taken: the room must stay open.
    stored: bool,
}

/// Seconds from now until the Unix time `at` (0 if past).
fn secs_until(at: u64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    at.saturating_sub(now)
}

/// `15 min` (to the nearest minute), or `40 s` under a minute.
fn span(secs: u64) -> String {
    if secs >= 60 {
        format!("{} min", (secs + 30) / 60)
    } else {
        format!("{secs} s")
    }
}

/// `14:05 UTC` of a Unix time.
fn clock_utc(at: u64) -> String {
    let day = at % 86_400;
    format!("{:02}:{:02} UTC", day / 3600, day % 3600 / 60)
}

/// Opens a room, shows the code on the terminal, and pairs with receivers until
/// `settings.receivers` of them have been decided at the approval prompt (at least one
/// approved), the code expires, or a wrong code burns the room.
pub fn pair(settings: &Settings, tty: &mut Tty, quiet: bool) -> Result<Paired> {
    // Before the room: a server identity or device list that cannot be used wastes no code.
    let mut remember = match &settings.remember {
        Some(name) => Some(Remember::prepare(name, quiet)?),
        None => None,
    };
    let client = RelayClient::new(&settings.url, settings.pin).map_err(|e| Failure::Relay {
        source: FlowError::Relay(e),
    })?;
    let mut room =
        SenderRoom::open(client, settings.receivers).map_err(|source| Failure::Relay { source })?;
    let left = secs_until(room.expires());
    let deadline = Instant::now() + Duration::from_secs(left);
    let mut screen = Screen {
        tty,
        rows: 0,
        code_rows: 1,
    };
    {
        // Built in a buffer sized once and wiped: the code's secret half is in it.
        let code = room.code().to_shown();
        let mut line = Zeroizing::new(String::with_capacity(96));
        line.push_str("on your laptop: hush receive ");
        line.push_str(&code);
        line.push_str(&format!("   (expires in {})\n", span(left)));
        screen.code_rows = screen.rows_of(line.trim_end().chars().count());
        screen.tty.say(&line);
    }
    let result = approvals(
        &mut room,
        &mut screen,
        settings.receivers,
        deadline,
        remember.as_mut(),
    );
    // The code is spent (or useless) now: off the screen, in every case.
    let nameplate = room.code().nameplate();
    let state = match &result {
        Ok(approved) => format!("paired with {}", codes(approved)),
        Err(_) => "not paired".to_owned(),
    };
    screen.replace_code_line(&format!(
        "on your laptop: hush receive {nameplate}-XXXX-XXXX   ({state})"
    ));
    let approved = match result {
        Ok(approved) => approved,
        Err(failure) => {
            // The receivers approved so far get an end rather than a wait (a burned room
            // is gone already).
            if !matches!(failure, Failure::WrongCode) {
                let _ = room.close();
            }
            return Err(failure);
        }
    };
    Ok(Paired {
        room,
        approved,
        timeout: settings.timeout,
        quiet,
        stored: false,
    })
}

/// `K7MQ, 2C4D`.
fn codes(approved: &[Approved]) -> String {
    approved
        .iter()
        .map(|a| a.candidate.session.receiver_code.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--remember NAME`: this server's identity offered to the receiver, and the device list
/// its answer goes to.
struct Remember {
    offer: Offer,
    devices: Peers,
    quiet: bool,
}

impl Remember {
    /// Loads (or makes, on first use) this server's identity, and reads the device list.
    fn prepare(name: &str, quiet: bool) -> Result<Self> {
        let identity = crate::credentials::server_identity(quiet)?;
        let devices = Peers::load(PeerKind::Devices).map_err(Failure::Devices)?;
        let host = crate::command::hostname().unwrap_or_else(|| "server".to_owned());
        Ok(Self {
            offer: Offer {
                name: name.to_owned(),
                host,
                identity: identity.public(),
            },
            devices,
            quiet,
        })
    }

    /// Waits for the receiver's answer and stores it; returns what to say on the terminal
    /// (the pairing's screen, whose rows are counted), and whether the receiver is still
    /// there to deliver to. A name remembered with another key is refused loudly, before
    /// the command runs.
    fn conclude(
        &mut self,
        room: &SenderRoom,
        receiver: &Candidate,
        deadline: Instant,
    ) -> Result<(Option<String>, bool)> {
        let name = &self.offer.name;
        let said = match room.reply(receiver, deadline) {
            Ok(Reply::Accept { identity, mailbox }) => {
                self.devices
                    .remember(name, &identity, mailbox)
                    .and_then(|()| self.devices.save())
                    .map_err(Failure::Devices)?;
                (!self.quiet).then(|| {
                    format!(
                        "hush-run: remembered {name} ({}): `hush-run --to {name} -- CMD` seals \
                         for it from now on, with no key and no code",
                        identity.fingerprint()
                    )
                })
            }
            Ok(Reply::Decline) => Some(format!(
                "hush-run: the laptop declined to be remembered as {name}"
            )),
            Err(FlowError::TimedOut(_)) => Some(
                "hush-run: the laptop did not answer the offer to remember it; not remembered"
                    .to_owned(),
            ),
            // A laptop that refuses (a changed identity) answers and leaves its slot at
            // once, which can take its answer with it before it is read here.
            Err(FlowError::Lost) => {
                let said = format!(
                    "hush-run: the laptop left without being remembered as {name} (it declined \
                     to be remembered, or quit), or the relay lost the pairing: nothing goes to it"
                );
                return Ok((Some(said), false));
            }
            Err(source) => return Err(Failure::Relay { source }),
        };
        Ok((said, true))
    }
}

fn approvals(
    room: &mut SenderRoom,
    screen: &mut Screen<'_>,
    wanted: u8,
    deadline: Instant,
    mut remember: Option<&mut Remember>,
) -> Result<Vec<Approved>> {
    let mut approved = Vec::new();
    let mut decided = 0u8;
    let failed = |e: FlowError, approved: usize| match e {
        FlowError::WrongCode => Failure::WrongCode,
        FlowError::TimedOut(_) => Failure::PairingExpired { approved, wanted },
        FlowError::Lost => Failure::PairingLost,
        source => Failure::Relay { source },
    };
    while decided < wanted {
        let slots = room
            .joined(deadline)
            .map_err(|e| failed(e, approved.len()))?;
        for slot in slots {
            decided += 1;
            let candidate = room
                .pair(slot, deadline)
                .map_err(|e| failed(e, approved.len()))?;
            let code = candidate.session.receiver_code;
            if screen.approve(&format!("receiver {code}: approve? [y/N] "))? {
                let offer = remember.as_ref().map(|r| &r.offer);
                let approval = candidate
                    .approval(offer)
                    .map_err(|e| failed(e, approved.len()))?;
                let unsent = match room.approve(&approval) {
                    Ok(()) => None,
                    // Sent by the outbox before the payload, with the same retries. An
                    // offer to remember waits for its answer: it needs the relay now.
                    Err(FlowError::Relay(RelayError::Unreachable(_))) if offer.is_none() => {
                        Some(approval)
                    }
                    Err(e) => return Err(failed(e, approved.len())),
                };
                if let Some(r) = remember.as_deref_mut() {
                    let (said, present) = r.conclude(room, &candidate, deadline)?;
                    if let Some(said) = said {
                        screen.say(&format!("{said}\n"));
                    }
                    if !present {
                        continue;
                    }
                }
                approved.push(Approved { candidate, unsent });
            } else {
                room.deny(slot).map_err(|e| failed(e, approved.len()))?;
                screen.say(&format!(
                    "hush-run: receiver {code} denied: it gets nothing. If no laptop of yours \
                     shows {code}, the code may have leaked (a screen, a recording)\n"
                ));
            }
        }
    }
    if approved.is_empty() {
        return Err(Failure::NoneApproved);
    }
    Ok(approved)
}

/// One command's output, sealed for each approved receiver into an unlinked temporary
/// file (ciphertext only), until it is delivered.
pub struct Outgoing {
    sealers: Vec<SealWriter<File>>,
}

impl Outgoing {
    /// One sealer per approved receiver, with its pairing's session.
    pub fn start(paired: &Paired, meta: &Metadata) -> Result<Self> {
        let mut sealers = Vec::with_capacity(paired.approved.len());
        for Approved { candidate, .. } in &paired.approved {
            let file = tempfile::tempfile().map_err(Failure::HoldFile)?;
            let creds = Credentials::Relay(candidate.session.clone());
            let sealer = SealWriter::new(file, &creds, meta, false, SealOptions::default())
                .map_err(Failure::StartSealing)?;
            sealers.push(sealer);
        }
        Ok(Self { sealers })
    }

    /// Seals one read of output for every receiver.
    pub fn take(&mut self, stream: Stream, data: &[u8]) -> shared::Result<()> {
        self.sealers
            .iter_mut()
            .try_for_each(|s| s.write(stream, data))
    }

    /// Ends each message with the exit status and delivers it. Returns the sealed bytes
    /// and what to say about where they went.
    pub fn finish(self, exit_status: i32, paired: &mut Paired) -> io::Result<(u64, String)> {
        let mut sealed = Vec::with_capacity(self.sealers.len());
        for sealer in self.sealers {
            let mut file = sealer.finish(Some(exit_status)).map_err(io::Error::other)?;
            let len = file.stream_position()?;
            sealed.push((file, len));
        }
        let total = sealed.iter().map(|(_, len)| len).sum();
        paired.deliver(sealed)?;
        Ok((total, format!(" for {}", codes(&paired.approved))))
    }
}

impl Paired {
    /// The approved receivers' codes, `K7MQ, 2C4D`.
    pub fn receivers(&self) -> String {
        codes(&self.approved)
    }

    /// Uploads each receiver's message (the outbox), or prints it when the relay cannot
    /// take it; then reports delivery.
    fn deliver(&mut self, sealed: Vec<(File, u64)>) -> io::Result<()> {
        let mut uploaded = Vec::new();
        // One bound for all the receivers' messages: the relay is down for all of them.
        let deadline = Instant::now() + self.timeout;
        for (receiver, (mut file, len)) in self.approved.iter().zip(sealed) {
            let code = receiver.candidate.session.receiver_code;
            let why = if let Some(bytes) = payload_of(&mut file, len)? {
                // One id per message and receiver, the same for every retry.
                let sent = payload_id()
                    .map_err(FlowError::Relay)
                    .and_then(|id| self.upload(receiver, &id, &bytes, deadline).map(|()| id));
                match sent {
                    Ok(id) => {
                        uploaded.push((receiver.candidate.slot, code, id));
                        continue;
                    }
                    Err(e) => outbox_failure(&e, self.timeout),
                }
            } else {
                format!("the sealed output ({len} bytes) is over the relay's payload limit (1 MiB)")
            };
            note!(
                "hush-run: {why}: the sealed block for receiver {code} is printed below \
                 instead; paste it into the hush window (TUI) that paired, while it still runs"
            );
            print_block(&mut file)?;
        }
        self.report(&uploaded);
        Ok(())
    }

    /// Stores one payload (after the receiver's approval, if the relay has not taken it
    /// yet: sending it again is harmless), retrying with backoff while the relay is
    /// unreachable, until `deadline`; a one-line status on stderr meanwhile.
    fn upload(
        &self,
        receiver: &Approved,
        id: &str,
        bytes: &[u8],
        deadline: Instant,
    ) -> std::result::Result<(), FlowError> {
        let mut pause = FIRST_PAUSE;
        let status = StatusLine::new();
        let send = || {
            if let Some(approval) = &receiver.unsent {
                self.room.approve(approval)?;
            }
            self.room.deliver(receiver.candidate.slot, id, bytes)
        };
        loop {
            match send() {
                Err(FlowError::Relay(RelayError::Unreachable(why))) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        status.clear();
                        return Err(FlowError::Relay(RelayError::Unreachable(why)));
                    }
                    status.show(
                        "hush-run: the relay is unreachable; retrying, then the block is printed here",
                        &format!(" ({} s left)", left.as_secs().max(1)),
                    );
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
                other => {
                    status.clear();
                    return other;
                }
            }
        }
    }

    /// Watches briefly whether the receivers took their payloads, and says so.
    fn report(&mut self, uploaded: &[(u8, shared::relay::ReceiverCode, String)]) {
        let until = Instant::now() + DELIVERY_WAIT;
        let mut waiting: Vec<_> = uploaded.iter().collect();
        while !waiting.is_empty() {
            waiting.retain(|(slot, code, id)| match self.room.delivered(*slot, id) {
                Ok(true) => {
                    if !self.quiet {
                        note!("hush-run: delivered to {code}");
                    }
                    false
                }
                Ok(false) => true,
                // The relay went away after taking it: it is stored, as far as we know.
                Err(_) => true,
            });
            if waiting.is_empty() || Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        for (_, code, _) in waiting {
            self.stored = true;
            let expires = self.room.payload_expires();
            if expires == 0 {
                note!("hush-run: stored on the relay for {code}: `hush receive` fetches it");
            } else {
                note!(
                    "hush-run: stored on the relay for {code} until {} (in {}): `hush` fetches it until then",
                    clock_utc(expires),
                    span(secs_until(expires))
                );
            }
        }
    }

    /// Ends the room unless a payload waits in it for its receiver (then it expires on
    /// its own, with the payload TTL).
    pub fn close(self) {
        if !self.stored {
            // Nothing left in it for anyone: a failure to close only leaves it to expire.
            let _ = self.room.close();
        }
    }
}

/// Why the outbox gave up, for the note before the printed block.
fn outbox_failure(e: &FlowError, timeout: Duration) -> String {
    match e {
        FlowError::Relay(RelayError::Unreachable(_)) => format!(
            "the relay stayed unreachable for {} s (--relay-timeout)",
            timeout.as_secs()
        ),
        FlowError::Relay(e) if e.code() == Some("too_large") => {
            "the sealed output is over this relay's payload limit".to_owned()
        }
        FlowError::Denied => "the receiver left".to_owned(),
        other => format!("the relay did not take it ({other})"),
    }
}

/// A held message's sealed bytes (binary, `len` of them in `file`), read back if a relay
/// may take them (at most [`MAX_PAYLOAD`]); `None` when larger: it is printed instead, and
/// never read into memory.
pub fn payload_of(file: &mut File, len: u64) -> io::Result<Option<Vec<u8>>> {
    if len > MAX_PAYLOAD {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Prints a sealed message (binary, in `file`) as an armored block on stdout.
pub fn print_block(file: &mut File) -> io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    let out = shared::cli::stdout::file()?;
    let mut armor = shared::armor::ArmorWriter::new(io::BufWriter::new(out))?;
    io::copy(file, &mut armor)?;
    armor.finish()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_plainly() {
        assert_eq!(span(900), "15 min");
        assert_eq!(span(901), "15 min");
        assert_eq!(span(89), "1 min");
        assert_eq!(span(40), "40 s");
        assert_eq!(clock_utc(1_700_000_000), "22:13 UTC");
    }
}
