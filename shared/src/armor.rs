//! Armor: sealed bytes as text that survives terminals, tmux and copy-paste.
//!
//! ```text
//! -----BEGIN HUSH SEALED MESSAGE-----
//! <standard base64 with padding, 64 columns per line>
//! -----END HUSH SEALED MESSAGE-----
//! ```
//! The decoder finds the block inside any surrounding text and ignores every ASCII white
//! space byte, even inside the BEGIN and END lines, because terminals and tmux insert line
//! breaks at soft wraps and add CR, indentation and trailing spaces. Anything else that is
//! not canonical base64 is an error.

use std::io::{self, BufRead, BufReader, Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64_simd::AsOut as _;

use crate::envelope::MAGIC;
use crate::error::{Error, Result};

/// The line that starts a block.
pub const BEGIN: &str = "-----BEGIN HUSH SEALED MESSAGE-----";
/// The line that ends a block.
pub const END: &str = "-----END HUSH SEALED MESSAGE-----";
/// Base64 characters per line.
pub const COLUMNS: usize = 64;
/// Bytes per full line (64 base64 characters).
const LINE_BYTES: usize = COLUMNS / 4 * 3;

/// Streaming armor encoder: an [`io::Write`] adapter. [`ArmorWriter::finish`] writes the
/// last line and the END line.
pub struct ArmorWriter<W: Write> {
    inner: W,
    /// Bytes waiting to fill a whole line.
    pending: Vec<u8>,
    /// Reused buffer for the text of one piece (sealed bytes only, never plaintext).
    text: Vec<u8>,
}

/// Lines encoded per piece: large writes go out in about 1 MiB of text at a time.
const PIECE_LINES: usize = 16 * 1024;
/// Input bytes one core encodes at a time; a piece of fewer than twice this many is
/// encoded on the calling thread.
const SHARE_BYTES: usize = 1024 * LINE_BYTES;

/// Length of `n` bytes as armor text: base64 with padding, a newline after every line.
fn text_len(n: usize) -> usize {
    let chars = n.div_ceil(3) * 4;
    chars + chars.div_ceil(COLUMNS)
}

/// Encodes `data` as armor lines into `out`, which is exactly [`text_len`] long. Every line
/// but the last must be whole, so `data` may be cut at any multiple of [`LINE_BYTES`]:
/// large inputs are split there and shared between the cores.
fn encode_lines(data: &[u8], out: &mut [u8]) {
    if data.len() >= 2 * SHARE_BYTES {
        let half = data.len() / 2 / LINE_BYTES * LINE_BYTES;
        let (a, b) = data.split_at(half);
        let (text_a, text_b) = out.split_at_mut(text_len(half));
        rayon::join(|| encode_lines(a, text_a), || encode_lines(b, text_b));
        return;
    }
    // One base64 call for the whole piece (per-line calls spent a quarter of the time in
    // the encoder's set-up), then the lines are spread out in place from the last one,
    // each moving right by one byte per line before it, to make room for the newlines.
    // base64-simd picks AVX2 or SSSE3 (NEON on ARM) at run time, scalar code elsewhere.
    let chars = data.len().div_ceil(3) * 4;
    let _ = base64_simd::STANDARD.encode(data, out[..chars].as_out());
    for line in (0..chars.div_ceil(COLUMNS)).rev() {
        let start = line * COLUMNS;
        let end = (start + COLUMNS).min(chars);
        let to = line * (COLUMNS + 1);
        out.copy_within(start..end, to);
        out[to + end - start] = b'\n';
    }
}

impl<W: Write> ArmorWriter<W> {
    /// Writes the BEGIN line.
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(BEGIN.as_bytes())?;
        inner.write_all(b"\n")?;
        Ok(Self {
            inner,
            pending: Vec::with_capacity(LINE_BYTES),
            text: Vec::new(),
        })
    }

    /// Encodes `data` (whole lines, but for the very last one) and writes the text.
    fn write_lines(&mut self, data: &[u8]) -> io::Result<()> {
        for piece in data.chunks(PIECE_LINES * LINE_BYTES) {
            let len = text_len(piece.len());
            if self.text.len() < len {
                self.text.resize(len, 0);
            }
            encode_lines(piece, &mut self.text[..len]);
            self.inner.write_all(&self.text[..len])?;
        }
        Ok(())
    }

    /// Writes the last (possibly short) line and the END line; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.write_lines(&pending)?;
        }
        self.inner.write_all(END.as_bytes())?;
        self.inner.write_all(b"\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ArmorWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        if !self.pending.is_empty() {
            let n = (LINE_BYTES - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.pending.len() < LINE_BYTES {
                return Ok(total);
            }
            let line = std::mem::take(&mut self.pending);
            self.write_lines(&line)?;
            self.pending = line;
            self.pending.clear();
        }
        let whole = data.len() / LINE_BYTES * LINE_BYTES;
        self.write_lines(&data[..whole])?;
        self.pending.extend_from_slice(&data[whole..]);
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Armors a whole message.
pub fn armor(sealed: &[u8]) -> String {
    let mut out = Vec::with_capacity(sealed.len() * 4 / 3 + sealed.len() / LINE_BYTES + 80);
    // Writing to a Vec cannot fail.
    let finished = ArmorWriter::new(&mut out).and_then(|mut w| {
        w.write_all(sealed)?;
        w.finish()
    });
    debug_assert!(finished.is_ok());
    String::from_utf8_lossy(&out).into_owned()
}

/// Streaming armor decoder: an [`io::Read`] adapter that yields the sealed bytes of the
/// first block in the input.
pub struct ArmorReader<R: BufRead> {
    inner: R,
    state: ReadState,
    /// Base64 characters collected but not yet decoded.
    quad: Vec<u8>,
    /// Decoded bytes ready to hand out.
    out: Vec<u8>,
    out_pos: usize,
    /// 1-based line inside the block, for error messages.
    line: usize,
    /// Set once a padded group was decoded: nothing but the END line may follow.
    padded: bool,
    /// How much of the compact END marker has been matched.
    end_matched: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadState {
    SeekingBegin,
    Body,
    Done,
}

/// A marker line (`BEGIN`, `END`) with its white space dropped, as the decoder matches it
/// (terminals may break it across lines).
pub fn compact(marker: &str) -> Vec<u8> {
    marker
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect()
}

fn is_base64(b: u8) -> bool {
    in_alphabet(b) || b == b'='
}

/// Whether `b` is in the standard base64 alphabet (padding aside), written without
/// branches or a table so that a block of bytes is checked with vector instructions.
fn in_alphabet(b: u8) -> bool {
    (b.wrapping_sub(b'A') < 26)
        | (b.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'+')
        | (b == b'/')
}

/// Length of the run of alphabet characters that starts `text`. Checked 16 bytes at a time
/// (a 64-column line is four blocks), then byte by byte up to the first other character.
fn alphabet_run(text: &[u8]) -> usize {
    const BLOCK: usize = 16;
    let mut run = 0;
    while let Some(block) = text.get(run..run + BLOCK) {
        if !block.iter().fold(true, |all, &b| all & in_alphabet(b)) {
            break;
        }
        run += BLOCK;
    }
    run + text[run..].iter().take_while(|&&b| in_alphabet(b)).count()
}

/// Base64 characters collected before they are decoded: enough for both cores.
const DECODE_CHARS: usize = 512 * 1024;
/// Base64 characters one core decodes at a time; fewer than twice this many are decoded on
/// the calling thread.
const SHARE_CHARS: usize = 64 * 1024;

/// Decodes whole groups of four into `out` (sized for them), sharing large inputs between
/// the cores. Only the very last group may hold padding, so any cut at a multiple of four
/// before it decodes to exactly three bytes a group. Returns the decoded length; an error
/// is that of the first half that has one.
///
/// The decoder is base64-simd's strict one (AVX2/SSSE3/NEON chosen at run time): the
/// standard alphabet only, length a multiple of four, `=` only as the last one or two
/// characters, zero bits after the last byte — FORMAT.md §6's canonical base64. Its error
/// says nothing more, so a failing piece is decoded again by the scalar `base64` crate,
/// which is as strict and names the fault (padding, trailing bits).
fn decode_groups(
    groups: &[u8],
    out: &mut [u8],
) -> std::result::Result<usize, base64::DecodeSliceError> {
    if groups.len() >= 2 * SHARE_CHARS {
        let half = groups.len() / 2 / 4 * 4;
        let (a, b) = groups.split_at(half);
        let (out_a, out_b) = out.split_at_mut(half / 4 * 3);
        let (got_a, got_b) = rayon::join(|| decode_groups(a, out_a), || decode_groups(b, out_b));
        let got_a = got_a?;
        return Ok(got_a + got_b?);
    }
    match base64_simd::STANDARD.decode(groups, out.as_out()) {
        Ok(decoded) => Ok(decoded.len()),
        Err(_) => match STANDARD.decode_slice(groups, out) {
            Err(e) => Err(e),
            // Both decoders follow RFC 4648 strictly: they cannot disagree on valid text.
            Ok(_) => Err(base64::DecodeSliceError::DecodeError(
                base64::DecodeError::InvalidLength(groups.len()),
            )),
        },
    }
}

impl<R: BufRead> ArmorReader<R> {
    /// Wraps text input.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            state: ReadState::SeekingBegin,
            quad: Vec::with_capacity(64 * 1024),
            out: Vec::with_capacity(48 * 1024),
            out_pos: 0,
            line: 1,
            padded: false,
            end_matched: 0,
        }
    }

    fn damaged(&self, reason: impl Into<String>) -> Error {
        Error::InvalidBase64 {
            line: self.line,
            reason: reason.into(),
        }
    }

    /// Skips input up to and including the BEGIN marker (white space ignored).
    fn seek_begin(&mut self) -> Result<()> {
        let marker = compact(BEGIN);
        let mut window: Vec<u8> = Vec::with_capacity(marker.len());
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Err(Error::NoSealedBlock);
            }
            let mut used = 0;
            let mut found = false;
            for &b in buf {
                used += 1;
                if b.is_ascii_whitespace() {
                    continue;
                }
                if window.len() == marker.len() {
                    window.remove(0);
                }
                window.push(b);
                if window == marker {
                    found = true;
                    break;
                }
            }
            self.inner.consume(used);
            if found {
                self.state = ReadState::Body;
                return Ok(());
            }
        }
    }

    /// Decodes more of the body into `out`. Returns false at the END line.
    fn decode_more(&mut self) -> Result<bool> {
        let end_marker = compact(END);
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Err(Error::ArmorTruncated);
            }
            let mut used = 0;
            let mut at_end = false;
            while used < buf.len() {
                // Fast path: a run of base64 alphabet characters (the bulk of every line)
                // is copied in one go; everything else goes through the checks below.
                if !self.padded && self.end_matched == 0 {
                    let run = alphabet_run(&buf[used..]);
                    self.quad.extend_from_slice(&buf[used..used + run]);
                    used += run;
                    if used == buf.len() {
                        break;
                    }
                }
                let b = buf[used];
                used += 1;
                if b == b'\n' {
                    self.line += 1;
                }
                if b.is_ascii_whitespace() {
                    continue;
                }
                if self.end_matched > 0 || b == b'-' {
                    if b != end_marker[self.end_matched] {
                        self.inner.consume(used);
                        return Err(if self.end_matched > 0 {
                            self.damaged("malformed END line")
                        } else {
                            self.damaged("unexpected '-'")
                        });
                    }
                    self.end_matched += 1;
                    if self.end_matched == end_marker.len() {
                        at_end = true;
                        break;
                    }
                    continue;
                }
                if !is_base64(b) {
                    let shown = if b.is_ascii_graphic() {
                        format!("'{}'", b as char)
                    } else {
                        format!("byte 0x{b:02x}")
                    };
                    self.inner.consume(used);
                    return Err(self.damaged(format!("invalid character {shown}")));
                }
                if self.padded && b != b'=' {
                    self.inner.consume(used);
                    return Err(self.damaged("data after the padding '='"));
                }
                if b == b'=' {
                    self.padded = true;
                }
                self.quad.push(b);
            }
            self.inner.consume(used);
            if at_end {
                if !self.quad.len().is_multiple_of(4) {
                    return Err(
                        self.damaged("the base64 text has a wrong length (characters missing)")
                    );
                }
                self.decode_quads(self.quad.len())?;
                self.state = ReadState::Done;
                return Ok(self.out_pos < self.out.len());
            }
            // Decode whole groups of four, keeping a partial group (and any group holding
            // padding, which may only be checked at the end) for later.
            let mut ready = self.quad.len() / 4 * 4;
            if self.padded {
                ready = ready.saturating_sub(4);
            }
            if ready >= DECODE_CHARS {
                self.decode_quads(ready)?;
                return Ok(true);
            }
        }
    }

    fn decode_quads(&mut self, count: usize) -> Result<()> {
        self.out.clear();
        self.out_pos = 0;
        self.out.resize(count / 4 * 3, 0);
        let n = decode_groups(&self.quad[..count], &mut self.out).map_err(|e| match e {
            base64::DecodeSliceError::DecodeError(base64::DecodeError::InvalidLastSymbol {
                ..
            }) => self.damaged("non-canonical base64 (bits after the end)"),
            base64::DecodeSliceError::DecodeError(base64::DecodeError::InvalidPadding) => {
                self.damaged("bad base64 padding")
            }
            _ => self.damaged("invalid base64"),
        })?;
        self.out.truncate(n);
        self.quad.drain(..count);
        Ok(())
    }
}

