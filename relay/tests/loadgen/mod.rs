//! The load generator: whole pairings, each a sender and a receiver on threads of their
//! own, through the tools' own blocking code (`shared::cli::relay_flow`): create, join,
//! SPAKE2 and both confirmations, approval, a sealed payload of `payload` bytes, its
//! opening and acknowledgement, the room closed. `concurrency` pairings run at once.
//!
//! Used by the bounded load test (tests/load.rs: the relay in its own process, this in the
//! test's) and by `scripts/bench-relay` through `examples/relay_load.rs` (this in a
//! process of its own, so that the relay's CPU and memory are its own).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use shared::cli::relay_client::RelayClient;
use shared::cli::relay_flow::{self, FlowError, Receiver, SenderRoom};
use shared::relay::Code;
use shared::{Credentials, Metadata, SealOptions};

/// How long one side of one pairing may take before it counts as an error.
const PAIRING_DEADLINE: Duration = Duration::from_secs(30);

/// What a run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub pairings: usize,
    pub errors: Vec<String>,
    pub elapsed: Duration,
    /// Latency of each successful pairing: room created → payload opened and acknowledged.
    pub latencies: Vec<Duration>,
}

impl Report {
    /// Completed pairings per second.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the pairing latencies, nearest rank.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let Some(last) = sorted.len().checked_sub(1) else {
            return Duration::ZERO;
        };
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[rank.min(last)]
    }
}

/// Runs `pairings` pairings, `concurrency` at a time. Each of the `concurrency` workers
/// gets its own sender and receiver client from `connect(worker)`, as two separate
/// machines would have (a farm run can put the two sides on different instances); each
/// keeps its connections alive from one pairing to the next.
pub fn run(
    connect: impl Fn(usize) -> (RelayClient, RelayClient) + Sync,
    pairings: usize,
    concurrency: usize,
    payload: usize,
) -> Report {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(pairings));
    let plaintext: Vec<u8> = (0..payload).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for worker in 0..concurrency {
            let (next, results, plaintext, connect) = (&next, &results, &plaintext, &connect);
            scope.spawn(move || {
                let (sender, receiver) = connect(worker);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= pairings {
                        break;
                    }
                    let result = pairing(sender.clone(), receiver.clone(), plaintext);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(result);
                }
            });
        }
    });
    let elapsed = start.elapsed();
    let mut report = Report {
        pairings,
        elapsed,
        ..Report::default()
    };
    for result in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        match result {
            Ok(latency) => report.latencies.push(latency),
            Err(e) => report.errors.push(e),
        }
    }
    report
}

/// One pairing, both sides; its latency, or what failed.
fn pairing(
    sender: RelayClient,
    receiver: RelayClient,
    plaintext: &[u8],
) -> Result<Duration, String> {
    let start = Instant::now();
    let deadline = start + PAIRING_DEADLINE;
    let mut room = SenderRoom::open(sender, 1).map_err(|e| format!("create: {e}"))?;
    // What the person reads off one screen and types into the other.
    let typed = room.code().to_shown();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let receiving = scope.spawn(move || receive(receiver, &typed, deadline, done_rx));
        let sent = send(&mut room, plaintext, deadline);
        // The receiver's side ends once its payload is acknowledged; if sending failed it
        // must not wait for a payload that never comes.
        let _ = done_tx.send(sent.is_err());
        let received = receiving
            .join()
            .map_err(|_| "the receiver thread panicked".to_owned())?;
        sent?;
        let opened = received?;
        if opened != plaintext {
            return Err("the receiver opened other bytes than were sealed".to_owned());
        }
        Ok(())
    })?;
    room.close().map_err(|e| format!("close: {e}"))?;
    Ok(start.elapsed())
}

fn send(room: &mut SenderRoom, plaintext: &[u8], deadline: Instant) -> Result<(), String> {
    let candidate = room
        .next_receiver(deadline)
        .map_err(|e| format!("sender pairing: {e}"))?;
    let sealed = shared::seal(
        &Credentials::Relay(candidate.session),
        &Metadata::default(),
        plaintext,
        false,
        SealOptions::default(),
    )
    .map_err(|e| format!("seal: {e}"))?;
    let id = relay_flow::payload_id().map_err(|e| format!("payload id: {e}"))?;
    room.deliver(candidate.slot, &id, &sealed)
        .map_err(|e| format!("deliver: {e}"))
}

fn receive(
    client: RelayClient,
    typed: &str,
    deadline: Instant,
    sender_failed: mpsc::Receiver<bool>,
) -> Result<Vec<u8>, String> {
    let code = Code::parse(typed).map_err(|e| format!("code: {e}"))?;
    let receiver =
        Receiver::pair(client, &code, deadline).map_err(|e| format!("receiver pairing: {e}"))?;
    if sender_failed.recv().unwrap_or(true) {
        return Err("the sender failed".to_owned());
    }
    let (id, sealed) = receiver
        .next_payload(deadline)
        .map_err(|e: FlowError| format!("payload: {e}"))?;
    let opened = shared::open(&sealed, &[Credentials::Relay(receiver.session().clone())])
        .map_err(|e| format!("open: {e}"))?;
    receiver
        .acknowledge(&id)
        .map_err(|e| format!("acknowledge: {e}"))?;
    Ok(opened.stdout.to_vec())
}
