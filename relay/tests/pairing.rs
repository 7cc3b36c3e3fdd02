//! Pairing end to end through the real hush-relay: the Rust sender (shared::relay's state
//! machine, driven over raw HTTPS by the test, so the wire is checked too) with
//! docs/hush_relay.py, the independent Python receiver, as a separate process speaking to
//! the relay itself; then the tools' own flow (`shared::cli::relay_flow`) on both sides. A
//! wrong code burns the room, and the receiver is told.

// The harness serves the other test binary too: not every helper is used here.
#[allow(dead_code)]
mod harness;
// pairing.rs never looks inside an envelope error.
#[allow(dead_code)]
mod parties;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use harness::{Client, Relay, msg};
use serde_json::json;
use shared::relay::{Code, Event, Nameplate, Pairing, PairingError, RoomContext, Side};
use shared::{Credentials, Metadata, SealOptions};

/// How long any one step may take.
const STEP: Duration = Duration::from_secs(20);

/// The Python receiver, with its stderr lines arriving on a channel.
struct PythonReceiver {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl PythonReceiver {
    fn start(relay: &Relay, code: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/hush_relay.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["receive", "--relay", &format!("https://{}", relay.addr)])
            .args(["--pin", &relay.pin, code])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3");
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self { child, stderr }
    }

    /// Waits for the line that starts with `prefix`.
    fn line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(_) => panic!("the Python receiver never said {prefix:?}"),
            }
        }
    }

    /// Waits for the end; returns the exit code and stdout.
    fn finish(mut self) -> (Option<i32>, Vec<u8>) {
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the Python receiver did not end");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = Vec::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_end(&mut out).expect("stdout");
        }
        (status.code(), out)
    }
}

/// Long-polls a GET until it answers 200; returns the JSON body.
async fn poll(c: &Client, path: &str, token: &str) -> serde_json::Value {
    let deadline = Instant::now() + STEP;
    loop {
        let r = c
            .req("GET", &format!("{path}?wait=5"), Some(token), None)
            .await;
        match r.status {
            200 => return r.json(),
            204 => assert!(Instant::now() < deadline, "nothing at {path}"),
            other => panic!("{path}: {other} {}", r.error()),
        }
    }
}

fn sent(event: Event) -> Vec<u8> {
    match event {
        Event::Send { msg, .. } => msg,
        Event::Paired => panic!("expected a message"),
    }
}

/// The sender's side up to the check of the receiver's confirmation.
async fn sender_until_confirmation(
    c: &Client,
    room: &harness::Room,
    code: &Code,
) -> (Pairing, Result<Vec<Event>, PairingError>) {
    let token = room.token.as_str();
    let slots = poll(c, &format!("/v1/rooms/{}/slots", room.id), token).await;
    assert_eq!(slots["slots"], json!([1]), "one receiver joined");
    let slot = format!("/v1/rooms/{}/slots/1", room.id);
    let context = RoomContext {
        nameplate: Nameplate::parse(&room.nameplate).expect("nameplate"),
        nonce: room.nonce,
        slot: 1,
    };
    let (mut pairing, first) = Pairing::start(Side::Sender, code, context);
    let put = c
        .json(
            "PUT",
            &format!("{slot}/to-receiver/0"),
            Some(token),
            msg(&sent(first)),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.error());
    for seq in 0..2 {
        let got = poll(c, &format!("{slot}/to-sender/{seq}"), token).await;
        let bytes = STANDARD
            .decode(got["msg"].as_str().expect("msg"))
            .expect("b64");
        let events = pairing.receive(seq, &bytes);
        if seq == 1 {
            return (pairing, events);
        }
        assert!(events.expect("pake").is_empty());
    }
    unreachable!("returned at seq 1")
}

