//! The one-time code: a public nameplate (allocated by the relay) and a 40-bit secret
//! (drawn by the sender, never sent to anyone). See docs/RELAY.md §1.

use std::fmt;

use zeroize::Zeroizing;

use super::CROCKFORD;

/// Characters of the secret half.
pub const SECRET_CHARS: usize = 8;
/// Digits of the longest nameplate.
const MAX_NAMEPLATE_DIGITS: usize = 4;

/// The public half of a code: a short decimal number, as the relay allocated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nameplate(u16);

impl Nameplate {
    /// A nameplate from its number (1..=9999).
    pub fn new(number: u16) -> Option<Self> {
        (1..=9999).contains(&number).then_some(Self(number))
    }

    /// Parses the decimal form the relay sends.
    pub fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.len() > MAX_NAMEPLATE_DIGITS || text.starts_with('0') {
            return None;
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().and_then(Self::new)
    }
}

impl fmt::Display for Nameplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why typed text is not a code. No variant holds the secret characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Nothing typed.
    #[error("no code given (it looks like 417-4K7M-Q2ZP)")]
    Empty,
    /// No `-` between the nameplate and the secret.
    #[error("the code needs a '-' after its number (it looks like 417-4K7M-Q2ZP)")]
    NoHyphen,
    /// The part before the first `-` is not a nameplate.
    #[error("the code must start with a number of 1 to 4 digits (it looks like 417-4K7M-Q2ZP)")]
    BadNameplate,
    /// The secret has the wrong number of characters.
    #[error("the code has {got} characters after its number; it needs {SECRET_CHARS}")]
    WrongLength {
        /// Characters found (hyphens and spaces not counted).
        got: usize,
    },
    /// A character that is not in the code's alphabet.
    #[error(
        "character {position} after the number is not valid in a code (letters and digits only; U is never used)"
    )]
    BadCharacter {
        /// 1-based position among the secret's characters.
        position: usize,
    },
}

/// A whole code. The secret half is zeroized on drop and never formatted by `Debug` or
/// `Display`: [`Code::to_shown`] is the one way to get it as text, for the sender's screen.
#[derive(Clone)]
pub struct Code {
    nameplate: Nameplate,
    /// The secret's 8 characters in canonical (upper-case Crockford) form.
    secret: Zeroizing<[u8; SECRET_CHARS]>,
}

impl Code {
    /// A new code for `nameplate`: 40 bits from the operating system's CSPRNG.
    pub fn generate(nameplate: Nameplate) -> crate::Result<Self> {
        let mut random = Zeroizing::new([0u8; 5]);
        crate::keys::fill_random(&mut random[..])?;
        Ok(Self::from_bits(nameplate, &random))
    }

    /// The code for 40 given bits, most significant first (for tests and examples).
    pub fn from_bits(nameplate: Nameplate, bits: &[u8; 5]) -> Self {
        let value = bits.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let mut secret = Zeroizing::new([0u8; SECRET_CHARS]);
        for (i, c) in secret.iter_mut().enumerate() {
            let shift = 5 * (SECRET_CHARS - 1 - i);
            *c = CROCKFORD[((value >> shift) & 31) as usize];
        }
        Self { nameplate, secret }
    }

    /// Parses what a person typed: case-insensitive, hyphens and spaces anywhere after the
    /// number, Crockford's aliases (O → 0, I and L → 1).
    pub fn parse(typed: &str) -> Result<Self, CodeError> {
        let typed = typed.trim();
        if typed.is_empty() {
            return Err(CodeError::Empty);
        }
        let (number, rest) = typed.split_once('-').ok_or(CodeError::NoHyphen)?;
        let nameplate = Nameplate::parse(number.trim()).ok_or(CodeError::BadNameplate)?;
        let mut secret = Zeroizing::new([0u8; SECRET_CHARS]);
        let mut count = 0;
        for c in rest.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
            count += 1;
            let canonical = canonical_char(c).ok_or(CodeError::BadCharacter { position: count })?;
            if count <= SECRET_CHARS {
                secret[count - 1] = canonical;
            }
        }
        if count != SECRET_CHARS {
            return Err(CodeError::WrongLength { got: count });
        }
        Ok(Self { nameplate, secret })
    }

    /// The public half, the one part that is sent to the relay.
    pub fn nameplate(&self) -> Nameplate {
        self.nameplate
    }

    /// The code as the sender shows it: `417-4K7M-Q2ZP`.
    pub fn to_shown(&self) -> Zeroizing<String> {
        let s = &self.secret;
        let mut out = Zeroizing::new(String::with_capacity(16));
        out.push_str(&self.nameplate.to_string());
        out.push('-');
        out.extend(s[..4].iter().map(|&b| char::from(b)));
        out.push('-');
        out.extend(s[4..].iter().map(|&b| char::from(b)));
        out
    }

    /// The SPAKE2 password: the canonical form `417-4K7MQ2ZP` (docs/RELAY.md §1).
    pub(crate) fn password(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(16));
        out.extend_from_slice(self.nameplate.to_string().as_bytes());
        out.push(b'-');
        out.extend_from_slice(&self.secret[..]);
        out
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Code")
            .field("nameplate", &self.nameplate)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A typed character in canonical form, or `None` if it has no place in a code.
