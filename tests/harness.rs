//! Small harness for the end-to-end suite: finds the built binaries, and the fixtures
//! both tools' tests use.

use std::path::{Path, PathBuf};

/// The folder holding the built `hush` and `hush-run` (`HUSH_BIN_DIR` overrides).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HUSH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
    exe.parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("odd test path {exe:?}"))
}

/// The path of a built binary, with a clear failure if it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// The files in a folder, sorted (for "nothing left behind" checks).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Argon2id parameters far below the real ones, so that passphrase tests take
/// milliseconds (the real parameters are exercised by the library's own tests).
pub fn fast_argon2() -> shared::SealOptions {
    shared::SealOptions {
        argon2: shared::Argon2Params {
            m_kib: 64,
            t: 1,
            p: 1,
        },
    }
}

/// Writes a 0600 key file holding `key` and `iv`, as `hush keygen` does; returns its path.
pub fn key_file(dir: &Path, name: &str, key: &shared::Key, iv: &shared::Iv) -> PathBuf {
    let path = dir.join(name);
    shared::cli::private_file::write_key_file(&path, key, iv, true)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// A real `hush-relay` for the relay-mode tests: in-memory store, on 127.0.0.1 with a port
/// of its own, its self-signed certificate in a temporary state directory; stopped
/// (SIGKILL) on drop. Its first stdout line gives the URL and the pin.
pub struct TestRelay {
    child: std::process::Child,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// `sha256:HEX` of its certificate.
    pub pin: String,
    state: PathBuf,
    /// The state directory, when this relay made it (else it is shared, and the caller's).
    _own_state: Option<tempfile::TempDir>,
    extra: Vec<String>,
}

impl TestRelay {
    /// Starts a relay; `extra` flags are passed on (e.g. `--code-ttl 5`).
    pub fn start(extra: &[&str]) -> TestRelay {
        let state = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut relay = Self::start_in(state.path(), extra);
        relay._own_state = Some(state);
        relay
    }

    /// Starts a relay whose state directory (certificate, key) is `state`: relays started
    /// in one directory share the certificate, so the pin (a farm behind one name).
    pub fn start_in(state: &Path, extra: &[&str]) -> TestRelay {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let (child, url, pin) = Self::spawn(state, "127.0.0.1:0", &extra);
        TestRelay {
            child,
            url,
            pin,
            state: state.to_path_buf(),
            _own_state: None,
            extra,
        }
    }

    fn spawn(
        state: &Path,
        listen: &str,
        extra: &[String],
    ) -> (std::process::Child, String, String) {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(bin("hush-relay"))
            .args(["--listen", listen, "--admin-listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(state)
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start hush-relay: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the first line, then keeps draining so the relay never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let first = match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("hush-relay printed no first line");
            }
        };
        let field = |name: &str| {
            let key = format!("\"{name}\":\"");
            let start = first
                .find(&key)
                .unwrap_or_else(|| panic!("no {name} in {first}"))
                + key.len();
            let len = first[start..].find('"').unwrap_or(0);
            first[start..start + len].to_owned()
        };
        (child, field("url"), field("cert_sha256"))
    }

    /// Stops the relay (SIGKILL, as a crash), keeping its certificate.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same address and certificate (an in-memory relay comes
    /// back empty).
    pub fn restart(&mut self) {
        self.stop();
        let listen = self.url.trim_start_matches("https://").to_owned();
        let (child, url, pin) = Self::spawn(&self.state, &listen, &self.extra);
        assert_eq!((&url, &pin), (&self.url, &self.pin), "same address and pin");
        self.child = child;
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throwaway `redis-server` (the relay's shared store): loopback only, no persistence,
/// its files in a temporary directory, on a port found by binding 127.0.0.1:0 first.
/// Killed on drop.
pub struct RedisServer {
    child: std::process::Child,
    /// `redis://127.0.0.1:PORT`
    pub url: String,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// A new server, answering PING. Without redis-server the test fails (scripts/test
    /// installs it): a relay test that skipped itself would hide a missing piece.
    pub fn start() -> RedisServer {
        use std::io::{Read as _, Write as _};
        use std::time::{Duration, Instant};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): apt-get install redis-server")
            });
        let server = RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            _dir: dir,
        };
        let ping = || -> Option<bool> {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let mut tcp =
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
            tcp.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            tcp.write_all(b"PING\r\n").ok()?;
            let mut buf = [0u8; 16];
            let n = tcp.read(&mut buf).ok()?;
            Some(buf[..n].starts_with(b"+PONG"))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while ping() != Some(true) {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
