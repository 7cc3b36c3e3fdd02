//! The plaintext inside an envelope: a metadata record, then the command's output as
//! records tagged stdout or stderr, then optionally its exit status.
//!
//! ```text
//! record = kind u8 | length u32 (big-endian) | data[length]
//! kinds:   0x01 metadata (first, exactly once) | 0x02 stdout | 0x03 stderr | 0x04 exit status (last)
//! ```
//! Keeping the streams in records lets `--seal-stderr` seal both and tell them apart on
//! opening, and the metadata lets the laptop say what it opened without showing it.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

const KIND_METADATA: u8 = 0x01;
const KIND_STDOUT: u8 = 0x02;
const KIND_STDERR: u8 = 0x03;
const KIND_EXIT: u8 = 0x04;

const FIELD_COMMAND: u8 = 0x01;
const FIELD_HOST: u8 = 0x02;
const FIELD_USER: u8 = 0x03;
const FIELD_TIME: u8 = 0x04;

/// Which output stream a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What the sealing side says about the message. Encrypted with it, so it may name the
/// command; it never holds the output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The command that was run, as the user typed it.
    pub command: Option<String>,
    /// The host it ran on.
    pub host: Option<String>,
    /// The user it ran as.
    pub user: Option<String>,
    /// When it started, in seconds since the Unix epoch.
    pub time: Option<u64>,
}

impl Metadata {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |tag: u8, value: &[u8]| {
            // Fields are capped at u16::MAX bytes; a longer command is cut (it is only shown).
            let value = &value[..value.len().min(u16::MAX as usize)];
            out.push(tag);
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value);
        };
        if let Some(c) = &self.command {
            field(
                FIELD_COMMAND,
                truncate_utf8(c, u16::MAX as usize).as_bytes(),
            );
        }
        if let Some(h) = &self.host {
            field(FIELD_HOST, truncate_utf8(h, u16::MAX as usize).as_bytes());
        }
        if let Some(u) = &self.user {
            field(FIELD_USER, truncate_utf8(u, u16::MAX as usize).as_bytes());
        }
        if let Some(t) = self.time {
            field(FIELD_TIME, &t.to_be_bytes());
        }
        out
    }

    fn decode(mut data: &[u8]) -> Result<Self> {
        let mut meta = Metadata::default();
        while !data.is_empty() {
            if data.len() < 3 {
                return Err(Error::BadPayload("metadata field cut short"));
            }
            let tag = data[0];
            let len = u16::from_be_bytes([data[1], data[2]]) as usize;
            let value = data
                .get(3..3 + len)
                .ok_or(Error::BadPayload("metadata field cut short"))?;
            let text = || String::from_utf8_lossy(value).into_owned();
            match tag {
                FIELD_COMMAND => meta.command = Some(text()),
                FIELD_HOST => meta.host = Some(text()),
                FIELD_USER => meta.user = Some(text()),
                FIELD_TIME => {
                    let bytes: [u8; 8] = value
                        .try_into()
                        .map_err(|_| Error::BadPayload("bad time field"))?;
                    meta.time = Some(u64::from_be_bytes(bytes));
                }
                // Unknown fields are informational only: newer writers may add some.
                _ => {}
            }
            data = &data[3 + len..];
        }
        Ok(meta)
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Writes the payload records into a sealer (or any writer).
pub struct PayloadWriter<W: Write> {
    inner: W,
}

impl<W: Write> PayloadWriter<W> {
    /// Starts the payload with its metadata record.
    pub fn new(mut inner: W, meta: &Metadata) -> io::Result<Self> {
        write_record(&mut inner, KIND_METADATA, &meta.encode())?;
        Ok(Self { inner })
    }

    /// Appends output of one stream. Empty writes add nothing.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let kind = match stream {
            Stream::Stdout => KIND_STDOUT,
            Stream::Stderr => KIND_STDERR,
        };
        for part in data.chunks(u32::MAX as usize) {
            write_record(&mut self.inner, kind, part)?;
        }
        Ok(())
    }

    /// Ends the payload, with the command's exit status if there is one.
    pub fn finish(mut self, exit_status: Option<i32>) -> io::Result<W> {
        if let Some(status) = exit_status {
            write_record(&mut self.inner, KIND_EXIT, &status.to_be_bytes())?;
        }
        Ok(self.inner)
    }
}

