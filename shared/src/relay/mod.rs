//! hush-relay/1, sans IO: the code, the key schedule and the pairing state machines that
//! `hush-run` (the sender) and `hush` (a receiver) run over a relay. Messages in, messages
//! out: no sockets here; the contract is docs/RELAY.md.
//!
//! - [`code`]: the one-time code (`417-4K7M-Q2ZP`): parsing what a person types, showing it;
//! - [`schedule`]: transcript hash and the keys derived from the SPAKE2 key;
//! - [`pairing`]: one SPAKE2 exchange with explicit key confirmation, for either side.

pub mod code;
pub mod pairing;
pub mod schedule;

pub use code::{Code, CodeError, Nameplate};
pub use pairing::{Event, Pairing, PairingError, Side};
pub use schedule::{ReceiverCode, RoomContext, Session};

/// Crockford's base32 alphabet (no I, L, O, U).
pub(crate) const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
