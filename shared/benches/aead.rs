//! AES-256-GCM alone, one core, on one 16 KiB chunk (Cobblestone-256's chunk size): ring
//! (what `shared::chunked` uses) against the `aes-gcm` crate (what it used before).
//! Run: `cargo bench -p shared --bench aead`.
#![allow(missing_docs)]

use std::hint::black_box;

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

const CHUNK: usize = 16 * 1024;

fn benches(c: &mut Criterion) {
    let key = [0x42u8; 32];
    let nonce = [7u8; 12];
    let mut buf = vec![0x5au8; CHUNK];
    let mut group = c.benchmark_group("aes-256-gcm 16KiB");
    group.throughput(Throughput::Bytes(CHUNK as u64));

    let ring_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("key"));
    group.bench_function("ring seal", |b| {
        b.iter(|| {
            let n = Nonce::assume_unique_for_key(nonce);
            black_box(ring_key.seal_in_place_separate_tag(n, Aad::empty(), &mut buf))
        })
    });
    let tag = ring_key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
        .expect("seal");
    let sealed = buf.clone();
    group.bench_function("ring open", |b| {
        b.iter(|| {
            buf.copy_from_slice(&sealed);
            let n = Nonce::assume_unique_for_key(nonce);
            black_box(
                ring_key
                    .open_in_place_separate_tag(n, Aad::empty(), tag, &mut buf, 0..)
                    .is_ok(),
            )
        })
    });

    let rc = aes_gcm::Aes256Gcm::new_from_slice(&key).expect("key");
    let rc_nonce = aes_gcm::Nonce::from(nonce);
    group.bench_function("aes-gcm seal", |b| {
        b.iter(|| black_box(rc.encrypt_inout_detached(&rc_nonce, b"", buf.as_mut_slice().into())))
    });
    let tag = rc
        .encrypt_inout_detached(&rc_nonce, b"", buf.as_mut_slice().into())
        .expect("seal");
    let sealed = buf.clone();
    group.bench_function("aes-gcm open", |b| {
        b.iter(|| {
            buf.copy_from_slice(&sealed);
            black_box(
                rc.decrypt_inout_detached(&rc_nonce, b"", buf.as_mut_slice().into(), &tag)
                    .is_ok(),
            )
        })
    });
    group.finish();
}

criterion_group!(aead, benches);
criterion_main!(aead);
