//! The worked example of docs/RELAY.md §8, read from the document: fixed randomness gives
//! the documented SPAKE2 messages and key, the key schedule gives every documented value
//! (in Rust, and in docs/hush_relay.py from the document's inputs), and the documented
//! block opens with the example's session in both.
//!
//! `HUSH_PRINT_EXAMPLE=1 cargo test -p shared --test relay_examples -- --nocapture` prints
//! the values, for writing the document.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use shared::relay::schedule::{self, Derived};
use shared::relay::{Code, Event, Nameplate, Pairing, RoomContext, Side};
use shared::{Credentials, Metadata, SealOptions};
use spake2::{Ed25519Group, Identity, Password, Spake2};

/// SHA-256 in counter mode over a seed: a predictable "random" source for the example.
struct ExampleRng {
    seed: &'static [u8],
    counter: u32,
    buf: Vec<u8>,
}

impl ExampleRng {
    fn new(seed: &'static [u8]) -> Self {
        Self {
            seed,
            counter: 0,
            buf: Vec::new(),
        }
    }
}

impl RngCore for ExampleRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.buf.is_empty() {
                let block = Sha256::new()
                    .chain_update(self.seed)
                    .chain_update(self.counter.to_be_bytes())
                    .finalize();
                self.counter += 1;
                self.buf = block.to_vec();
                self.buf.reverse();
            }
            *byte = self.buf.pop().expect("refilled above");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ExampleRng {}

const CODE: &str = "417-4K7M-Q2ZP";
const SENDER_SEED: &[u8] = b"hush-relay/1 example sender";
const RECEIVER_SEED: &[u8] = b"hush-relay/1 example receiver";

