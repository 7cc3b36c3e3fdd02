//! hush-relay: the HTTPS relay of protocol hush-relay/1 (docs/RELAY.md). Everything lives
//! in the library (`hush_relay`), so the store conformance tests can drive a store directly.

fn main() -> std::process::ExitCode {
    hush_relay::main()
}
