//! Moving one stage of a pipeline to a second thread, so that reading, armor and output
//! overlap with encryption. Only sealed bytes (ciphertext or armor) cross this boundary.
//! (Within a stage, `chunked` and `armor` also share large batches between the cores.)
//!
//! Buffers are recycled through a return channel, so a long stream allocates a fixed
//! handful of them and memory stays constant.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::armor::ArmorWriter;

/// Bytes handed over per message between the threads.
const BATCH: usize = 256 * 1024;
/// Buffers in flight per direction.
const DEPTH: usize = 3;

enum Msg {
    Data(Vec<u8>),
    /// The message is complete: end the armor, flush, hand the inner writer back.
    Finish,
}

/// A count of the bytes that reached an [`OffloadWriter`]'s inner writer (armor included).
/// It stays readable after the writer is gone, and is final once the writer was finished or
/// dropped.
#[derive(Clone, Debug, Default)]
pub struct Written(Arc<AtomicU64>);

impl Written {
    /// Bytes written so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// An [`io::Write`] whose inner writer (and, if asked, the armor around it) runs on its own
/// thread.
///
/// It starts lazily: nothing reaches the inner writer, not even the armor's BEGIN line,
/// before the first full buffer is handed over or [`OffloadWriter::finish`] is called. So a
/// message abandoned early (a command that fails at once) leaves nothing at all behind.
/// Dropping it without `finish` abandons the message: buffers not yet written are thrown
/// away, the armor is left unfinished (no END line), and once the drop returns nothing
/// more is written.
pub struct OffloadWriter<W> {
    buf: Vec<u8>,
    tx: Option<SyncSender<Msg>>,
    free: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<W>>>,
    written: Written,
    abandoned: Arc<AtomicBool>,
}

impl<W: Write + Send + 'static> OffloadWriter<W> {
    /// Starts the worker thread that writes into `inner` as it is.
    pub fn new(inner: W) -> io::Result<Self> {
        Self::start(inner, false)
    }

    /// Starts the worker thread that armors into `inner` (BEGIN line with the first bytes,
    /// END line at [`OffloadWriter::finish`]).
    pub fn armored(inner: W) -> io::Result<Self> {
        Self::start(inner, true)
    }

    fn start(inner: W, armored: bool) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Msg>(DEPTH);
        let (free_tx, free) = sync_channel::<Vec<u8>>(DEPTH + 1);
        for _ in 0..DEPTH {
            let _ = free_tx.send(Vec::with_capacity(BATCH));
        }
        let written = Written::default();
        let abandoned = Arc::new(AtomicBool::new(false));
        let worker = {
            let (written, abandoned) = (written.clone(), Arc::clone(&abandoned));
            std::thread::Builder::new()
                .name("sealed-output".into())
                .spawn(move || work(inner, armored, &rx, &free_tx, &written, &abandoned))?
        };
        Ok(Self {
            buf: Vec::with_capacity(BATCH),
            tx: Some(tx),
            free,
            worker: Some(worker),
            written,
            abandoned,
        })
    }
}

/// Counts what reaches the inner writer, for [`Written`].
struct Counting<W> {
    inner: W,
    written: Written,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Stage<W: Write> {
    Plain(Counting<W>),
    Armored(ArmorWriter<Counting<W>>),
}

fn abandoned_error() -> io::Error {
    io::Error::other("the sealed output was abandoned")
}

/// The worker thread: returns the inner writer once the message is finished.
fn work<W: Write>(
    inner: W,
    armored: bool,
    rx: &Receiver<Msg>,
    free: &SyncSender<Vec<u8>>,
    written: &Written,
    abandoned: &AtomicBool,
) -> io::Result<W> {
    // Lazy start: a writer dropped before handing anything over writes nothing at all.
    let Ok(mut msg) = rx.recv() else {
        return Err(abandoned_error());
    };
    if abandoned.load(Ordering::Acquire) {
        return Err(abandoned_error());
    }
    let counting = Counting {
        inner,
        written: written.clone(),
    };
    let mut out = if armored {
        Stage::Armored(ArmorWriter::new(counting)?)
    } else {
        Stage::Plain(counting)
    };
    loop {
        match msg {
            Msg::Data(mut buf) => {
                // Checked before every buffer: once the writer is dropped, what is still
                // queued is thrown away rather than written after the fact.
                if abandoned.load(Ordering::Acquire) {
                    return Err(abandoned_error());
                }
                match &mut out {
                    Stage::Plain(w) => w.write_all(&buf)?,
                    Stage::Armored(w) => w.write_all(&buf)?,
                }
                buf.clear();
                // The other side may be gone already (finishing); that is fine.
                let _ = free.try_send(buf);
            }
            Msg::Finish => {
                let mut counting = match out {
                    Stage::Plain(w) => w,
                    Stage::Armored(w) => w.finish()?,
                };
                counting.flush()?;
                return Ok(counting.inner);
            }
        }
        // Closed without `Finish`: the message is abandoned, the armor stays unfinished.
        let Ok(next) = rx.recv() else {
            return Err(abandoned_error());
        };
        msg = next;
    }
}

impl<W> OffloadWriter<W> {
    /// A handle on the count of bytes that reached the inner writer.
    pub fn written(&self) -> Written {
        self.written.clone()
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(msg).is_ok())
            .unwrap_or(false);
        if sent {
            Ok(())
        } else {
            Err(self.worker_error())
        }
    }

