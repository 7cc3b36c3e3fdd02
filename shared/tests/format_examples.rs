//! The worked examples of docs/FORMAT.md, read from the document itself, must open to
//! what it says, with this library and with the independent Python implementation
//! `docs/hush_open.py` (which also opens fresh output of this library).

use std::path::{Path, PathBuf};
use std::process::Command;

use shared::{Credentials, Fingerprint, Iv, Key, Metadata, Passphrase, SealOptions};
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

fn python_open(key_file: &Path, input: &Path) -> Vec<u8> {
    let out = Command::new("python3")
        .arg(docs().join("hush_open.py"))
        .arg("--key-file")
        .arg(key_file)
        .arg(input)
        .output()
        .expect(
            "python3 must be installed (scripts/test installs it with the cryptography package)",
        );
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
