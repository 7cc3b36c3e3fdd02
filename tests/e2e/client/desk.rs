//! A desk for the TUI tests: a private Xvfb display, a private tmux server whose panes see
//! that display, and xclip to read and write the X clipboard as another program would.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SHORT_WAIT: Duration = Duration::from_secs(5);

/// An Xvfb server on a free display, killed on drop.
pub struct Xvfb {
    child: Child,
    /// ":N".
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb; it picks a free display itself (-displayfd) and tells us which.
    pub fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "800x600x24",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb not installed (Debian package xvfb)");
        let stdout = child.stdout.take().expect("Xvfb stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("Xvfb did not report its display");
        let number: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb said {line:?}"));
        let xvfb = Xvfb {
            child,
            display: format!(":{number}"),
        };
        // -displayfd reports once the server accepts connections; check anyway.
        wait_until(Duration::from_secs(10), "Xvfb to accept clients", || {
            Command::new("xclip")
                .args(["-selection", "clipboard", "-o"])
                .env("DISPLAY", &xvfb.display)
                .output()
                .map(|o| !String::from_utf8_lossy(&o.stderr).contains("Can't open display"))
                .unwrap_or(false)
        });
        xvfb
    }

    /// The CLIPBOARD selection's text; `None` when nothing owns it.
    pub fn clipboard(&self) -> Option<Vec<u8>> {
        let out = Command::new("xclip")
            .args(["-selection", "clipboard", "-o"])
            .env("DISPLAY", &self.display)
            .output()
            .expect("xclip not installed (Debian package xclip)");
        out.status.success().then_some(out.stdout)
    }

    /// Copies text as another program does (xclip keeps serving it in the background).
    pub fn copy(&self, data: &[u8]) {
        self.set("clipboard", data);
    }

    /// Selects text, as a mouse selection in a terminal does (the PRIMARY selection).
    pub fn select(&self, data: &[u8]) {
        self.set("primary", data);
    }

    fn set(&self, selection: &str, data: &[u8]) {
        let mut child = Command::new("xclip")
            .args(["-selection", selection, "-i"])
            .env("DISPLAY", &self.display)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xclip");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(data)
            .expect("write to xclip");
        // The foreground xclip exits once its background copy owns the selection.
        assert!(child.wait().expect("xclip").success());
        wait_until(Duration::from_secs(5), "xclip to own the selection", || {
            let out = Command::new("xclip")
                .args(["-selection", selection, "-o"])
                .env("DISPLAY", &self.display)
                .output();
            out.is_ok_and(|o| o.status.success() && o.stdout == data)
        });
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private tmux server with one 80x24 window, killed on drop.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `command` (run by sh) in an 80x24 pane; `display` is set for it alone.
    pub fn start(dir: &Path, display: Option<&str>, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&tmux.socket).args([
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
        ]);
        if let Some(d) = display {
            cmd.args(["-e", &format!("DISPLAY={d}")]);
        }
        // A pane shell that reports how the command ended and whether the terminal was
        // restored (icanon and echo back on), then stays for capture-pane.
        let script = format!(
            "{command}; echo \"EXITED rc=$?\"; stty -a | grep -o -- '-\\?icanon' ; sleep 600"
        );
        let out = cmd
            .env_remove("DISPLAY")
            .env_remove("TMUX")
            .args(["sh", "-c", &script])
            .output()
            .expect("tmux");
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux")
    }

    /// Types keys (tmux key names: "g", "Escape", "C-c").
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    /// Pastes text into the pane as a terminal does (bracketed, since hush asks for it).
    pub fn paste(&self, text: &[u8]) {
        let mut child = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["load-buffer", "-b", "test", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("tmux");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text)
            .expect("load-buffer");
        assert!(child.wait().expect("tmux").success());
        assert!(
            self.run(&["paste-buffer", "-p", "-d", "-b", "test", "-t", "0"])
                .status
                .success()
        );
    }

    /// The pane's text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned()
    }

    /// The pane's whole history too (scrollback), to check nothing ever was shown.
    pub fn history(&self) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["capture-pane", "-p", "-S", "-", "-t", "0"])
                .stdout,
        )
        .into_owned()
    }

    /// Whether the pane is on the alternate screen.
    pub fn alternate_on(&self) -> bool {
        let out = self.run(&["display-message", "-p", "-t", "0", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// The pid of the pane's shell.
    pub fn pane_pid(&self) -> u32 {
        let out = self.run(&["display-message", "-p", "-t", "0", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid")
    }

    /// Waits until the pane's command ended and the shell reported the terminal mode after
    /// it; returns the screen.
    pub fn wait_exit(&self, timeout: Duration) -> String {
        self.wait_for("EXITED", timeout);
        self.wait_for("icanon", SHORT_WAIT)
    }

    /// Waits until the screen contains `text`; returns the screen.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < timeout,
                "screen never showed {text:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Polls `check` until it holds.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