    /// Sends the current buffer to the worker and takes a free one.
    fn hand_over(&mut self) -> io::Result<()> {
        // Blocks while the worker is behind: that back-pressure keeps memory flat.
        let next = self
            .free
            .recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.buf, next);
        self.send(Msg::Data(full))
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

    /// Writes what is left (and the armor's END line), waits for the worker, and returns
    /// the inner writer, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        self.send(Msg::Finish)?;
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

impl<W> Drop for OffloadWriter<W> {
    /// Abandons the message (see the type's documentation), and waits for the worker so
    /// that the caller may cut back or remove what was written without a late write
    /// landing after it.
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Release);
        self.tx = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
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

    /// Writes `data` through an offloaded writer into a file, finishing it or dropping it;
    /// returns the file's content and the count the handle reports.
    fn through_file(armored: bool, data: &[u8], finish: bool) -> (Vec<u8>, u64) {
        use std::io::Seek;
        let mut file = tempfile::tempfile().unwrap();
        let inner = file.try_clone().unwrap();
        let mut w = if armored {
            OffloadWriter::armored(inner).unwrap()
        } else {
            OffloadWriter::new(inner).unwrap()
        };
        let written = w.written();
        for part in data.chunks(16_400) {
            w.write_all(part).unwrap();
        }
        if finish {
            w.finish().unwrap();
        } else {
            drop(w);
        }
        let mut out = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut out).unwrap();
        assert_eq!(
            written.get(),
            out.len() as u64,
            "the count is what reached the file"
        );
        (out, written.get())
    }

    #[test]
    fn writer_passes_everything_through_in_order() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut w = OffloadWriter::new(Vec::new()).unwrap();
        for part in data.chunks(70_001) {
            w.write_all(part).unwrap();
        }
        assert_eq!(w.finish().unwrap(), data);

        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(through_file(false, &data, true).0, data);
        let (armored, count) = through_file(true, &data, true);
        assert_eq!(crate::armor::decode(&armored).unwrap(), data);
        assert_eq!(count, armored.len() as u64);
    }

    #[test]
    fn dropping_before_a_buffer_fills_writes_nothing() {
        for armored in [false, true] {
            assert_eq!(through_file(armored, &[1u8; 1000], false), (Vec::new(), 0));
        }
    }

    #[test]
    fn dropping_leaves_the_armor_unfinished() {
        // Enough buffers that the worker must have written some before the drop.
        let (armored, count) = through_file(true, &[1u8; 2_000_000], false);
        let text = String::from_utf8(armored).unwrap();
        assert!(text.starts_with(crate::armor::BEGIN), "{text}");
        assert!(!text.contains(crate::armor::END));
        assert!(count > 0);
    }

    #[test]
    fn finishing_an_empty_message_still_frames_it() {
        let w = OffloadWriter::armored(Vec::new()).unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            format!("{}\n{}\n", crate::armor::BEGIN, crate::armor::END)
        );
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
        let mut w = OffloadWriter::new(Broken).unwrap();
        let big = vec![0u8; BATCH * (DEPTH + 3)];
        let err = w
            .write_all(&big)
            .and_then(|_| w.finish().map(|_| ()))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
