//! Wycheproof's Cobblestone-256 vectors through every decryption path (streaming,
//! whole-message, raw) and raw-mode encryption. See tests/data/README.md.

use std::io::{Read, Write};

use serde_json::Value;
use sha2::{Digest, Sha512};
use shared::chunked::{self, Decryptor, Encryptor, PREFIX_SIZE};

struct Vector {
    id: u64,
    key: Vec<u8>,
    ctx: Vec<u8>,
    ct: Vec<u8>,
    aead_key: Option<Vec<u8>>,
    base_nonce: Option<Vec<u8>>,
    msg_len: usize,
    msg_sha512: Vec<u8>,
    valid: bool,
    flags: Vec<String>,
}

impl Vector {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

fn hexfield(t: &Value, name: &str) -> Option<Vec<u8>> {
    t.get(name)
        .and_then(Value::as_str)
        .map(|s| hex::decode(s).expect("hex"))
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("data/c2sp_chunked_encryption_aes_256_gcm_test.json");
    let json: Value = serde_json::from_str(text).expect("json");
    let mut out = Vec::new();
    for group in json["testGroups"].as_array().expect("groups") {
        for t in group["tests"].as_array().expect("tests") {
            let compressed = hexfield(t, "ct").expect("ct");
            let mut ct = Vec::new();
            flate2::read::ZlibDecoder::new(&compressed[..])
                .read_to_end(&mut ct)
                .expect("zlib");
            out.push(Vector {
                id: t["tcId"].as_u64().expect("id"),
                key: hexfield(t, "key").expect("key"),
                ctx: hexfield(t, "ctx").unwrap_or_default(),
                ct,
                aead_key: hexfield(t, "aeadKey"),
                base_nonce: hexfield(t, "baseNonce"),
                msg_len: t["msgLength"].as_u64().unwrap_or(0) as usize,
                msg_sha512: hexfield(t, "msgSha512").unwrap_or_default(),
                valid: t["result"].as_str() == Some("valid"),
                flags: t["flags"]
                    .as_array()
                    .expect("flags")
                    .iter()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect(),
            });
        }
    }
    assert_eq!(
        out.len(),
        json["numberOfTests"].as_u64().expect("count") as usize
    );
    out
}

fn check_message(v: &Vector, msg: &[u8]) {
    assert_eq!(msg.len(), v.msg_len, "tc {}: length", v.id);
    let digest = Sha512::digest(msg);
    assert!(digest.starts_with(&v.msg_sha512), "tc {}: digest", v.id);
}

/// Reads a decryptor to its end, returning what it released and the error, if any. After
/// an error it reads again to check the failure sticks.
fn drain<R: Read>(mut r: R) -> (Vec<u8>, Option<std::io::Error>) {
    let mut released = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (released, None),
            Ok(n) => released.extend_from_slice(&buf[..n]),
            Err(e) => {
                assert!(
                    r.read(&mut buf).is_err(),
                    "a failed decryptor must keep failing"
                );
                return (released, Some(e));
            }
        }
    }
}

#[test]
fn streaming_decryption() {
    for v in vectors() {
        let Ok(key) = <[u8; 32]>::try_from(&v.key[..]) else {
            // InvalidKeySize: the API takes exactly 32 bytes, so such a key is refused
            // before anything else happens.
            assert!(!v.valid && v.has("InvalidKeySize"), "tc {}", v.id);
            continue;
        };
        let dec = Decryptor::open(&v.ct[..], &key, &v.ctx);
        if v.has("HeaderFailure") {
            assert!(dec.is_err(), "tc {}: must fail on the header", v.id);
            continue;
        }
        let dec = dec.unwrap_or_else(|e| panic!("tc {}: header refused: {e}", v.id));
        let (released, err) = drain(dec);
        if v.valid {
            assert!(err.is_none(), "tc {}: {err:?}", v.id);
            check_message(&v, &released);
        } else {
            assert!(err.is_some(), "tc {}: invalid vector decrypted", v.id);
            if v.has("PartialPlaintext") {
                assert!(
                    released.len() <= v.msg_len,
                    "tc {}: released too much",
                    v.id
                );
                let digest_of_prefix = Sha512::digest(&released);
                if released.len() == v.msg_len {
                    assert!(digest_of_prefix.starts_with(&v.msg_sha512), "tc {}", v.id);
                }
            } else {
                assert!(
                    released.is_empty(),
                    "tc {}: released plaintext of an invalid message",
                    v.id
                );
            }
        }
    }
}

#[test]
fn whole_message_decryption() {
    for v in vectors() {
        let Ok(key) = <[u8; 32]>::try_from(&v.key[..]) else {
            continue;
        };
        match chunked::decrypt_all(&v.ct, &key, &v.ctx) {
            Ok(msg) => {
                assert!(v.valid, "tc {}: invalid vector decrypted", v.id);
                check_message(&v, &msg);
            }
            Err(e) => assert!(!v.valid, "tc {}: valid vector refused: {e}", v.id),
        }
    }
}

#[test]
fn raw_mode_decryption_and_deterministic_encryption() {
    let mut checked = 0;
    for v in vectors() {
        let (Some(aead_key), Some(nonce)) = (&v.aead_key, &v.base_nonce) else {
            continue;
        };
        let nonce: [u8; 12] = nonce[..].try_into().expect("12-byte nonce");
        let body = &v.ct[PREFIX_SIZE.min(v.ct.len())..];
        let (released, err) = drain(Decryptor::raw(body, aead_key, nonce));
        if !v.valid {
            assert!(
                err.is_some(),
                "tc {}: invalid vector decrypted in raw mode",
                v.id
            );
            continue;
        }
        assert!(err.is_none(), "tc {}: {err:?}", v.id);
        check_message(&v, &released);
        let mut enc = Encryptor::raw(Vec::new(), aead_key, nonce);
        enc.write_all(&released).expect("encrypt");
        assert_eq!(
            enc.finish().expect("finish"),
            body,
            "tc {}: raw re-encryption differs",
            v.id
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} raw vectors checked");
}

#[test]
fn key_derivation_matches_the_vectors() {
    // Sealing with the vector's salt must reproduce its salt, commitment and chunks.
    for v in vectors().into_iter().filter(|v| v.valid) {
        let key: [u8; 32] = v.key[..].try_into().expect("key");
        let salt: [u8; 24] = v.ct[..24].try_into().expect("salt");
        let msg = chunked::decrypt_all(&v.ct, &key, &v.ctx).expect("valid");
        let mut enc = Encryptor::with_salt(Vec::new(), &key, &v.ctx, &salt).expect("enc");
        enc.write_all(&msg).expect("write");
        assert_eq!(enc.finish().expect("finish"), v.ct, "tc {}", v.id);
    }
}
