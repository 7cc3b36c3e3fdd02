//! Property tests of the sealed format: round trips, paste mangling, tampering.

use proptest::prelude::*;
use shared::chunked::{CHUNK_SIZE, PREFIX_SIZE, TAG_SIZE};
use shared::{Argon2Params, Credentials, Error, Iv, Key, Metadata, Passphrase, SealOptions, armor};
use zeroize::Zeroizing;

/// Small Argon2 parameters keep the property tests fast; the defaults are tested apart.
const FAST: SealOptions = SealOptions {
    argon2: Argon2Params {
        m_kib: 256,
        t: 1,
        p: 1,
    },
};

fn key_iv(seed: u8) -> Credentials {
    Credentials::KeyIv {
        key: Key::from_bytes([seed; 32]),
        iv: Iv::from_bytes([seed ^ 0x5a; 12]),
    }
}

fn passphrase(text: &str) -> Credentials {
    Credentials::Passphrase(Passphrase::new(Zeroizing::new(text.to_owned())).expect("non-empty"))
}

/// Sizes around chunk boundaries (payload records add a few bytes, so the sealed chunks
/// straddle the boundary too) and random ones up to 200 KiB.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        prop::sample::select(vec![0usize, 1, 16383, 16384, 16385, 32768, 200 * 1024]),
        0usize..=200 * 1024,
    ]
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn seal(creds: &Credentials, msg: &[u8], armored: bool) -> Vec<u8> {
    shared::seal(creds, &Metadata::default(), msg, armored, FAST).expect("seal")
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::NotHushData => "not hush",
        Error::UnsupportedVersion(_) => "version",
        Error::UnsupportedMode(_) => "mode",
        Error::ModeMismatch { .. } => "mode mismatch",
        Error::WrongKey | Error::WrongPassphrase => "wrong key",
        Error::Corrupted => "corrupted",
        Error::Truncated => "truncated",
        Error::TruncatedInChunk => "truncated in chunk",
        Error::ArmorTruncated => "armor truncated",
        Error::InvalidBase64 { .. } => "base64",
        Error::NoSealedBlock => "no block",
        Error::ParamsOverCap(_) => "cap",
        _ => "other",
    }
}

/// What a single-byte change at `pos` of a key+IV message must be reported as.
fn expected_for_flip(pos: usize, new_mode: u8, len: usize) -> &'static [&'static str] {
    // The final chunk, short and last, fails like a chunk cut short.
    let body = 6 + PREFIX_SIZE;
    let final_chunk = body + (len - body) / (CHUNK_SIZE + TAG_SIZE) * (CHUNK_SIZE + TAG_SIZE);
    match pos {
        0..=3 => &["not hush"],
        // A printable version byte makes the start look like text: no sealed block then.
        4 => &["version", "no block"],
        // Turning the key+IV mode into the passphrase mode is a mode mismatch (or, with the
        // passphrase fields eating the salt, still a refusal); other values are unknown.
        5 if new_mode == 2 => &["mode mismatch", "truncated", "cap"],
        5 => &["mode"],
        6..=61 => &["wrong key"],
        _ if pos >= final_chunk => &["truncated in chunk"],
        _ => &["corrupted"],
    }
}

