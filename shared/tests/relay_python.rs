//! The Rust sender of hush-relay/1 against docs/hush_relay.py, an independent receiver
//! written from docs/RELAY.md, over a pipe (no relay): same receiver code, the receiver
//! opens what the sender sealed for it, and a wrong code is caught by the sender.
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use shared::relay::{Code, Event, Nameplate, Pairing, PairingError, RoomContext, Side};
use shared::{Credentials, Metadata, SealOptions};

struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    fn start(code: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/hush_relay.py");
        let mut child = Command::new("python3")
            .args([script, "pipe", code])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, obj: Value) {
        writeln!(self.stdin, "{obj}").expect("write");
        self.stdin.flush().expect("flush");
    }

    /// The next line, or `None` once the script has ended (with its stderr).
    fn read(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read");
        if line.is_empty() {
            let out =
                std::mem::replace(&mut self.child, Command::new("true").spawn().expect("true"))
                    .wait_with_output()
                    .expect("wait");
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(serde_json::from_str(&line).expect("json"))
    }
}

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    B64.decode(v[field].as_str().expect(field)).expect("base64")
}

fn sent(event: Event) -> Vec<u8> {
    match event {
        Event::Send { msg, .. } => msg,
        Event::Paired => panic!("expected a message"),
    }
}

fn room() -> RoomContext {
    RoomContext {
        nameplate: Nameplate::new(417).expect("nameplate"),
        nonce: [0x5a; 32],
        slot: 2,
    }
}

#[test]
fn python_receiver_pairs_with_the_rust_sender_and_opens_its_message() {
    let code = "417-4K7M-Q2ZP";
    let (mut sender, first) =
        Pairing::start(Side::Sender, &Code::parse(code).expect("code"), room());
    let mut py = Python::start("417-4k7m-q2zp");
    py.send(json!({"nameplate": "417", "nonce": B64.encode([0x5a; 32]), "slot": 2}));
    let pake_r = bytes(&py.read().expect("pake_r"), "pake_r");
    assert!(sender.receive(0, &pake_r).expect("pake").is_empty());
    py.send(json!({"pake_s": B64.encode(sent(first))}));
    let confirm_r = bytes(&py.read().expect("confirm_r"), "confirm_r");
    let mut events = sender.receive(1, &confirm_r).expect("the codes match");
    assert_eq!(events.pop(), Some(Event::Paired));
    let confirm_s = sent(events.pop().expect("confirm_s"));
    let session = sender.session().expect("session");
    let sealed = shared::seal(
        &Credentials::Relay(session.clone()),
        &Metadata::default(),
        b"private key of wg0\n",
        true,
        SealOptions::default(),
    )
    .expect("seal");
    py.send(json!({"confirm_s": B64.encode(confirm_s), "sealed": B64.encode(&sealed)}));
    let last = py.read().expect("result");
    assert_eq!(
        last["receiver_code"].as_str(),
        Some(session.receiver_code.to_string().as_str())
    );
    assert_eq!(bytes(&last, "stdout"), b"private key of wg0\n");
}

#[test]
fn a_python_receiver_with_a_wrong_code_is_caught_by_the_sender() {
    let (mut sender, first) = Pairing::start(
        Side::Sender,
        &Code::parse("417-4K7M-Q2ZP").expect("code"),
        room(),
    );
    let mut py = Python::start("417-4K7M-Q2ZQ");
    py.send(json!({"nameplate": "417", "nonce": B64.encode([0x5a; 32]), "slot": 2}));
    let pake_r = bytes(&py.read().expect("pake_r"), "pake_r");
    sender.receive(0, &pake_r).expect("pake");
    py.send(json!({"pake_s": B64.encode(sent(first))}));
    let confirm_r = bytes(&py.read().expect("confirm_r"), "confirm_r");
    assert_eq!(sender.receive(1, &confirm_r), Err(PairingError::WrongCode));
    // And a forged sender confirmation is refused by the Python side.
    py.send(json!({"confirm_s": B64.encode([0u8; 32]), "sealed": ""}));
    let err = py.read().expect_err("python refuses");
    assert!(err.contains("tampered"), "{err}");
}