#[tokio::test]
async fn the_python_receiver_pairs_with_the_rust_sender_through_the_relay() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let room = harness::create(&c, 1).await;
    let nameplate = Nameplate::parse(&room.nameplate).expect("nameplate");
    let code = Code::generate(nameplate).expect("code");
    let shown_code = code.to_shown().to_string();
    let receiver = PythonReceiver::start(&relay, &shown_code);
    let (pairing, events) = sender_until_confirmation(&c, &room, &code).await;
    let mut events = events.expect("the codes match");
    assert_eq!(events.pop(), Some(Event::Paired));
    let slot = format!("/v1/rooms/{}/slots/1", room.id);
    let token = Some(room.token.as_str());
    let confirm = msg(&sent(events.pop().expect("confirm_S")));
    let put = c
        .json("PUT", &format!("{slot}/to-receiver/1"), token, confirm)
        .await;
    assert_eq!(put.status, 201);
    let session = pairing.session().expect("paired");
    // Both sides show the same receiver code.
    let shown = receiver.line("receiver code ");
    assert!(
        shown.starts_with(&format!("receiver code {} ", session.receiver_code)),
        "{shown}"
    );
    // Approved: the approval (docs/RELAY.md §11), then the output, both sealed for this
    // receiver.
    let approval = shared::cli::remember::seal_approval(&session, None).expect("approval");
    let put = c
        .json(
            "PUT",
            &format!("{slot}/to-receiver/2"),
            token,
            msg(&approval),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.error());
    let sealed = shared::seal(
        &Credentials::Relay(session),
        &Metadata::default(),
        b"private key of wg0\n",
        false,
        SealOptions::default(),
    )
    .expect("seal");
    let id = "0123456789abcdef0123456789abcdef";
    let put = c
        .req("PUT", &format!("{slot}/payloads/{id}"), token, Some(sealed))
        .await;
    assert_eq!(put.status, 201, "{}", put.error());
    let (exit, out) = receiver.finish();
    assert_eq!(exit, Some(0));
    assert_eq!(out, b"private key of wg0\n");
    // The receiver deleted it: the sender sees it delivered.
    let state = c
        .req("GET", &format!("{slot}/payloads/{id}"), token, None)
        .await;
    assert_eq!(state.json()["state"], "delivered");
    // The secret half of the code is in nothing the relay logged (it never left the two
    // processes: only the nameplate is in a request).
    let secret = shown_code.split_once('-').expect("hyphen").1;
    let logs = relay.logs();
    assert!(!logs.is_empty());
    for needle in [secret.to_owned(), secret.replace('-', "")] {
        assert!(
            !logs.contains(&needle),
            "the code's secret is in the relay's logs"
        );
    }
    relay.stop();
}

#[tokio::test]
async fn a_wrong_code_burns_the_room_and_the_receiver_is_told() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let room = harness::create(&c, 1).await;
    let nameplate = Nameplate::parse(&room.nameplate).expect("nameplate");
    let code = Code::generate(nameplate).expect("code");
    // The same nameplate, another secret: a guess.
    let guess = Code::generate(nameplate).expect("guess");
    let receiver = PythonReceiver::start(&relay, &guess.to_shown());
    let (_, events) = sender_until_confirmation(&c, &room, &code).await;
    assert_eq!(events, Err(PairingError::WrongCode));
    let burn = c
        .json(
            "DELETE",
            &format!("/v1/rooms/{}", room.id),
            Some(&room.token),
            json!({"reason": "burned"}),
        )
        .await;
    assert_eq!(burn.status, 204);
    let told = receiver.line("hush_relay.py: ");
    assert!(told.contains("burned"), "{told}");
    let (exit, _) = receiver.finish();
    assert_ne!(exit, Some(0));
    // The code cannot be tried again: the nameplate no longer joins.
    let again = c
        .json(
            "POST",
            &format!("/v1/nameplates/{}/join", room.nameplate),
            None,
            json!({"join_id": STANDARD.encode([9u8; 16])}),
        )
        .await;
    assert!(matches!(again.status, 404 | 410), "{}", again.status);
    relay.stop();
}

/// Both sides in Rust, each with the tools' blocking client and pairing flow
/// (`shared::cli::relay_flow`), on threads of their own: the relay is reached, and pinned,
/// as `hush` and `hush-run` will.
#[test]
fn rust_sender_and_receiver_pair_with_the_blocking_client() {
    use shared::cli::relay_client::RelayClient;
    use shared::cli::relay_flow::{SenderRoom, payload_id};

    let relay = Relay::start(&[]);
    let url = format!("https://{}", relay.addr);
    let deadline = Instant::now() + STEP;
    let mut room = SenderRoom::open(parties::client(&url, &relay.pin), 1).expect("room");
    let (shown_tx, shown) = mpsc::channel();
    let receiver = parties::spawn_receiver(
        parties::client(&url, &relay.pin),
        &room.code().to_shown(),
        deadline,
        Some(shown_tx),
    );

    let candidate = room.next_receiver(deadline).expect("the codes match");
    let sealed = parties::seal(&candidate.session, b"setup key 7f3a\n");
    let id = payload_id().expect("id");
    room.deliver(candidate.slot, &id, &sealed).expect("stored");
    let plaintext = receiver.join().expect("receiver thread").expect("opened");
    assert_eq!(plaintext, b"setup key 7f3a\n");
    // Both screens showed the same receiver code.
    assert_eq!(shown.try_recv().ok(), Some(candidate.session.receiver_code));
    // The receiver acknowledged it.
    assert!(room.delivered(candidate.slot, &id).expect("state"));
    room.close().expect("closed");

    // A client pinned to another certificate is refused before any request.
    let wrong = RelayClient::new(&url, Some([0u8; 32])).expect_err("refused");
    assert!(
        wrong.to_string().contains("does not match the pin"),
        "{wrong}"
    );
    relay.stop();
}

