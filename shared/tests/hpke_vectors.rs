//! RFC 9180's own test vectors (Appendix A.7) against the HPKE implementation of the
//! device mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, Export-Only AEAD.

use std::collections::HashMap;

use shared::identity::hazmat::{derive_key_pair, setup_and_export};
use shared::{IdentitySecret, PublicIdentity};

/// One "Setup Information" block: its fields, and its exported values in order.
struct Block {
    fields: HashMap<String, String>,
    exports: Vec<(String, String)>,
}

/// Parses the RFC's text: `name: value` lines (values may continue on the next lines),
/// blocks started by `mode:`, export triples of `exporter_context`, `L`, `exported_value`.
fn blocks() -> Vec<Block> {
    let text = include_str!("data/rfc9180-a7-export-only.txt");
    let mut blocks: Vec<Block> = Vec::new();
    let mut last: Option<String> = None;
    let mut pending_context: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("~~~") {
            last = None;
            continue;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            let (name, value) = (name.to_owned(), value.trim().to_owned());
            if name == "mode" {
                blocks.push(Block {
                    fields: HashMap::new(),
                    exports: Vec::new(),
                });
            }
            let Some(block) = blocks.last_mut() else {
                continue;
            };
            match name.as_str() {
                "exporter_context" => pending_context = Some(value),
                "L" => assert_eq!(value, "32", "every listed export is 32 bytes"),
                "exported_value" => block
                    .exports
                    .push((pending_context.take().expect("context first"), value)),
                _ => {
                    block.fields.insert(name.clone(), value);
                }
            }
            last = Some(name);
        } else if let (Some(name), Some(block)) = (&last, blocks.last_mut()) {
            // A continuation line of a long hex value.
            if name == "exported_value" {
                block.exports.last_mut().expect("value").1.push_str(line);
            } else {
                block.fields.get_mut(name).expect("field").push_str(line);
            }
        }
    }
    blocks
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).expect("hex").try_into().expect("32 bytes")
}

/// RFC 9180 §7.1.2: SerializePrivateKey of X25519 clamps its output; the vectors list the
/// scalars as derived, before clamping.
fn clamp(mut sk: [u8; 32]) -> [u8; 32] {
    sk[0] &= 248;
    sk[31] &= 127;
    sk[31] |= 64;
    sk
}

#[test]
fn rfc9180_a7_base_and_auth_vectors() {
    let blocks = blocks();
    assert_eq!(blocks.len(), 4, "Base, PSK, Auth and AuthPSK blocks");
    let mut checked = 0;
    for block in &blocks {
        let f = |name: &str| block.fields[name].clone();
        assert_eq!(
            (f("kem_id"), f("kdf_id"), f("aead_id")),
            ("32".into(), "1".into(), "65535".into())
        );
        let with_sender = match f("mode").as_str() {
            "0" => false,
            "2" => true,
            _ => continue, // PSK modes: not used by hush
        };
        for role in if with_sender {
            &["R", "E", "S"][..]
        } else {
            &["R", "E"][..]
        } {
            let (sk, pk) = derive_key_pair(&hex::decode(f(&format!("ikm{role}"))).unwrap());
            assert_eq!(sk, clamp(hex32(&f(&format!("sk{role}m")))), "sk{role}m");
            assert_eq!(hex::encode(pk), f(&format!("pk{role}m")), "pk{role}m");
        }
        let sender = with_sender.then(|| IdentitySecret::from_bytes(hex32(&f("skSm"))));
        if let Some(s) = &sender {
            assert_eq!(hex::encode(s.public().as_bytes()), f("pkSm"));
        }
        let recipient = PublicIdentity::from_bytes(hex32(&f("pkRm")));
        assert_eq!(block.exports.len(), 3);
        for (context, expected) in &block.exports {
            let (enc, exported) = setup_and_export(
                sender.as_ref(),
                &recipient,
                &hex::decode(f("info")).unwrap(),
                &hex32(&f("ikmE")),
                &hex::decode(context).unwrap(),
            );
            assert_eq!(hex::encode(enc), f("enc"), "enc, mode {}", f("mode"));
            assert_eq!(&hex::encode(exported), expected, "export of {context:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 6, "three exports each of Base and Auth");
}
