//! The load generator: whole pairings, each a sender and a receiver on threads of their
//! own, through the tools' own blocking code (`shared::cli::relay_flow`): create, join,
//! SPAKE2 and both confirmations, approval, a sealed payload of `payload` bytes, its
//! opening and acknowledgement, the room closed. `concurrency` pairings run at once.
//!
//! Used by the bounded load test (tests/load.rs: the relay in its own process, this in the
//! test's) and by `scripts/bench-relay` through `examples/relay_load.rs` (this in a
//! process of its own, so that the relay's CPU and memory are its own).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, mpsc};
use std::time::{Duration, Instant};

use shared::cli::relay_client::RelayClient;
use shared::cli::relay_flow::{self, FlowError, Receiver, SenderRoom};
use shared::relay::Code;
use shared::{Credentials, Metadata, SealOptions};
use zeroize::Zeroizing;

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
    // The clock starts once every worker is connected: connecting (a pin check and a TLS
    // handshake per client) is set-up, not load.
    let ready = Barrier::new(concurrency + 1);
    let start = std::thread::scope(|scope| {
        for worker in 0..concurrency {
            let (next, results, plaintext, connect) = (&next, &results, &plaintext, &connect);
            let ready = &ready;
            scope.spawn(move || {
                let (sender, receiver) = connect(worker);
                ready.wait();
                // The receiving side is a thread of its own for the whole run, as the
                // laptop is a machine of its own: one pairing at a time through `jobs`.
                let (jobs, receiving) = mpsc::channel::<Job>();
                std::thread::scope(|scope| {
                    scope.spawn(move || {
                        for job in receiving {
                            let opened = receive(&receiver, &job.code, job.deadline, job.go);
                            let _ = job.answer.send(opened);
                        }
                    });
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= pairings {
                            break;
                        }
                        let result = pairing(&sender, &jobs, plaintext);
                        results
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(result);
                    }
                    drop(jobs);
                });
            });
        }
        ready.wait();
        Instant::now()
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

/// One pairing for the receiving thread: the code typed, and when to give up.
struct Job {
    code: Zeroizing<String>,
    deadline: Instant,
    /// Whether the sender got as far as storing the payload.
    go: mpsc::Receiver<bool>,
    answer: mpsc::Sender<Result<Vec<u8>, String>>,
}

/// One pairing, both sides; its latency, or what failed.
fn pairing(
    sender: &RelayClient,
    receiving: &mpsc::Sender<Job>,
    plaintext: &[u8],
) -> Result<Duration, String> {
    let start = Instant::now();
    let deadline = start + PAIRING_DEADLINE;
    let mut room = SenderRoom::open(sender.clone(), 1).map_err(|e| format!("create: {e}"))?;
    let (go_tx, go) = mpsc::channel();
    let (answer, opened) = mpsc::channel();
    // What the person reads off one screen and types into the other.
    let code = room.code().to_shown();
    let job = Job {
        code,
        deadline,
        go,
        answer,
    };
    receiving
        .send(job)
        .map_err(|_| "the receiving thread is gone".to_owned())?;
    let sent = send(&mut room, plaintext, deadline);
    // The receiver waits for the payload only if it was stored.
    let _ = go_tx.send(sent.is_ok());
    let opened = opened
        .recv()
        .map_err(|_| "the receiving thread is gone".to_owned())?;
    sent?;
    if opened? != plaintext {
        return Err("the receiver opened other bytes than were sealed".to_owned());
    }
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
    client: &RelayClient,
    typed: &str,
    deadline: Instant,
    go: mpsc::Receiver<bool>,
) -> Result<Vec<u8>, String> {
    let code = Code::parse(typed).map_err(|e| format!("code: {e}"))?;
    let receiver = Receiver::pair(client.clone(), &code, deadline)
        .map_err(|e| format!("receiver pairing: {e}"))?;
    if !go.recv().unwrap_or(false) {
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
