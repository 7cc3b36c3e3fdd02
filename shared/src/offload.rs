//! Moving one stage of a pipeline to a second thread, so that reading, armor and output
//! overlap with encryption. Only sealed bytes (ciphertext or armor) cross this boundary.
//! (Within a stage, `chunked` and `armor` also share large batches between the cores.)
//!
//! Buffers are recycled through a return channel, so a long stream allocates a fixed
//! handful of them and memory stays constant.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes handed over per message between the threads.
const BATCH: usize = 256 * 1024;
/// Buffers in flight per direction.
const DEPTH: usize = 3;

/// An [`io::Write`] whose inner writer runs on its own thread.
pub struct OffloadWriter<W> {
    buf: Vec<u8>,
    tx: Option<SyncSender<Vec<u8>>>,
    free: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> OffloadWriter<W> {
    /// Starts the worker thread that writes into `inner`.
    pub fn new(mut inner: W) -> Self {
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let (free_tx, free) = sync_channel::<Vec<u8>>(DEPTH + 1);
        for _ in 0..DEPTH {
            let _ = free_tx.send(Vec::with_capacity(BATCH));
        }
        let worker = std::thread::spawn(move || {
            for mut buf in rx {
                inner.write_all(&buf)?;
                buf.clear();
                // The other side may be gone already (finishing); that is fine.
                let _ = free_tx.try_send(buf);
            }
            inner.flush()?;
            Ok(inner)
        });
        Self {
            buf: Vec::with_capacity(BATCH),
            tx: Some(tx),
            free,
            worker: Some(worker),
        }
    }
}

impl<W> OffloadWriter<W> {
    /// Sends the current buffer to the worker and takes a free one.
    fn hand_over(&mut self) -> io::Result<()> {
        let next = self
            .free
            .recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(full).is_ok())
            .unwrap_or(false);
        if sent {
            Ok(())
        } else {
            Err(self.worker_error())
        }
    }

    /// The worker stopped early: its own error says why.
    fn worker_error(&mut self) -> io::Error {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => io::Error::other("the output thread panicked"),
            _ => io::Error::new(io::ErrorKind::BrokenPipe, "the output thread stopped"),
        }
    }

    /// Writes what is left, waits for the worker, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the output thread panicked")),
            None => Err(io::Error::other("the output thread is gone")),
        }
    }
}

impl<W> Write for OffloadWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = (BATCH - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BATCH {
            self.hand_over()?;
        }
        Ok(n)
    }

    /// Buffers are handed over when full or at [`OffloadWriter::finish`]; a flush in between
    /// would only add thread hand-offs.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An [`io::Read`] whose inner reader runs ahead on its own thread.
pub struct OffloadReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    back: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    state: ReaderState,
}

enum ReaderState {
    Reading,
    Done,
    Failed(io::ErrorKind, String),
}

impl OffloadReader {
    /// Starts the worker thread that reads from `inner`.
    pub fn new<R: Read + Send + 'static>(mut inner: R) -> Self {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (back, free) = sync_channel::<Vec<u8>>(DEPTH + 2);
        std::thread::spawn(move || {
            loop {
                let mut buf = free.try_recv().unwrap_or_default();
                buf.resize(BATCH, 0);
                let mut filled = 0;
                let result = loop {
                    match inner.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == BATCH {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                let ended = filled == 0;
                if filled > 0 && tx.send(Ok(buf)).is_err() {
                    return;
                }
                if let Err(e) = result {
                    let _ = tx.send(Err(e));
                    return;
                }
                if ended {
                    let _ = tx.send(Ok(Vec::new()));
                    return;
                }
            }
        });
        Self {
            rx,
            back,
            current: Vec::new(),
            pos: 0,
            state: ReaderState::Reading,
        }
    }
}

impl Read for OffloadReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.current.len() {
                let n = (self.current.len() - self.pos).min(out.len());
                out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match &self.state {
                ReaderState::Done => return Ok(0),
                ReaderState::Failed(kind, msg) => return Err(io::Error::new(*kind, msg.clone())),
                ReaderState::Reading => {}
            }
            match self.rx.recv() {
                Ok(Ok(buf)) if buf.is_empty() => self.state = ReaderState::Done,
                Ok(Ok(buf)) => {
                    let used = std::mem::replace(&mut self.current, buf);
                    self.pos = 0;
                    let _ = self.back.try_send(used);
                }
                Ok(Err(e)) => {
                    // The first error is returned as it is (a library error inside keeps
                    // its kind); later reads repeat its message.
                    self.state = ReaderState::Failed(e.kind(), e.to_string());
                    return Err(e);
                }
                Err(_) => {
                    self.state = ReaderState::Failed(
                        io::ErrorKind::Other,
                        "the input thread stopped".into(),
                    );
                    return Err(io::Error::other("the input thread stopped"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_passes_everything_through_in_order() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut w = OffloadWriter::new(Vec::new());
        for part in data.chunks(70_001) {
            w.write_all(part).unwrap();
        }
        assert_eq!(w.finish().unwrap(), data);
    }

    #[test]
    fn reader_passes_everything_through_and_errors_stick() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        OffloadReader::new(io::Cursor::new(data.clone()))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);

        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("boom"));
                }
                let n = self.0.min(buf.len());
                self.0 -= n;
                Ok(n)
            }
        }
        let mut r = OffloadReader::new(Failing(10));
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
        assert_eq!(out.len(), 10);
        assert!(r.read(&mut [0u8; 4]).is_err());
    }

    #[test]
    fn writer_reports_the_worker_error() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = OffloadWriter::new(Broken);
        let big = vec![0u8; BATCH * (DEPTH + 3)];
        let err = w
            .write_all(&big)
            .and_then(|_| w.finish().map(|_| ()))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