impl<R: BufRead> Read for ArmorReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out.len() {
                let n = (self.out.len() - self.out_pos).min(buf.len());
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            match self.state {
                ReadState::Done => return Ok(0),
                ReadState::SeekingBegin => self.seek_begin().map_err(Error::into_io)?,
                ReadState::Body => {
                    self.decode_more().map_err(Error::into_io)?;
                }
            }
        }
    }
}

/// Armored or binary sealed input, told apart by the first five bytes: all printable ASCII
/// or white space means text (binary sealed data starts with `HUSH` and a version byte
/// that is not printable).
pub enum SealedInput<R: Read> {
    /// Binary sealed bytes.
    Binary(BufReader<Peeked<R>>),
    /// Text holding an armored block.
    Armored(ArmorReader<BufReader<Peeked<R>>>),
}

/// The input with the bytes read to tell binary from armor put back in front.
pub type Peeked<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

impl<R: Read> SealedInput<R> {
    /// Reads the first bytes to decide whether the input is binary or armored.
    pub fn new(mut inner: R) -> io::Result<Self> {
        let mut head = [0u8; MAGIC.len() + 1];
        let mut got = 0;
        while got < head.len() {
            match inner.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Binary sealed data starts with "HUSH" and a non-printable version byte; any other
        // input whose first bytes are not text is binary too (and then "not hush data"
        // says more than "no sealed block found").
        let is_text = |b: &u8| b.is_ascii_graphic() || b.is_ascii_whitespace();
        let binary = !head[..got].iter().all(is_text);
        let reader = BufReader::with_capacity(
            64 * 1024,
            io::Cursor::new(head[..got].to_vec()).chain(inner),
        );
        Ok(if binary {
            SealedInput::Binary(reader)
        } else {
            SealedInput::Armored(ArmorReader::new(reader))
        })
    }
}

impl<R: Read> Read for SealedInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SealedInput::Binary(r) => r.read(buf),
            SealedInput::Armored(r) => r.read(buf),
        }
    }
}