fn room() -> RoomContext {
    let mut nonce = [0u8; 32];
    for (i, b) in nonce.iter_mut().enumerate() {
        *b = i as u8;
    }
    RoomContext {
        nameplate: Nameplate::new(417).expect("nameplate"),
        nonce,
        slot: 1,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn relay_md() -> String {
    std::fs::read_to_string(docs().join("RELAY.md")).expect("docs/RELAY.md")
}

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

/// The value after `name` on the first line of §8 that starts with it.
fn field(doc: &str, name: &str) -> String {
    let section = &doc[doc.find("## 8. Worked example").expect("§8")..];
    let line = section
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} line in §8"));
    line[name.len()..]
        .split_whitespace()
        .next()
        .expect("value")
        .to_owned()
}

/// The armored block of §8.
fn block(doc: &str) -> String {
    let section = &doc[doc.find("## 8. Worked example").expect("§8")..];
    let start = section.find(shared::armor::BEGIN).expect("example block");
    let end =
        section[start..].find(shared::armor::END).expect("END") + start + shared::armor::END.len();
    format!("{}\n", &section[start..end])
}

struct Example {
    pake_s: Vec<u8>,
    pake_r: Vec<u8>,
    key: Vec<u8>,
    derived: Derived,
    /// The receiver's session, from the pairing state machines run with the same randomness.
    receiver: Credentials,
}

fn sent(event: Event) -> Vec<u8> {
    match event {
        Event::Send { msg, .. } => msg,
        Event::Paired => panic!("expected a message"),
    }
}

/// SPAKE2 with the example's randomness, then the key schedule; the pairing state
/// machines, run with the same randomness, must agree with every value.
fn compute() -> Example {
    let password = Password::new(b"417-4K7MQ2ZP");
    let (ida, idb) = (
        Identity::new(b"hush-relay/1 sender"),
        Identity::new(b"hush-relay/1 receiver"),
    );
    let rng = ExampleRng::new;
    let (a, pake_s) =
        Spake2::<Ed25519Group>::start_a_with_rng(&password, &ida, &idb, rng(SENDER_SEED));
    let (b, pake_r) =
        Spake2::<Ed25519Group>::start_b_with_rng(&password, &ida, &idb, rng(RECEIVER_SEED));
    let key = a.finish(&pake_r).expect("finish a");
    assert_eq!(b.finish(&pake_s).expect("finish b"), key);
    let derived = schedule::derive(&key, &room(), &pake_s, &pake_r);

    let code = Code::parse(CODE).expect("code");
    let (mut s, s0) = Pairing::start_with_rng(Side::Sender, &code, room(), rng(SENDER_SEED));
    let (mut r, r0) = Pairing::start_with_rng(Side::Receiver, &code, room(), rng(RECEIVER_SEED));
    assert_eq!(sent(s0.clone()), pake_s);
    assert_eq!(sent(r0.clone()), pake_r);
    let confirm_r = sent(r.receive(0, &sent(s0)).expect("pake S").remove(0));
    assert_eq!(confirm_r, derived.confirm_r);
    s.receive(0, &sent(r0)).expect("pake R");
    let confirm_s = sent(s.receive(1, &confirm_r).expect("confirm R").remove(0));
    assert_eq!(confirm_s, derived.confirm_s);
    r.receive(1, &confirm_s).expect("confirm S");
    let session = r.session().expect("session");
    assert_eq!(session.transcript, derived.transcript);
    assert_eq!(session.receiver_code, derived.receiver_code);
    assert_eq!(session.id(), derived.session_id);
    Example {
        pake_s,
        pake_r,
        key,
        derived,
        receiver: Credentials::Relay(session),
    }
}

#[test]
fn the_documented_values_follow_from_the_documented_inputs() {
    let ex = compute();
    let d = &ex.derived;
    if std::env::var_os("HUSH_PRINT_EXAMPLE").is_some() {
        let sealed = shared::seal(
            &ex.receiver,
            &Metadata::default(),
            b"example relay secret\n",
            true,
            SealOptions::default(),
        )
        .expect("seal");
        println!("pake_S        {}", hex(&ex.pake_s));
        println!("pake_R        {}", hex(&ex.pake_r));
        println!("K             {}", hex(&ex.key));
        println!("TH            {}", hex(&d.transcript));
        println!("confirm_R     {}", hex(&d.confirm_r));
        println!("confirm_S     {}", hex(&d.confirm_s));
        println!("receiver_code {}", d.receiver_code);
        println!("content_key   {}", hex(&d.content_key));
        println!("session_id    {}", hex(&d.session_id));
        println!("{}", String::from_utf8_lossy(&sealed));
    }
    let doc = relay_md();
    for (name, value) in [
        ("pake_S ", hex(&ex.pake_s)),
        ("pake_R ", hex(&ex.pake_r)),
        ("K ", hex(&ex.key)),
        ("TH ", hex(&d.transcript)),
        ("confirm_R ", hex(&d.confirm_r)),
        ("confirm_S ", hex(&d.confirm_s)),
        ("receiver_code ", d.receiver_code.to_string()),
        ("content_key ", hex(&d.content_key)),
        ("session_id ", hex(&d.session_id)),
    ] {
        assert_eq!(field(&doc, name), value, "{name}in RELAY.md §8");
    }
}

#[test]
fn the_documented_block_opens_with_the_example_session() {
    let doc = relay_md();
    let opened = shared::open(block(&doc).as_bytes(), &[compute().receiver]).expect("opens");
    assert_eq!(&opened.stdout[..], b"example relay secret\n");
}

#[test]
fn python_derives_the_same_values_and_opens_the_block() {
    let doc = relay_md();
    let out = Command::new("python3")
        .arg(docs().join("hush_relay.py"))
        .args([
            "derive",
            "--nameplate",
            "417",
            "--nonce",
            &hex(&room().nonce),
            "--slot",
            "1",
            "--pake-s",
            &field(&doc, "pake_S "),
            "--pake-r",
            &field(&doc, "pake_R "),
            "--key",
            &field(&doc, "K "),
        ])
        .stdin(std::fs::File::open(docs().join("RELAY.md")).expect("RELAY.md"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for name in [
        "TH ",
        "confirm_R ",
        "confirm_S ",
        "receiver_code ",
        "content_key ",
        "session_id ",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("python printed no {name}"));
        assert_eq!(
            line[name.len()..].trim(),
            field(&doc, name),
            "python's {name}"
        );
    }
    assert!(
        text.contains("stdout        example relay secret"),
        "{text}"
    );
}