/// The tools' flow on a wrong code: the sender burns the room and says so, the receiver
/// learns the room was burned, and the right code, typed afterwards, pairs no more.
#[test]
fn a_wrong_code_in_the_tools_flow_burns_the_room_for_everyone() {
    use shared::cli::relay_flow::{FlowError, Receiver, SenderRoom};

    let relay = Relay::start(&[]);
    let url = format!("https://{}", relay.addr);
    let client = || parties::client(&url, &relay.pin);
    let deadline = Instant::now() + STEP;
    let mut room = SenderRoom::open(client(), 2).expect("room");
    let right = room.code().to_shown().to_string();
    // Same nameplate, another secret: a guess.
    let nameplate = right.split('-').next().expect("nameplate").to_owned();
    let wrong = format!("{nameplate}-0000-0000");
    assert_ne!(wrong, right);

    let guesser = {
        let client = client();
        std::thread::spawn(move || {
            let code = Code::parse(&wrong).expect("a well-formed code");
            Receiver::pair(client, &code, deadline).map(|_| ())
        })
    };
    let err = room.next_receiver(deadline).expect_err("a wrong code");
    assert!(matches!(err, FlowError::WrongCode), "{err}");
    assert!(err.to_string().contains("wrong code used"), "{err}");
    let guessed = guesser.join().expect("guesser thread").expect_err("burned");
    assert!(matches!(guessed, FlowError::Burned), "{guessed}");

    let code = Code::parse(&right).expect("the right code");
    let late = Receiver::pair(client(), &code, deadline).expect_err("the room is burned");
    assert!(matches!(late, FlowError::Burned), "{late}");
    relay.stop();
}

/// Three receivers join one room; the sender approves two of them by the receiver codes
/// they show and denies the third (DELETE of its slot). The two get the payload; the third
/// is told "denied" by the relay and gets none. The sender decides by receiver code only,
/// as a person at `receiver K7MQ: approve? [y/N]` would.
#[test]
fn three_receivers_two_approved_by_their_codes_one_denied() {
    use parties::Failure;
    use shared::cli::relay_flow::{FlowError, SenderRoom, payload_id};

    let relay = Relay::start(&[]);
    let url = format!("https://{}", relay.addr);
    let deadline = Instant::now() + parties::DEADLINE;
    let mut room = SenderRoom::open(parties::client(&url, &relay.pin), 3).expect("room");
    let typed = room.code().to_shown();
    let (shown_tx, shown) = mpsc::channel();
    let receivers: Vec<_> = ["laptop A", "laptop B", "stranger"]
        .into_iter()
        .map(|name| {
            let (tx, own) = mpsc::channel();
            let client = parties::client(&url, &relay.pin);
            let thread = parties::spawn_receiver(client, &typed, deadline, Some(tx));
            // What this receiver's screen says, labelled: the test plays the person who
            // reads the laptops' screens.
            let shown_tx = shown_tx.clone();
            std::thread::spawn(move || {
                if let Ok(code) = own.recv_timeout(STEP) {
                    let _ = shown_tx.send((name, code));
                }
            });
            (name, thread)
        })
        .collect();
    drop(shown_tx);

    // The sender pairs with each receiver in turn (relay_flow: the order they joined).
    let candidates: Vec<_> = (0..3)
        .map(|_| room.next_receiver(deadline).expect("pairs"))
        .collect();
    // The person approves the codes shown by laptops A and B, not the stranger's.
    let mut approved = Vec::new();
    for _ in 0..3 {
        let (name, code) = shown.recv_timeout(STEP).expect("a receiver code shown");
        if name != "stranger" {
            approved.push(code);
        }
    }
    assert_eq!(approved.len(), 2);
    let mut denied = 0;
    for candidate in &candidates {
        if approved.contains(&candidate.session.receiver_code) {
            let sealed = parties::seal(&candidate.session, b"vpn setup key\n");
            let id = payload_id().expect("id");
            room.deliver(candidate.slot, &id, &sealed).expect("stored");
        } else {
            room.deny(candidate.slot).expect("denied");
            denied += 1;
        }
    }
    assert_eq!(denied, 1, "exactly one slot's code was not approved");
    for (name, thread) in receivers {
        let result = thread.join().expect("receiver thread");
        if name == "stranger" {
            // The relay's 410 `denied` on its wait for a payload: FlowError::Denied.
            assert!(
                matches!(result, Err(Failure::Flow(FlowError::Denied))),
                "{result:?}"
            );
        } else {
            let got = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(got, b"vpn setup key\n", "{name}");
        }
    }
    relay.stop();
}
