//! The load generator of `scripts/bench-relay`, in a process of its own: whole pairings
//! (tests/loadgen) against running relays, one JSON line of figures on stdout.
//!
//!   relay_load --url https://127.0.0.1:8443 --pin sha256:HEX [--url ...]
//!              [--pairings 2000] [--concurrency 32] [--payload 4096]
//!
//! With several `--url`s, senders and receivers of one pairing use different relays (a
//! farm sharing one Redis).

#[path = "../tests/loadgen/mod.rs"]
mod loadgen;

use clap::Parser;
use shared::cli::relay_client::{RelayClient, parse_pin};

#[derive(Parser)]
struct Args {
    /// A relay (repeat for a farm).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// The certificate pin every relay serves.
    #[arg(long)]
    pin: String,
    #[arg(long, default_value_t = 2000)]
    pairings: usize,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Bytes of plaintext per pairing.
    #[arg(long, default_value_t = 4096)]
    payload: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let pin = parse_pin(&args.pin)?;
    // Receivers use the next relay: with two relays, every pairing spans both.
    let connect = |worker: usize| {
        let relay = |i: usize| {
            let url = &args.urls[i % args.urls.len()];
            RelayClient::new(url, Some(pin)).unwrap_or_else(|e| panic!("{url}: {e}"))
        };
        (relay(worker), relay(worker + 1))
    };
    let report = loadgen::run(connect, args.pairings, args.concurrency, args.payload);
    let ms = |q: f64| report.quantile(q).as_secs_f64() * 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "pairings": report.pairings,
            "completed": report.latencies.len(),
            "errors": report.errors.len(),
            "first_error": report.errors.first(),
            "seconds": report.elapsed.as_secs_f64(),
            "pairings_per_second": report.rate(),
            "p50_ms": ms(0.50),
            "p99_ms": ms(0.99),
            "max_ms": ms(1.0),
        })
    );
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} pairings failed", report.errors.len()).into())
    }
}