fn canonical_char(c: char) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    let mapped = match upper {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    u8::try_from(mapped).ok().filter(|b| CROCKFORD.contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn np(n: u16) -> Nameplate {
        Nameplate::new(n).unwrap()
    }

    #[test]
    fn shown_and_parsed_back() {
        let code = Code::from_bits(np(417), &[0x21, 0x4f, 0x4b, 0xe1, 0x7f]);
        let shown = code.to_shown();
        assert_eq!(shown.as_str(), "417-457M-QRBZ");
        let again = Code::parse(&shown).unwrap();
        assert_eq!(again.password(), code.password());
        assert_eq!(code.password().as_slice(), b"417-457MQRBZ");
    }

    #[test]
    fn typing_is_forgiving_where_it_is_safe() {
        let want = Code::parse("417-4K7M-Q2ZP").unwrap().password();
        for typed in [
            "417-4k7m-q2zp",
            " 417-4K7MQ2ZP ",
            "417 -4K7M Q2ZP",
            "417-4K7M-Q2ZP\n",
        ] {
            assert_eq!(Code::parse(typed).unwrap().password(), want, "{typed:?}");
        }
        // Crockford's aliases: O is 0, I and L are 1.
        let zero_one = Code::parse("12-0011-0011").unwrap().password();
        assert_eq!(Code::parse("12-oOiL-OoIl").unwrap().password(), zero_one);
    }

    #[test]
    fn typos_get_a_specific_error_without_the_secret() {
        assert!(matches!(Code::parse(""), Err(CodeError::Empty)));
        assert!(matches!(
            Code::parse("4174K7MQ2ZP"),
            Err(CodeError::NoHyphen)
        ));
        assert!(matches!(
            Code::parse("x-4K7MQ2ZP"),
            Err(CodeError::BadNameplate)
        ));
        assert!(matches!(
            Code::parse("0417-4K7MQ2ZP"),
            Err(CodeError::BadNameplate)
        ));
        assert!(matches!(
            Code::parse("12345-4K7MQ2ZP"),
            Err(CodeError::BadNameplate)
        ));
        assert!(matches!(
            Code::parse("417-4K7M-Q2Z"),
            Err(CodeError::WrongLength { got: 7 })
        ));
        assert!(matches!(
            Code::parse("417-4K7M-Q2ZPX"),
            Err(CodeError::WrongLength { got: 9 })
        ));
        let err = Code::parse("417-4K7U-Q2ZP").err().unwrap();
        assert_eq!(err, CodeError::BadCharacter { position: 4 });
        assert!(!err.to_string().contains("4K7"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let code = Code::parse("417-4K7M-Q2ZP").unwrap();
        let debug = format!("{code:?}");
        assert!(
            debug.contains("417") && debug.contains("redacted"),
            "{debug}"
        );
        assert!(
            !debug.contains("4K7M") && !debug.contains("Q2ZP"),
            "{debug}"
        );
    }

    #[test]
    fn every_value_of_40_bits_round_trips() {
        for bits in [[0u8; 5], [0xff; 5], [0x80, 0, 0, 0, 1]] {
            let code = Code::from_bits(np(9999), &bits);
            assert_eq!(
                Code::parse(&code.to_shown()).unwrap().password(),
                code.password()
            );
        }
    }
}