/// Extracts the sealed bytes from text (or passes binary sealed data through).
pub fn decode(input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    SealedInput::new(input)?
        .read_to_end(&mut out)
        .map_err(Error::from_io)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_various_sizes() {
        for len in [0, 1, 47, 48, 49, 95, 96, 1000, 100_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let text = armor(&data);
            assert!(
                text.lines()
                    .all(|l| l.len() <= COLUMNS || l.starts_with("-----"))
            );
            assert_eq!(decode(text.as_bytes()).unwrap(), data, "len {len}");
        }
    }

    #[test]
    fn the_block_scan_finds_the_same_run_as_a_byte_scan() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
            assert_eq!(in_alphabet(b), expected, "byte {b}");
        }
        let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2";
        for stop in [b'\n', b'\r', b' ', b'-', b'=', b'*', 0xff] {
            for at in 0..line.len() {
                let mut text = line.to_vec();
                text[at] = stop;
                assert_eq!(alphabet_run(&text), at, "{stop} at {at}");
            }
        }
        assert_eq!(alphabet_run(line), line.len());
        assert_eq!(alphabet_run(b""), 0);
    }

    #[test]
    fn large_blocks_shared_between_cores_round_trip() {
        // Several pieces, each split between the cores, and a short last line.
        let len = 2 * PIECE_LINES * LINE_BYTES + 3 * SHARE_BYTES + 7;
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let text = armor(&data);
        let body: Vec<&str> = text.lines().skip(1).take_while(|l| *l != END).collect();
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == COLUMNS));
        assert_eq!(body.concat(), STANDARD.encode(&data));
        assert_eq!(decode(text.as_bytes()).unwrap(), data);
        // The same through a reader that sees CRLF line ends.
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(decode(crlf.as_bytes()).unwrap(), data);
    }

    #[test]
    fn damage_deep_in_a_large_block_is_found() {
        let data = vec![0xa5u8; 3 * DECODE_CHARS];
        let text = armor(&data);
        let at = text.len() - 1000;
        let mut bad = text.into_bytes();
        bad[at] = b'*';
        assert!(matches!(
            decode(&bad),
            Err(Error::InvalidBase64 { reason, .. }) if reason.contains("'*'")
        ));
    }

    #[test]
    fn tolerates_surrounding_text_and_mangled_white_space() {
        let data: Vec<u8> = (0..500u32).map(|i| i as u8).collect();
        let text = armor(&data);
        let mangled: String = text
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 17 == 5 {
                    format!("{c}\r\n   ")
                } else {
                    c.to_string()
                }
            })
            .collect();
        let wrapped = format!("$ hush-run -- cat secret\n{mangled}\n$ exit\n");
        assert_eq!(decode(wrapped.as_bytes()).unwrap(), data);
    }

    #[test]
    fn specific_errors() {
        let text = armor(b"hello world, this is sealed");
        assert!(matches!(decode(b"nothing here"), Err(Error::NoSealedBlock)));
        let cut = &text[..text.len() - 10];
        assert!(matches!(decode(cut.as_bytes()), Err(Error::ArmorTruncated)));
        let body_start = BEGIN.len() + 1;
        let bad = format!("{}*{}", &text[..body_start + 3], &text[body_start + 3..]);
        let err = decode(bad.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the sealed block is damaged: invalid character '*' at line 2 of the block"
        );
        // Non-canonical: "aGk=" is canonical for "hi"; "aGl=" has stray low bits.
        let noncanon = format!("{BEGIN}\naGl=\n{END}\n");
        assert!(matches!(
            decode(noncanon.as_bytes()),
            Err(Error::InvalidBase64 { .. })
        ));
        let missing_pad = format!("{BEGIN}\naGk\n{END}\n");
        assert!(matches!(
            decode(missing_pad.as_bytes()),
            Err(Error::InvalidBase64 { .. })
        ));
        let pad_in_middle = format!("{BEGIN}\naGk=aGk=\n{END}\n");
        assert!(matches!(
            decode(pad_in_middle.as_bytes()),
            Err(Error::InvalidBase64 { .. })
        ));
    }

    #[test]
    fn the_simd_decoder_is_as_strict_as_the_scalar_one() {
        // Every way a group can be non-canonical, at the end of inputs short (scalar tail)
        // and long (vector body): the same verdict, and the same reason, as `base64`'s.
        let body = STANDARD.encode(vec![0x3cu8; 3 * 1000]);
        for prefix in ["", &body[..], &body[..96]] {
            for tail in [
                "aGk=", "aGl=", "aGk", "aG==", "a===", "====", "aGk=aGk=", "QQ==", "QR==", "QUI=",
                "QUJ=", "QUJD", "Q===", "=QUJ", "QU=J", "+/+/", "-_-_",
            ] {
                let text = format!("{prefix}{tail}");
                let mut simd = vec![0u8; text.len()];
                let mut scalar = vec![0u8; text.len()];
                let got = decode_groups(text.as_bytes(), &mut simd);
                let want = STANDARD.decode_slice(text.as_bytes(), &mut scalar);
                match (&got, &want) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a, b, "{tail}");
                        assert_eq!(simd[..*a], scalar[..*b], "{tail}");
                    }
                    (Err(_), Err(_)) if text.len() % 4 == 0 => {
                        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{tail}")
                    }
                    (Err(_), Err(_)) => {}
                    _ => panic!("{tail}: simd {got:?}, scalar {want:?}"),
                }
            }
        }
        // Random data of every length up to a few vectors, through the encoder too.
        for len in 0..300usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 151 % 256) as u8).collect();
            let text = armor(&data);
            let body: String = text.lines().skip(1).take_while(|l| *l != END).collect();
            assert_eq!(body, STANDARD.encode(&data), "len {len}");
            assert_eq!(decode(text.as_bytes()).unwrap(), data, "len {len}");
        }
    }
}
