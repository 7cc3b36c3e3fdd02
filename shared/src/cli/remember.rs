//! The approval and the remember exchange of a relay pairing (docs/RELAY.md §11): when the
//! person at the sender approves a receiver, the sender tells it so (`to-receiver/2`),
//! with an offer of its identity if it was asked to remember the receiver; the receiver
//! answers an offer by accepting, with its own identity and mailbox, or declining
//! (`to-sender/2`). Both messages are sealed for the pairing's session (mode 0x03), so
//! only the two paired sides can read or make them; a `kind` inside tells an approval from
//! a reply, so the relay cannot reflect one as the other.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::devices::Mailbox;
use crate::relay::Session;
use crate::{Credentials, Metadata, PublicIdentity, SealOptions};

/// The sequence number of the approval and of the reply, after the pairing's 0 and 1.
pub const SEQ: u8 = 2;

/// The sender's offer: who it is, and the name it will give the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The name the server will remember this device as.
    pub name: String,
    /// The server's host name (what the laptop calls it by default).
    pub host: String,
    /// The server's public identity.
    pub identity: PublicIdentity,
}

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Remember me: my identity, and where to drop messages for me (if I have a mailbox).
    Accept {
        /// The laptop's public identity.
        identity: PublicIdentity,
        /// Its relay mailbox, if it registered one.
        mailbox: Option<Mailbox>,
    },
    /// Do not remember me.
    Decline,
}

/// Why a remember message was refused.
#[derive(Debug, thiserror::Error)]
pub enum RememberError {
    /// It did not open with the session (altered, or not from the paired side).
    #[error("the remember message does not open with this pairing: {0}")]
    Open(#[from] crate::Error),
    /// It opened but is not the message expected here.
    #[error("the remember message is malformed: {0}")]
    Malformed(String),
}

#[derive(Serialize, Deserialize)]
struct OfferWire {
    name: String,
    host: String,
    identity: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Wire {
    Approved {
        #[serde(default)]
        offer: Option<OfferWire>,
    },
    Accept {
        identity: String,
        #[serde(default)]
        mailbox: Option<Mailbox>,
    },
    Decline,
}

fn seal(session: &Session, wire: &Wire) -> Result<Vec<u8>, RememberError> {
    let json = Zeroizing::new(
        serde_json::to_vec(wire).map_err(|e| RememberError::Malformed(e.to_string()))?,
    );
    Ok(crate::seal(
        &Credentials::Relay(session.clone()),
        &Metadata::default(),
        &json,
        false,
        SealOptions::default(),
    )?)
}

fn open(session: &Session, sealed: &[u8]) -> Result<Wire, RememberError> {
    let opened = crate::open(sealed, &[Credentials::Relay(session.clone())])?;
    serde_json::from_slice(&opened.stdout).map_err(|e| RememberError::Malformed(e.to_string()))
}

fn identity(text: &str) -> Result<PublicIdentity, RememberError> {
    PublicIdentity::parse(text).map_err(|e| RememberError::Malformed(e.to_string()))
}

/// The sealed approval of a receiver, with `offer` if the sender offers to remember it.
pub fn seal_approval(session: &Session, offer: Option<&Offer>) -> Result<Vec<u8>, RememberError> {
    seal(
        session,
        &Wire::Approved {
            offer: offer.map(|o| OfferWire {
                name: o.name.clone(),
                host: o.host.clone(),
                identity: o.identity.to_base64(),
            }),
        },
    )
}

/// Opens an approval and its offer, if any; anything else (a reflected reply) is malformed.
pub fn open_approval(session: &Session, sealed: &[u8]) -> Result<Option<Offer>, RememberError> {
    match open(session, sealed)? {
        Wire::Approved { offer: None } => Ok(None),
        Wire::Approved { offer: Some(o) } => Ok(Some(Offer {
            name: o.name,
            host: o.host,
            identity: identity(&o.identity)?,
        })),
        _ => Err(RememberError::Malformed("expected an approval".into())),
    }
}

impl Reply {
    /// The sealed reply.
    pub fn seal(&self, session: &Session) -> Result<Vec<u8>, RememberError> {
        seal(
            session,
            &match self {
                Reply::Accept { identity, mailbox } => Wire::Accept {
                    identity: identity.to_base64(),
                    mailbox: mailbox.clone(),
                },
                Reply::Decline => Wire::Decline,
            },
        )
    }

    /// Opens a reply; anything else (a reflected offer) is malformed.
    pub fn open(session: &Session, sealed: &[u8]) -> Result<Self, RememberError> {
        match open(session, sealed)? {
            Wire::Accept {
                identity: key,
                mailbox,
            } => Ok(Reply::Accept {
                identity: identity(&key)?,
                mailbox,
            }),
            Wire::Decline => Ok(Reply::Decline),
            Wire::Approved { .. } => Err(RememberError::Malformed("expected a reply".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::{Code, Event, Pairing, RoomContext, Side};

    /// Two sessions of one pairing, its messages passed in memory.
    fn paired() -> (Session, Session) {
        let code = Code::parse("417-4K7M-Q2ZP").unwrap();
        let context = RoomContext {
            nameplate: code.nameplate(),
            nonce: [1; 32],
            slot: 1,
        };
        let (mut s, s0) = Pairing::start(Side::Sender, &code, context.clone());
        let (mut r, r0) = Pairing::start(Side::Receiver, &code, context);
        let (mut to_r, mut to_s) = (vec![s0], vec![r0]);
        for _ in 0..4 {
            for event in std::mem::take(&mut to_s) {
                if let Event::Send { seq, msg } = event {
                    to_r.extend(s.receive(seq, &msg).unwrap());
                }
            }
            for event in std::mem::take(&mut to_r) {
                if let Event::Send { seq, msg } = event {
                    to_s.extend(r.receive(seq, &msg).unwrap());
                }
            }
        }
        (s.session().unwrap(), r.session().unwrap())
    }

    #[test]
    fn offer_and_reply_round_trip_and_do_not_reflect() {
        let (s, r) = paired();
        let key = crate::IdentitySecret::generate().unwrap().public();
        let offer = Offer {
            name: "laptop".into(),
            host: "vpn1".into(),
            identity: key,
        };
        let sealed = seal_approval(&s, Some(&offer)).unwrap();
        assert_eq!(open_approval(&r, &sealed).unwrap(), Some(offer));
        let plain = seal_approval(&s, None).unwrap();
        assert_eq!(open_approval(&r, &plain).unwrap(), None);
        // The relay reflecting the approval back as the reply: refused.
        assert!(matches!(
            Reply::open(&s, &sealed),
            Err(RememberError::Malformed(_))
        ));
        let reply = Reply::Accept {
            identity: key,
            mailbox: None,
        };
        assert_eq!(Reply::open(&s, &reply.seal(&r).unwrap()).unwrap(), reply);
        assert_eq!(
            Reply::open(&s, &Reply::Decline.seal(&r).unwrap()).unwrap(),
            Reply::Decline
        );
    }
}