/// What a key+IV message cut to `len` bytes must be reported as.
fn expected_for_cut(len: usize) -> &'static str {
    let header = 6;
    if len < 5 {
        // Too short to be told from text, and no armor in it.
        return "no block";
    }
    if len < header + PREFIX_SIZE {
        return "truncated";
    }
    let rem = (len - header - PREFIX_SIZE) % (CHUNK_SIZE + TAG_SIZE);
    if rem < TAG_SIZE {
        "truncated"
    } else {
        "truncated in chunk"
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn key_iv_round_trip(len in size(), seed: u8, armored: bool) {
        let creds = key_iv(seed);
        let msg = data(len, seed);
        let opened = shared::open(&seal(&creds, &msg, armored), std::slice::from_ref(&creds)).expect("open");
        prop_assert_eq!(&opened.stdout[..], &msg[..]);
        prop_assert!(opened.stderr.is_empty());
    }

    #[test]
    fn passphrase_round_trip(len in size(), pass in "[ -~]{1,40}", armored: bool) {
        let creds = passphrase(&pass);
        let msg = data(len, 7);
        let opened = shared::open(&seal(&creds, &msg, armored), std::slice::from_ref(&creds)).expect("open");
        prop_assert_eq!(&opened.stdout[..], &msg[..]);
    }

    #[test]
    fn armor_survives_white_space_anywhere(
        len in 0usize..3000,
        inserts in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![" ", "\n", "\r\n", "\t", "   ", "\n  "])), 0..60),
    ) {
        let creds = key_iv(1);
        let msg = data(len, 3);
        let mut text = String::from_utf8(seal(&creds, &msg, true)).expect("ascii");
        for (at, ws) in inserts {
            let pos = at.index(text.len() + 1);
            text.insert_str(pos, ws);
        }
        let text = format!("user@host:~$ hush-run -- cat secret\n{text}\nuser@host:~$ ");
        let opened = shared::open(text.as_bytes(), std::slice::from_ref(&creds)).expect("open");
        prop_assert_eq!(&opened.stdout[..], &msg[..]);
    }

    #[test]
    fn any_byte_flip_fails_with_the_right_kind(len in 0usize..40_000, at: prop::sample::Index, xor in 1u8..=255) {
        let creds = key_iv(9);
        let mut sealed = seal(&creds, &data(len, 1), false);
        let pos = at.index(sealed.len());
        sealed[pos] ^= xor;
        let err = shared::open(&sealed, std::slice::from_ref(&creds)).expect_err("tampered message opened");
        let expected = expected_for_flip(pos, sealed[5], sealed.len());
        prop_assert!(expected.contains(&kind(&err)), "flip at {} of {}: got {:?}, expected {:?}", pos, sealed.len(), err, expected);
    }

    #[test]
    fn any_truncation_fails_with_the_right_kind(len in 0usize..40_000, at: prop::sample::Index) {
        let creds = key_iv(4);
        let sealed = seal(&creds, &data(len, 2), false);
        let cut = at.index(sealed.len());
        let err = shared::open(&sealed[..cut], std::slice::from_ref(&creds)).expect_err("truncated message opened");
        prop_assert_eq!(kind(&err), expected_for_cut(cut), "cut at {} of {}", cut, sealed.len());
        // Armored, a cut anywhere before the END line is reported as a cut paste.
        let text = seal(&creds, &data(len, 2), true);
        let end = text.len() - armor::END.len() - 1;
        let cut = (at.index(end)).max(armor::BEGIN.len() + 1);
        let err = shared::open(&text[..cut], std::slice::from_ref(&creds)).expect_err("cut paste opened");
        prop_assert!(matches!(err, Error::ArmorTruncated | Error::InvalidBase64 { .. }), "{:?}", err);
    }
}

#[test]
fn same_plaintext_twice_gives_different_ciphertexts_that_both_open() {
    let creds = key_iv(5);
    let msg = b"setup key: 1234-5678";
    let a = seal(&creds, msg, false);
    let b = seal(&creds, msg, false);
    assert_ne!(a, b);
    // Not only the salt differs: every ciphertext byte after the header is fresh.
    let same = a[6..].iter().zip(&b[6..]).filter(|(x, y)| x == y).count();
    assert!(same < a.len() / 8, "{same} equal bytes");
    for sealed in [a, b] {
        assert_eq!(
            &shared::open(&sealed, std::slice::from_ref(&creds))
                .expect("open")
                .stdout[..],
            msg
        );
    }
}

#[test]
fn default_argon2_parameters_round_trip() {
    let creds = passphrase("correct horse battery staple");
    let sealed = shared::seal(
        &creds,
        &Metadata::default(),
        b"db password",
        true,
        SealOptions::default(),
    )
    .expect("seal");
    let opened = shared::open(&sealed, std::slice::from_ref(&creds)).expect("open");
    assert_eq!(&opened.stdout[..], b"db password");
    let wrong =
        shared::open(&sealed, &[passphrase("incorrect horse")]).expect_err("wrong passphrase");
    assert!(matches!(wrong, Error::WrongPassphrase));
}
