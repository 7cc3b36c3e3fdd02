//! The writer thread: sealing (AES-GCM, itself shared between the cores by
//! `shared::chunked`) runs on the main thread while a writer thread armors the sealed bytes
//! (base64, shared between the cores too) and writes them, so that reading the command's
//! output, sealing and writing overlap.
//!
//! Sealed bytes travel in a few large buffers that go back and forth between the threads:
//! no allocation per chunk, constant memory whatever the output size. Only ciphertext
//! crosses to the writer thread.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use shared::armor::ArmorWriter;

/// Size of each buffer handed to the writer thread.
const BUF: usize = 256 * 1024;
/// Buffers in flight: one being filled, two queued, one being written.
const BUFFERS: usize = 4;

enum Msg {
    Data(Vec<u8>),
    /// The message is complete: end the armor.
    Finish,
}

/// The sealer's end of the pipeline: an [`io::Write`] that batches bytes for the writer
/// thread. Dropping it without [`ChannelWriter::close`] leaves the output unfinished (no END
/// line), and waits for the writer thread so that nothing is written afterwards.
pub struct ChannelWriter {
    tx: Option<SyncSender<Msg>>,
    back: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    worker: Option<JoinHandle<io::Result<u64>>>,
    written: Arc<AtomicU64>,
}

/// Starts the writer thread, writing to `file` (armored unless `binary`).
pub fn start(file: File, binary: bool) -> io::Result<ChannelWriter> {
    let (tx, rx) = sync_channel::<Msg>(BUFFERS - 2);
    let (back_tx, back) = sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 1..BUFFERS {
        // Cannot fail: the channel has room for all of them.
        let _ = back_tx.send(Vec::with_capacity(BUF));
    }
    let written = Arc::new(AtomicU64::new(0));
    let shared = Arc::clone(&written);
    let worker = std::thread::Builder::new()
        .name("output".into())
        .spawn(move || write_out(file, binary, &rx, &back_tx, shared))?;
    Ok(ChannelWriter {
        tx: Some(tx),
        back,
        buf: Vec::with_capacity(BUF),
        worker: Some(worker),
        written,
    })
}

/// Counts bytes on their way to the file, also for the sealer's side to see.
struct Counting {
    file: File,
    count: u64,
    shared: Arc<AtomicU64>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.count += n as u64;
        self.shared.store(self.count, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

enum Out {
    Binary(Counting),
    Armored(ArmorWriter<Counting>),
}

/// The writer thread: returns the bytes written once the message is finished.
fn write_out(
    file: File,
    binary: bool,
    rx: &Receiver<Msg>,
    back: &SyncSender<Vec<u8>>,
    shared: Arc<AtomicU64>,
) -> io::Result<u64> {
    // Nothing is written before the first sealed bytes arrive: a command that cannot start,
    // or fails before a buffer fills, leaves nothing at all on a streamed stdout.
    let Ok(mut msg) = rx.recv() else { return Ok(0) };
    // Writes go straight to the file: buffers are already large, another layer would only copy.
    let counting = Counting {
        file,
        count: 0,
        shared,
    };
    let mut out = if binary {
        Out::Binary(counting)
    } else {
        Out::Armored(ArmorWriter::new(counting)?)
    };
    loop {
        match msg {
            Msg::Data(buf) => {
                match &mut out {
                    Out::Binary(w) => w.write_all(&buf)?,
                    Out::Armored(w) => w.write_all(&buf)?,
                }
                recycle(back, buf);
            }
            Msg::Finish => {
                return Ok(match out {
                    Out::Binary(w) => w.count,
                    Out::Armored(w) => w.finish()?.count,
                });
            }
        }
        // Dropped without finishing: the command failed; stop writing.
        let Ok(next) = rx.recv() else { return Ok(0) };
        msg = next;
    }
}

fn recycle(back: &SyncSender<Vec<u8>>, mut buf: Vec<u8>) {
    buf.clear();
    // The sealer may already be gone; the buffer is then simply freed.
    let _ = back.try_send(buf);
}

impl ChannelWriter {
    /// Bytes written to the file so far (readable after the writer is gone).
    pub fn written(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.written)
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

    /// The writer thread stopped early: fetch its error.
    fn worker_error(&mut self) -> io::Error {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("the output writer stopped"),
        }
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Blocks while the writer is behind: that is the back-pressure that keeps memory flat.
        let next = match self.back.recv() {
            Ok(b) => b,
            Err(_) => return Err(self.worker_error()),
        };
        let full = std::mem::replace(&mut self.buf, next);
        self.send(Msg::Data(full))
    }

    /// Ends the message: the last bytes, then the END line. Returns the bytes written.
    pub fn close(mut self) -> io::Result<u64> {
        self.send_buffer()?;
        self.send(Msg::Finish)?;
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(io::Error::other("the output writer failed")),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = BUF - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BUF {
            self.send_buffer()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only the end of the message matters; partial buffers would only cost speed.
        Ok(())
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    fn run(binary: bool, data: &[u8], close: bool) -> Vec<u8> {
        let mut file = tempfile::tempfile().unwrap();
        let mut w = start(file.try_clone().unwrap(), binary).unwrap();
        for part in data.chunks(16_400) {
            w.write_all(part).unwrap();
        }
        if close {
            let n = w.close().unwrap();
            assert_eq!(n, file.metadata().unwrap().len());
        } else {
            drop(w);
        }
        let mut out = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn passes_bytes_through_in_order() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(run(true, &data, true), data);
        let armored = run(false, &data, true);
        assert_eq!(shared::armor::decode(&armored).unwrap(), data);
    }

    #[test]
    fn dropping_before_a_buffer_fills_writes_nothing() {
        assert!(run(false, &[1u8; 1000], false).is_empty());
        assert!(run(true, &[1u8; 1000], false).is_empty());
    }

    #[test]
    fn dropping_leaves_the_armor_unfinished() {
        let armored = run(false, &[1u8; 1_000_000], false);
        assert!(!String::from_utf8_lossy(&armored).contains("END HUSH"));
    }
}
