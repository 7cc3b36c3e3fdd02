//! Throughput of sealing and opening, binary and armored, at 1 MiB and 64 MiB.
//! Run: `cargo bench -p shared --bench seal_open`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Read;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shared::{Credentials, Metadata, SealOptions, SealWriter, Stream};

const SIZES: [(usize, &str); 2] = [(1 << 20, "1MiB"), (64 << 20, "64MiB")];

/// Seals into memory through the writer hush-run seals a child's output with
/// (`SealWriter::new_offloaded`: sealing here, armor and output on a second thread, lazy
/// start), 64 KiB at a time. Only the destination differs: memory rather than a file.
fn seal(creds: &Credentials, data: &[u8], armored: bool) -> Vec<u8> {
    let out = Vec::with_capacity(data.len() * 4 / 3 + 4096);
    let options = SealOptions::default();
    let mut w = SealWriter::new_offloaded(out, creds, &Metadata::default(), armored, options)
        .expect("seal");
    for part in data.chunks(64 * 1024) {
        w.write(Stream::Stdout, part).expect("write");
    }
    w.finish(None).expect("finish")
}

/// Opens into a sink: the streaming path, as `hush open > file` uses it (armor decoded
/// on the second thread).
fn open(creds: &Credentials, sealed: &Arc<[u8]>) -> u64 {
    let input = std::io::Cursor::new(Arc::clone(sealed));
    let (mut out, mut err) = (std::io::sink(), std::io::sink());
    let (summary, _, _) =
        shared::open_stream(input, std::slice::from_ref(creds), &mut out, &mut err).expect("open");
    summary.stdout_len
}

fn benches(c: &mut Criterion) {
    let creds = Credentials::generate().expect("keys");
    for (size, name) in SIZES {
        let mut data = vec![0u8; size];
        let mut rng = std::fs::File::open("/dev/urandom").expect("urandom");
        rng.read_exact(&mut data).expect("random");
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(size as u64));
        if size > 4 << 20 {
            group.sample_size(10);
        }
        for armored in [false, true] {
            let label = if armored { "armored" } else { "binary" };
            group.bench_function(BenchmarkId::new("seal", label), |b| {
                b.iter(|| black_box(seal(&creds, &data, armored)))
            });
            let sealed: Arc<[u8]> = seal(&creds, &data, armored).into();
            group.bench_function(BenchmarkId::new("open", label), |b| {
                b.iter(|| black_box(open(&creds, &sealed)))
            });
        }
        group.finish();
    }
}

criterion_group!(seal_open, benches);
criterion_main!(seal_open);
