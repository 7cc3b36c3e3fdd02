//! A throwaway `redis-server` for tests: loopback only, no persistence (`--save ''`,
//! `--appendonly no`, its files in a temporary directory), on a port picked by binding
//! 127.0.0.1:0 first (not every redis-server version takes `--port 0`). Killed on drop.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a redis-server may take to answer after it starts.
const START: Duration = Duration::from_secs(10);

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// With TLS: its port, and the certificate, key and CA files.
    tls: Option<(u16, [PathBuf; 3])>,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl RedisServer {
    /// A new server on a free loopback port.
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            tls: None,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        server.restart();
        server
    }

    /// A server that also speaks TLS on a second port (clients need no certificate of
    /// their own); the plain port stays for the test's own checks.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path) -> RedisServer {
        let files = [cert, key, ca].map(Path::to_path_buf);
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            tls: Some((free_port(), files)),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        server.restart();
        server
    }

    /// `rediss://localhost:TLS_PORT` (a TLS server only).
    pub fn tls_url(&self) -> String {
        let (port, _) = self.tls.as_ref().expect("a TLS server");
        format!("rediss://localhost:{port}")
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: nothing is saved, as with a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, empty: there is no persistence.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START;
        // The port of a killed server may take a moment to be free again.
        loop {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(self.dir.path());
            if let Some((port, [cert, key, ca])) = &self.tls {
                cmd.args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-ca-cert-file")
                    .arg(ca);
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (scripts/test installs it)");
            self.child = Some(child);
            if self.wait_ready(deadline) {
                return;
            }
            self.kill();
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until PING answers, or the child died, or the deadline.
    fn wait_ready(&mut self, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if self.command("PING").is_some_and(|r| r.starts_with("+PONG")) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// One inline command, its raw answer (None if the server does not answer).
    pub fn command(&self, cmd: &str) -> Option<String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        tcp.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        tcp.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
        let mut buf = [0u8; 4096];
        let n = tcp.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The number of keys (`DBSIZE`).
    pub fn dbsize(&self) -> u64 {
        let answer = self.command("DBSIZE").expect("DBSIZE answers");
        answer
            .trim()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("DBSIZE answered {answer:?}"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
