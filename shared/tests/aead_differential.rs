//! Differential test of the body's AEAD: Cobblestone-256 seals and opens with ring's
//! AES-256-GCM; here the `aes-gcm` crate (RustCrypto) recomputes every chunk — ciphertext
//! and tag — on random AEAD keys, base nonces and message lengths (0 to 64 KiB, so 1 to 5
//! chunks), and the body opens what `aes-gcm` sealed. The Wycheproof vectors
//! (tests/wycheproof.rs) pin both to the standard.

use std::io::{Read, Write};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use proptest::prelude::*;
use shared::chunked::{CHUNK_SIZE, Decryptor, Encryptor, NONCE_SIZE, TAG_SIZE};

/// The body as `aes-gcm` seals it (C2SP raw mode: no salt, no commitment).
fn reference_seal(key: &[u8; 32], base_nonce: &[u8; NONCE_SIZE], msg: &[u8]) -> Vec<u8> {
    let aead = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    // Full chunks, then the final one, always short (possibly empty).
    let mut pieces: Vec<&[u8]> = msg.chunks(CHUNK_SIZE).collect();
    if msg.len().is_multiple_of(CHUNK_SIZE) {
        pieces.push(&[]);
    }
    let mut out = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        let mut nonce = *base_nonce;
        for (n, c) in nonce[4..].iter_mut().zip((i as u64).to_be_bytes()) {
            *n ^= c;
        }
        let mut chunk = piece.to_vec();
        let tag = aead
            .encrypt_inout_detached(&Nonce::from(nonce), b"", chunk.as_mut_slice().into())
            .expect("seal");
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&tag);
    }
    out
}

fn ours_seal(key: &[u8; 32], base_nonce: &[u8; NONCE_SIZE], msg: &[u8], step: usize) -> Vec<u8> {
    let mut enc = Encryptor::raw(Vec::new(), key, *base_nonce);
    for part in msg.chunks(step.max(1)) {
        enc.write_all(part).expect("write");
    }
    enc.finish().expect("finish")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ring_and_aes_gcm_agree_chunk_for_chunk(
        key in any::<[u8; 32]>(),
        base_nonce in any::<[u8; NONCE_SIZE]>(),
        msg in prop_oneof![
            prop::sample::select(vec![0usize, 1, 15, 16, 17, CHUNK_SIZE - 1, CHUNK_SIZE,
                CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 4 * CHUNK_SIZE, 64 * 1024])
                .prop_flat_map(|n| prop::collection::vec(any::<u8>(), n)),
            prop::collection::vec(any::<u8>(), 0..=64 * 1024),
        ],
        step in 1usize..40_000,
    ) {
        let reference = reference_seal(&key, &base_nonce, &msg);
        let ours = ours_seal(&key, &base_nonce, &msg, step);
        prop_assert_eq!(ours.len(), msg.len() + (msg.len() / CHUNK_SIZE + 1) * TAG_SIZE);
        // Chunk by chunk, so that a failure names the chunk (ciphertext and tag).
        for (i, (a, b)) in ours
            .chunks(CHUNK_SIZE + TAG_SIZE)
            .zip(reference.chunks(CHUNK_SIZE + TAG_SIZE))
            .enumerate()
        {
            prop_assert!(a == b, "chunk {} differs (len {})", i, msg.len());
        }
        prop_assert!(ours == reference);

        // And ours opens what aes-gcm sealed.
        let mut opened = Vec::new();
        Decryptor::raw(&reference[..], &key, base_nonce)
            .read_to_end(&mut opened)
            .expect("open");
        prop_assert!(opened == msg);
    }
}