/// A [`Write`] view that puts everything into stdout records, for `hush seal`.
impl<W: Write> Write for PayloadWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !buf.is_empty() {
            PayloadWriter::write(self, Stream::Stdout, buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_record<W: Write>(w: &mut W, kind: u8, data: &[u8]) -> io::Result<()> {
    if data.is_empty() && kind != KIND_METADATA {
        return Ok(());
    }
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&(data.len() as u32).to_be_bytes());
    w.write_all(&head)?;
    w.write_all(data)
}

/// What a payload said besides its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The metadata record.
    pub metadata: Metadata,
    /// The exit status record, if any.
    pub exit_status: Option<i32>,
    /// Bytes of stdout.
    pub stdout_len: u64,
    /// Bytes of stderr.
    pub stderr_len: u64,
}

/// Reads a payload, writing stdout records to `stdout` and stderr records to `stderr`.
/// Errors of the reader (authentication failures among them) come back as library errors.
pub fn demux<R: Read>(mut r: R, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<Summary> {
    let mut summary = Summary::default();
    // Plaintext passes through it: wiped when done.
    let mut buf = zeroize::Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut first = true;
    loop {
        let mut head = [0u8; 5];
        match read_head(&mut r, &mut head)? {
            false if first => return Err(Error::BadPayload("no metadata record")),
            false => return Ok(summary),
            true => {}
        }
        let kind = head[0];
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as u64;
        if first != (kind == KIND_METADATA) {
            return Err(Error::BadPayload("metadata record missing or repeated"));
        }
        if summary.exit_status.is_some() {
            return Err(Error::BadPayload("data after the exit status"));
        }
        first = false;
        match kind {
            KIND_METADATA | KIND_EXIT => {
                if len > 3 * u16::MAX as u64 + 64 {
                    return Err(Error::BadPayload("oversized record"));
                }
                let mut data = vec![0u8; len as usize];
                crate::chunked::read_exact_or(
                    &mut r,
                    &mut data,
                    Error::BadPayload("record cut short"),
                )?;
                if kind == KIND_METADATA {
                    summary.metadata = Metadata::decode(&data)?;
                } else {
                    let bytes: [u8; 4] = data[..]
                        .try_into()
                        .map_err(|_| Error::BadPayload("bad exit status"))?;
                    summary.exit_status = Some(i32::from_be_bytes(bytes));
                }
            }
            KIND_STDOUT | KIND_STDERR => {
                let (out, total): (&mut dyn Write, _) = if kind == KIND_STDOUT {
                    (stdout, &mut summary.stdout_len)
                } else {
                    (stderr, &mut summary.stderr_len)
                };
                let mut left = len;
                while left > 0 {
                    let n = left.min(buf.len() as u64) as usize;
                    crate::chunked::read_exact_or(
                        &mut r,
                        &mut buf[..n],
                        Error::BadPayload("record cut short"),
                    )?;
                    out.write_all(&buf[..n])?;
                    left -= n as u64;
                }
                *total += len;
            }
            _ => {
                return Err(Error::BadPayload(
                    "unknown record kind (sealed by a newer hush?)",
                ));
            }
        }
    }
}

/// Reads a record head; `false` on a clean end of input before it.
fn read_head<R: Read>(r: &mut R, head: &mut [u8; 5]) -> Result<bool> {
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(Error::BadPayload("record cut short")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io(e)),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let meta = Metadata {
            command: Some("wg genkey".into()),
            host: Some("vpn1".into()),
            user: Some("root".into()),
            time: Some(1_700_000_000),
        };
        let mut w = PayloadWriter::new(Vec::new(), &meta).unwrap();
        w.write(Stream::Stdout, b"out1 ").unwrap();
        w.write(Stream::Stderr, b"err").unwrap();
        w.write(Stream::Stdout, b"out2").unwrap();
        let bytes = w.finish(Some(3)).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let summary = demux(&bytes[..], &mut out, &mut err).unwrap();
        assert_eq!(out, b"out1 out2");
        assert_eq!(err, b"err");
        assert_eq!(summary.metadata, meta);
        assert_eq!(summary.exit_status, Some(3));
        assert_eq!((summary.stdout_len, summary.stderr_len), (9, 3));
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert!(demux(&b""[..], &mut o, &mut e).is_err());
        assert!(demux(&b"\x02\0\0\0\x01x"[..], &mut o, &mut e).is_err());
        assert!(demux(&b"\x01\0\0\0\0\x09\0\0\0\0"[..], &mut o, &mut e).is_err());
        assert!(demux(&b"\x01\0\0\0\0\x02\0\0\0\x05ab"[..], &mut o, &mut e).is_err());
    }
}
