//! The worked examples of docs/FORMAT.md, read from the document itself, must open to
//! what it says, with this library and with the independent Python implementation
//! `docs/hush_open.py` (which also opens fresh output of this library).

use std::path::{Path, PathBuf};
use std::process::Command;

use shared::{
    Credentials, DeviceKeys, Fingerprint, IdentitySecret, Iv, Key, Metadata, Passphrase, Peer,
    PublicIdentity, SealOptions,
};
use zeroize::Zeroizing;

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn format_md() -> String {
    std::fs::read_to_string(docs().join("FORMAT.md")).expect("docs/FORMAT.md")
}

/// The text of one worked example: from its heading to the next heading.
fn example(n: usize) -> String {
    let doc = format_md();
    let heading = format!("### Example {n}");
    let start = doc
        .find(&heading)
        .unwrap_or_else(|| panic!("no '{heading}' in FORMAT.md"));
    let rest = &doc[start + heading.len()..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// The armored block of an example.
fn block(doc: &str) -> String {
    let start = doc.find(shared::armor::BEGIN).expect("example block");
    let end =
        doc[start..].find(shared::armor::END).expect("END") + start + shared::armor::END.len();
    format!("{}\n", &doc[start..end])
}

/// The value after `name` on the first line of the document that starts with it.
fn field(doc: &str, name: &str) -> String {
    let line = doc
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} line"));
    line[name.len()..]
        .split_whitespace()
        .find(|t| *t != "=")
        .expect("value")
        .to_owned()
}

fn example_one_credentials(doc: &str) -> Credentials {
    Credentials::KeyIv {
        key: Key::parse(&field(doc, "key ")).expect("key"),
        iv: Iv::parse(&field(doc, "iv ")).expect("iv"),
    }
}

#[test]
fn example_one_opens_with_the_library() {
    let doc = example(1);
    let creds = example_one_credentials(&doc);
    let Credentials::KeyIv { key, iv } = &creds else {
        unreachable!()
    };
    assert_eq!(
        Fingerprint::of(key, iv).to_string(),
        field(&doc, "fingerprint ")
    );
    let opened =
        shared::open(block(&doc).as_bytes(), std::slice::from_ref(&creds)).expect("example 1");
    assert_eq!(&opened.stdout[..], b"example-setup-key-0123456789\n");
    assert_eq!(
        opened.summary.metadata,
        Metadata {
            command: Some("wg genkey".into()),
            host: Some("vpn1".into()),
            user: Some("root".into()),
            time: Some(1_767_225_600),
        }
    );
}

#[test]
fn example_two_opens_with_the_library() {
    let doc = example(2);
    let pass = doc
        .lines()
        .find_map(|l| l.strip_prefix("passphrase  "))
        .expect("passphrase line")
        .trim()
        .to_owned();
    let creds = Credentials::Passphrase(Passphrase::new(Zeroizing::new(pass)).expect("passphrase"));
    let opened =
        shared::open(block(&doc).as_bytes(), std::slice::from_ref(&creds)).expect("example 2");
    assert_eq!(&opened.stdout[..], b"hello\n");
}

/// Example 3's laptop: its identity, and the server it paired with (named "vpn1").
fn example_three_laptop(doc: &str) -> (Credentials, PublicIdentity) {
    let own = IdentitySecret::parse(&field(doc, "laptop secret")).expect("laptop secret");
    let server = PublicIdentity::parse(&field(doc, "server public")).expect("server public");
    let creds = Credentials::Devices(DeviceKeys {
        own,
        peers: vec![Peer {
            name: "vpn1".into(),
            key: server,
            forgotten: false,
        }],
    });
    (creds, server)
}

#[test]
fn example_three_opens_with_the_library() {
    let doc = example(3);
    let (creds, server) = example_three_laptop(&doc);
    let Credentials::Devices(keys) = &creds else {
        unreachable!()
    };
    let laptop = keys.own.public();
    assert_eq!(laptop.to_base64(), field(&doc, "laptop public"));
    assert_eq!(laptop.key_id().to_string(), field(&doc, "laptop key id"));
    assert_eq!(server.key_id().to_string(), field(&doc, "server key id"));
    assert_eq!(server.fingerprint(), field(&doc, "server fingerprint"));
    let opened =
        shared::open(block(&doc).as_bytes(), std::slice::from_ref(&creds)).expect("example 3");
    assert_eq!(&opened.stdout[..], b"example device secret\n");
    assert_eq!(opened.summary.metadata.host.as_deref(), Some("vpn1"));
    assert_eq!(
        opened.mode,
        shared::Mode::Device {
            sender: server.key_id(),
            recipients: 1
        }
    );
}

/// An identity file for hush_open.py: this device's secret and the servers it accepts.
fn python_identity_file(path: &Path, own: &IdentitySecret, servers: &[PublicIdentity]) {
    let mut text = format!("identity = {}\n", own.to_base64().as_str());
    for s in servers {
        text.push_str(&format!("server = {}\n", s.to_base64()));
    }
    std::fs::write(path, text).expect("identity file");
}

fn python(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new("python3")
        .arg(docs().join("hush_open.py"))
        .args(args)
        .output()
        .expect(
            "python3 must be installed (scripts/test installs it with the cryptography package)",
        )
}

#[test]
fn python_opens_device_mode_from_the_document_and_fresh() {
    let doc = example(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (creds, server) = example_three_laptop(&doc);
    let Credentials::Devices(keys) = &creds else {
        unreachable!()
    };
    let ident = dir.path().join("identity");
    python_identity_file(&ident, &keys.own, &[server]);
    let example = dir.path().join("example3.txt");
    std::fs::write(&example, block(&doc)).expect("write");
    let out = python(&[
        "--identity-file".as_ref(),
        ident.as_os_str(),
        example.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"example device secret\n");
    // Its intermediate values are the document's.
    let out = python(&[
        "--explain".as_ref(),
        "--identity-file".as_ref(),
        ident.as_os_str(),
        example.as_os_str(),
    ]);
    let explained = String::from_utf8(out.stdout).expect("utf-8");
    for name in ["mask", "input key", "salt", "commitment"] {
        let line = explained
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {explained}"));
        assert_eq!(
            line.split_whitespace().last(),
            Some(field(&doc, &format!("{name} ")).as_str()),
            "{name}"
        );
    }

    // Fresh output: a server sealing once for two laptops; each opens it in Python, and a
    // laptop that does not know the server refuses it.
    let server = IdentitySecret::generate().expect("server");
    let laptops = [(); 2].map(|_| IdentitySecret::generate().expect("laptop"));
    let sealing = Credentials::Devices(DeviceKeys {
        own: server.clone(),
        peers: laptops
            .iter()
            .map(|l| Peer {
                name: "laptop".into(),
                key: l.public(),
                forgotten: false,
            })
            .collect(),
    });
    let msg: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let sealed = shared::seal(
        &sealing,
        &Metadata::default(),
        &msg,
        true,
        SealOptions::default(),
    )
    .expect("seal");
    let input = dir.path().join("fresh.sealed");
    std::fs::write(&input, sealed).expect("write");
    for laptop in &laptops {
        python_identity_file(&ident, laptop, &[server.public()]);
        let out = python(&[
            "--identity-file".as_ref(),
            ident.as_os_str(),
            input.as_os_str(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, msg);
    }
    python_identity_file(&ident, &laptops[0], &[]);
    let out = python(&[
        "--identity-file".as_ref(),
        ident.as_os_str(),
        input.as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("never paired with"));
    assert!(out.stdout.is_empty());
}

fn python_open(key_file: &Path, input: &Path) -> Vec<u8> {
    let out = python(&[
        "--key-file".as_ref(),
        key_file.as_os_str(),
        input.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "hush_open.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn independent_python_implementation_agrees() {
    let doc = example(1);
    let dir = tempfile::tempdir().expect("tempdir");
    // Example 1, as documented.
    let key_file = dir.path().join("example.key");
    std::fs::write(
        &key_file,
        format!(
            "key = {}\niv = {}\n",
            field(&doc, "key "),
            field(&doc, "iv ")
        ),
    )
    .expect("write");
    let example = dir.path().join("example.txt");
    std::fs::write(&example, block(&doc)).expect("write");
    assert_eq!(
        python_open(&key_file, &example),
        b"example-setup-key-0123456789\n"
    );

    // Fresh output of this library, several chunks long, armored and binary.
    let (key, iv) = (Key::generate().expect("key"), Iv::generate().expect("iv"));
    std::fs::write(
        dir.path().join("fresh.key"),
        format!(
            "key = {}\niv = {}\n",
            key.to_base64().as_str(),
            iv.to_base64().as_str()
        ),
    )
    .expect("key file");
    let creds = Credentials::KeyIv { key, iv };
    let msg: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 256) as u8).collect();
    for armored in [true, false] {
        let sealed = shared::seal(
            &creds,
            &Metadata::default(),
            &msg,
            armored,
            SealOptions::default(),
        )
        .expect("seal");
        let input = dir.path().join("fresh.sealed");
        std::fs::write(&input, sealed).expect("write");
        assert_eq!(
            python_open(&dir.path().join("fresh.key"), &input),
            msg,
            "armored: {armored}"
        );
    }
}
