//! AES-256-GCM alone, one core, on one 16 KiB chunk (Cobblestone-256's chunk size): ring
//! (what `shared::chunked` uses) against the `aes-gcm` crate (what it used before); and
//! Cobblestone-256 itself (`chunked::Encryptor`/`Decryptor`, 1 MiB through the `Write` and
//! `Read` adapters, on a one-thread pool) against ring's raw AES-256-GCM on the same 64
//! chunks, which is what the body's AEAD can at best reach on one core.
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

/// One core: ring's raw AES-256-GCM sealing 16 KiB chunks in place, against Cobblestone-256
/// (`chunked::Encryptor` and `Decryptor`) carrying 16 MiB as hush-run hands it over, in
/// 256 KiB writes (key commitment, nonces, batching and the copy into its batch included;
/// the output goes to `io::sink`).
fn cobblestone(c: &mut Criterion) {
    use shared::chunked::{Decryptor, Encryptor};
    use std::io::{Read as _, Write as _};
    const TOTAL: usize = 16 << 20;
    const PIECE: usize = 256 << 10;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("one-thread pool");
    let plain = vec![0x5au8; TOTAL];
    let (input_key, context) = ([0x11u8; 32], b"bench context");
    let mut group = c.benchmark_group("one core, 16 MiB");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(20);

    let ring_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x42u8; 32]).expect("key"));
    let mut buf = plain.clone();
    group.bench_function("ring raw seal, in place", |b| {
        b.iter(|| {
            for (i, chunk) in buf.chunks_mut(CHUNK).enumerate() {
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
                let n = Nonce::assume_unique_for_key(nonce);
                black_box(
                    ring_key
                        .seal_in_place_separate_tag(n, Aad::empty(), chunk)
                        .ok(),
                );
            }
        })
    });
    group.bench_function("cobblestone seal (Encryptor)", |b| {
        b.iter(|| {
            pool.install(|| {
                let mut w =
                    Encryptor::new(std::io::sink(), &input_key, context).expect("encryptor");
                for piece in plain.chunks(PIECE) {
                    w.write_all(piece).expect("write");
                }
                black_box(w.finish().expect("finish"));
            })
        })
    });
    let sealed = {
        let mut w = Encryptor::new(Vec::new(), &input_key, context).expect("encryptor");
        w.write_all(&plain).expect("write");
        w.finish().expect("finish")
    };
    let mut piece = vec![0u8; PIECE];
    group.bench_function("cobblestone open (Decryptor)", |b| {
        b.iter(|| {
            pool.install(|| {
                let mut r = Decryptor::open(&sealed[..], &input_key, context).expect("decryptor");
                while r.read(&mut piece).expect("read") > 0 {}
                black_box(&piece);
            })
        })
    });
    group.finish();
}

criterion_group!(aead, benches, cobblestone);
criterion_main!(aead);
