//! hush-run driven as scripts drive it: key file or descriptor, no terminal.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hush_tests::bin;

use super::*;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn output_opens_to_exactly_the_commands_bytes() {
    let keys = Keys::new();
    let out = output_within(
        hush_run(&keys, &["--", "printf", r"line one\n\000\377 binary\r\n"]),
        LIMIT,
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        text.starts_with("-----BEGIN HUSH SEALED MESSAGE-----\n"),
        "{text}"
    );
    assert!(
        text.ends_with("-----END HUSH SEALED MESSAGE-----\n"),
        "{text}"
    );
    assert!(!contains(&out.stdout, b"line one"));
    let opened = keys.open(&out.stdout);
    assert_eq!(&opened.stdout[..], b"line one\n\0\xff binary\r\n");
    assert!(opened.stderr.is_empty());
    assert_eq!(opened.summary.exit_status, Some(0));
    let meta = &opened.summary.metadata;
    assert_eq!(
        meta.command.as_deref(),
        Some(r"printf 'line one\n\000\377 binary\r\n'")
    );
    assert!(meta.user.is_some() && meta.host.is_some() && meta.time.is_some());
    // The fingerprint is shown so the user can compare it with the laptop's.
    let fingerprint = keys.creds().fingerprint().unwrap().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("hush-run: key fingerprint {fingerprint}")),
        "{stderr}"
    );
    keys.assert_absent(&out.stderr, "stderr");
}

#[test]
fn exit_status_passes_through_and_output_is_withheld() {
    let keys = Keys::new();
    for (args, expected, says) in [
        (&["--", "true"][..], 0, ""),
        (
            &["--shell", "printf 'withheld-%s' secret; exit 3"][..],
            3,
            "failed with exit status 3",
        ),
        (
            &["--", "/nonexistent/hush-test-command"][..],
            127,
            "command not found",
        ),
        (&["--", "/etc/passwd"][..], 126, "permission denied"),
        (
            &["--shell", "printf 'withheld-%s' secret; kill -TERM $$"][..],
            143,
            "killed by signal 15 (SIGTERM)",
        ),
    ] {
        let out = output_within(hush_run(&keys, args), LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), expected, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        if expected != 0 {
            assert!(out.stdout.is_empty(), "{args:?}: output shown on failure");
            assert!(!contains(&out.stderr, b"withheld-secret"));
        }
    }
}

#[test]
fn seal_on_error_seals_the_failed_output_with_its_status() {
    let keys = Keys::new();
    let out = output_within(
        hush_run(
            &keys,
            &["--seal-on-error", "--shell", "echo partial; exit 3"],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 3);
    let opened = keys.open(&out.stdout);
    assert_eq!(&opened.stdout[..], b"partial\n");
    assert_eq!(opened.summary.exit_status, Some(3));
}

#[test]
fn stderr_is_shown_unless_sealed() {
    let keys = Keys::new();
    let script = "echo visible-error >&2; echo the-secret";
    let out = output_within(hush_run(&keys, &["--shell", script]), LIMIT);
    assert_eq!(code(&out), 0);
    assert!(contains(&out.stderr, b"visible-error\n"));
    assert!(!contains(&out.stderr, b"the-secret"));
    assert_eq!(&keys.open(&out.stdout).stdout[..], b"the-secret\n");

    let out = output_within(
        hush_run(&keys, &["--seal-stderr", "--shell", script]),
        LIMIT,
    );
    assert_eq!(code(&out), 0);
    assert!(
        !contains(&out.stderr, b"visible-error"),
        "sealed stderr was shown"
    );
    let opened = keys.open(&out.stdout);
    assert_eq!(&opened.stdout[..], b"the-secret\n");
    assert_eq!(&opened.stderr[..], b"visible-error\n");
}

#[test]
fn a_flood_on_both_streams_does_not_deadlock() {
    let keys = Keys::new();
    // 8 MiB on each stream at once, far beyond any pipe buffer.
    let script = "head -c 8388608 /dev/zero >&2 & head -c 8388608 /dev/zero; wait";
    let out = output_within(
        hush_run(&keys, &["--seal-stderr", "--binary", "--shell", script]),
        LIMIT,
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let opened = keys.open(&out.stdout);
    assert_eq!(
        (opened.stdout.len(), opened.stderr.len()),
        (8 << 20, 8 << 20)
    );
    // And with stderr shown: the test reads it while hush-run reads stdout.
    let out = output_within(hush_run(&keys, &["--binary", "--shell", script]), LIMIT);
    assert_eq!(code(&out), 0);
    assert_eq!(out.stderr.iter().filter(|&&b| b == 0).count(), 8 << 20);
    assert_eq!(keys.open(&out.stdout).stdout.len(), 8 << 20);
}

/// Held output (stdout a pipe): in memory up to 8 MiB of sealed text, then in the unlinked
/// temporary file. Either side of that line, the block comes out whole on success and not
/// at all on failure.
#[test]
fn held_output_on_both_sides_of_the_memory_limit() {
    let keys = Keys::new();
    // Armored, 5 MiB seal to about 6.7 MiB of text (memory), 7 MiB to about 9.4 (the file);
    // binary, 8 MiB of output seals to a little more than 8 MiB.
    for (bytes, binary) in [(5 << 20, false), (7 << 20, false), (8 << 20, true)] {
        let size = bytes.to_string();
        let mut args = vec!["--", "head", "-c", &size, "/dev/urandom"];
        if binary {
            args.insert(0, "--binary");
        }
        let out = output_within(hush_run(&keys, &args), LIMIT);
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(keys.open(&out.stdout).stdout.len(), bytes, "{bytes}");
        let script = format!("head -c {bytes} /dev/urandom; exit 4");
        let mut args = vec!["--shell", &script];
        if binary {
            args.insert(0, "--binary");
        }
        let out = output_within(hush_run(&keys, &args), LIMIT);
        assert_eq!(code(&out), 4, "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty(), "{bytes}: withheld output leaked");
    }
}

#[test]
fn fifty_mib_of_binary_output_round_trips_through_a_file() {
    let keys = Keys::new();
    let data = keys.path("data");
    let status = Command::new("head")
        .args(["-c", "52428800", "/dev/urandom"])
        .stdout(fs::File::create(&data).unwrap())
        .status();
    assert!(status.unwrap().success());
    let sealed = keys.path("out.hush");
    let out = output_within(
        hush_run(
            &keys,
            &[
                "--binary",
                "-o",
                sealed.to_str().unwrap(),
                "--",
                "cat",
                data.to_str().unwrap(),
            ],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(
        fs::metadata(&sealed).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let opened = keys.open(&fs::read(&sealed).unwrap());
    assert!(
        opened.stdout[..] == fs::read(&data).unwrap()[..],
        "50 MiB did not round trip"
    );
}

#[test]
fn output_file_is_replaced_only_on_success() {
    let keys = Keys::new();
    let target = keys.path("result.hush");
    fs::write(&target, "previous").unwrap();
    let before = listing(keys.dir.path());
    let out = output_within(
        hush_run(
            &keys,
            &["-o", target.to_str().unwrap(), "--shell", "echo x; exit 4"],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 4);
    assert_eq!(fs::read_to_string(&target).unwrap(), "previous");
    assert_eq!(
        listing(keys.dir.path()),
        before,
        "a temporary file was left behind"
    );
    let out = output_within(
        hush_run(
            &keys,
            &["-o", target.to_str().unwrap(), "--", "echo", "new"],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 0);
    assert_eq!(&keys.open(&fs::read(&target).unwrap()).stdout[..], b"new\n");
    assert_eq!(
        fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(listing(keys.dir.path()), before);
    // A folder that does not exist: hush-run's own failure, and the command never runs.
    let marker = keys.path("ran");
    let bad = keys.path("missing/out.hush");
    let out = output_within(
        hush_run(
            &keys,
            &[
                "-o",
                bad.to_str().unwrap(),
                "--",
                "touch",
                marker.to_str().unwrap(),
            ],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 125);
    assert!(!marker.exists());
}

#[test]
fn stdout_redirected_to_a_file_is_cut_back_on_failure() {
    let keys = Keys::new();
    let out_file = keys.path("out");
    let run = |redirect: &str, cmd: &str| {
        let script = format!(
            "{} --key-file {} --shell {} {redirect} {}",
            sh_quote(&hush_run_path()),
            sh_quote(keys.file.to_str().unwrap()),
            sh_quote(cmd),
            sh_quote(out_file.to_str().unwrap())
        );
        code(&output_within(
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::null()),
            LIMIT,
        ))
    };
    assert_eq!(run(">", "echo first"), 0);
    let first = fs::read(&out_file).unwrap();
    assert_eq!(&keys.open(&first).stdout[..], b"first\n");
    // Appending a failed run leaves the file as it was.
    assert_eq!(run(">>", "echo second; exit 5"), 5);
    assert_eq!(fs::read(&out_file).unwrap(), first);
    // Truncating then failing leaves it empty: no unfinished block.
    assert_eq!(run(">", "echo third; exit 6"), 6);
    assert!(fs::read(&out_file).unwrap().is_empty());
}

#[test]
fn stream_leaves_an_unopenable_block_on_failure() {
    let keys = Keys::new();
    let out = output_within(
        hush_run(
            &keys,
            &["--stream", "--shell", "head -c 3000000 /dev/zero; exit 7"],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 7);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unfinished"));
    assert!(contains(
        &out.stdout,
        b"-----BEGIN HUSH SEALED MESSAGE-----"
    ));
    assert!(
        shared::open(&out.stdout, &[keys.creds()]).is_err(),
        "an unfinished block opened"
    );
    let out = output_within(
        hush_run(&keys, &["--stream", "--", "echo", "streamed"]),
        LIMIT,
    );
    assert_eq!(code(&out), 0);
    assert_eq!(&keys.open(&out.stdout).stdout[..], b"streamed\n");
    // A small output of a failed command never reaches stdout at all.
    let out = output_within(
        hush_run(&keys, &["--stream", "--shell", "echo small; exit 7"]),
        LIMIT,
    );
    assert_eq!(code(&out), 7);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("unfinished"));
    // Nor does anything of a command that cannot start.
    let out = output_within(
        hush_run(&keys, &["--stream", "--", "/nonexistent/hush-test-command"]),
        LIMIT,
    );
    assert_eq!(code(&out), 127);
    assert!(out.stdout.is_empty());
}

#[test]
fn key_file_must_be_private_and_well_formed() {
    let keys = Keys::new();
    fs::set_permissions(&keys.file, fs::Permissions::from_mode(0o644)).unwrap();
    let out = output_within(hush_run(&keys, &["--", "echo", "x"]), LIMIT);
    assert_eq!(code(&out), 125);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    fs::set_permissions(&keys.file, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&keys.file, format!("key = {}\n", keys.iv_text)).unwrap();
    let out = output_within(hush_run(&keys, &["--", "echo", "x"]), LIMIT);
    assert_eq!(code(&out), 125);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("swapped"), "{stderr}");
    keys.assert_absent(&out.stderr, "stderr");

    let out = output_within(
        Command::new(bin("hush-run"))
            .args(["--key-file", "/nonexistent/key", "--", "true"])
            .stdin(Stdio::null()),
        LIMIT,
    );
    assert_eq!(code(&out), 125);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/key"));
}

#[test]
fn key_descriptor_is_read_then_closed_before_the_command() {
    let keys = Keys::new();
    // The command reports whether it can still see descriptor 3.
    let script = format!(
        "exec {} --key-fd 3 --shell 'if [ -e /proc/self/fd/3 ]; then echo leaked; else echo closed; fi' 3< {}",
        sh_quote(&hush_run_path()),
        sh_quote(keys.file.to_str().unwrap())
    );
    let out = output_within(
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null()),
        LIMIT,
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(&keys.open(&out.stdout).stdout[..], b"closed\n");
    // A descriptor that is not open is explained.
    let out = output_within(
        Command::new(bin("hush-run"))
            .args(["--key-fd", "9", "--", "true"])
            .stdin(Stdio::null()),
        LIMIT,
    );
    assert_eq!(code(&out), 125);
    assert!(String::from_utf8_lossy(&out.stderr).contains("descriptor 9"));
    // Nor is a low number hush-run would otherwise use for itself taken by mistake.
    for fd in ["3", "4", "5"] {
        let script = format!(
            "exec 3<&- 4<&- 5<&-; exec {} --key-fd {fd} -- true",
            sh_quote(&hush_run_path())
        );
        let out = output_within(
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::null()),
            LIMIT,
        );
        assert_eq!(
            code(&out),
            125,
            "fd {fd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("Bad file descriptor"));
    }
}

#[test]
fn without_a_terminal_or_key_file_it_says_what_to_do() {
    // setsid: no controlling terminal, even when the suite is run from one.
    let out = output_within(
        Command::new("setsid")
            .args(["-w", bin("hush-run").to_str().unwrap(), "--", "true"])
            .stdin(Stdio::null()),
        LIMIT,
    );
    assert_eq!(code(&out), 125);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no terminal") && stderr.contains("--key-file"),
        "{stderr}"
    );
}

#[test]
fn bad_usage_exits_2() {
    let out = output_within(
        Command::new(bin("hush-run")).args(["--key-fd", "1", "--", "true"]),
        LIMIT,
    );
    assert_eq!(code(&out), 2);
    let out = output_within(
        Command::new(bin("hush-run")).args(["--no-such-flag"]),
        LIMIT,
    );
    assert_eq!(code(&out), 2);
}

#[test]
fn help_version_and_completions() {
    let out = output_within(Command::new(bin("hush-run")).arg("--help"), LIMIT);
    assert_eq!(code(&out), 0);
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "hush-run -- pritunl setup-key",
        "hush-run -- wg genkey",
        "--key-file",
        "Exit status",
        "125",
        "127",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let out = output_within(Command::new(bin("hush-run")).arg("--version"), LIMIT);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("hush-run "));
    for shell in ["bash", "zsh", "fish"] {
        let out = output_within(
            Command::new(bin("hush-run")).args(["--completions", shell]),
            LIMIT,
        );
        assert_eq!(code(&out), 0);
        assert!(
            contains(&out.stdout, b"hush-run") && contains(&out.stdout, b"key-file"),
            "{shell}"
        );
    }
}

#[test]
fn sigterm_is_forwarded_to_the_command() {
    let keys = Keys::new();
    let mut child = hush_run(&keys, &["--", "sleep", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeper = wait_for_child(child.id());
    let started = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    // It ends the way its command did: killed by SIGTERM (143 in a shell).
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15),
        "{status:?}"
    );
    assert!(!alive(sleeper), "the command outlived hush-run");
}

/// The next datagram on a fake syslog socket, as text.
fn next_line(socket: &UnixDatagram) -> String {
    let mut buf = vec![0u8; 256 * 1024];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no audit line: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn fake_syslog(keys: &Keys) -> (UnixDatagram, String) {
    let path = keys.path("log.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (socket, path.to_str().unwrap().to_owned())
}

/// SHA-256 in hex, by coreutils.
fn sha256sum(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

#[test]
fn sigterm_reaches_the_whole_pipeline() {
    // `sh` alone used to get the signal: it died, and the pipeline lived on, holding the
    // output pipe open, so hush-run waited for it to end.
    let keys = Keys::new();
    let mut child = hush_run(&keys, &["--shell", "sleep 37 | cat"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeper = wait_for_descendant(child.id(), "sleep");
    let cat = wait_for_descendant(child.id(), "cat");
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Bounded: a hush-run still waiting is killed, and the test fails.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = Command::new("kill")
                .args(["-KILL", &sleeper.to_string()])
                .status();
            panic!("hush-run did not end after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "hush-run took {:?} to end",
        started.elapsed()
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15),
        "{status:?}"
    );
    for (pid, name) in [(sleeper, "sleep"), (cat, "cat")] {
        assert!(
            gone_within(pid, Duration::from_secs(5)),
            "{name} outlived hush-run"
        );
    }
}

#[test]
fn the_command_does_not_outlive_a_killed_hush_run() {
    // SIGKILL cannot be forwarded: the kernel signals the command when hush-run dies.
    let keys = Keys::new();
    let mut child = hush_run(&keys, &["--", "sleep", "41"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeper = wait_for_descendant(child.id(), "sleep");
    child.kill().unwrap();
    child.wait().unwrap();
    let gone = gone_within(sleeper, Duration::from_secs(5));
    if !gone {
        let _ = Command::new("kill")
            .args(["-KILL", &sleeper.to_string()])
            .status();
    }
    assert!(gone, "the command outlived a SIGKILLed hush-run");
}

#[test]
fn a_hang_up_reaches_the_command() {
    // `ssh -t host hush-run ...` makes hush-run the session leader of the terminal, and a
    // hang-up (the connection drops) is sent to the session leader only. util-linux
    // `script` stands in for sshd: killing it closes the terminal's master side.
    let keys = Keys::new();
    let line = format!(
        "{} --key-file {} --shell 'sleep 47'",
        sh_quote(&hush_run_path()),
        sh_quote(keys.file.to_str().unwrap())
    );
    let mut script = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sleeper = wait_for_descendant(script.id(), "sleep");
    script.kill().unwrap();
    script.wait().unwrap();
    let gone = gone_within(sleeper, Duration::from_secs(5));
    if !gone {
        let _ = Command::new("kill")
            .args(["-KILL", &sleeper.to_string()])
            .status();
    }
    assert!(gone, "the command outlived the terminal's hang-up");
}

#[test]
fn audit_logs_a_start_and_an_end_line_without_output() {
    let keys = Keys::new();
    let (socket, socket_path) = fake_syslog(&keys);
    let args = [
        "--audit",
        "--audit-socket",
        &socket_path,
        "--",
        "echo",
        "audited-secret",
    ];
    let out = output_within(hush_run(&keys, &args), LIMIT);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let fingerprint = keys.creds().fingerprint().unwrap().to_string();
    let command = format!(
        "command=\"echo audited-secret\" command_sha256={}",
        sha256sum(b"echo audited-secret")
    );
    let start = next_line(&socket);
    let end = next_line(&socket);
    for (line, needles) in [
        (&start, vec!["event=start run=1 ".to_owned()]),
        (
            &end,
            vec![
                "event=end run=1 ".to_owned(),
                "exit=0".to_owned(),
                "output=delivered".to_owned(),
                format!("sealed_bytes={}", out.stdout.len()),
            ],
        ),
    ] {
        assert!(line.starts_with("<86>hush-run["), "{line}");
        let common = [
            command.clone(),
            format!("fingerprint={fingerprint}"),
            "user=".to_owned(),
        ];
        for needle in needles.iter().chain(&common) {
            assert!(line.contains(needle), "{needle} missing from {line}");
        }
    }
    // The command line is logged (it is on argv anyway); the output never is.
    let out = output_within(
        hush_run(
            &keys,
            &[
                "--audit",
                "--audit-socket",
                &socket_path,
                "--shell",
                "echo never-logged; exit 2",
            ],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 2);
    let start = next_line(&socket);
    assert!(start.contains("event=start"), "{start}");
    let end = next_line(&socket);
    assert!(
        end.contains("event=end") && end.contains("exit=2") && end.contains("output=withheld"),
        "{end}"
    );
    for line in [&start, &end] {
        assert!(
            !line.contains("never-logged\n") && !line.contains("sealed_bytes=1"),
            "{line}"
        );
        keys.assert_absent(line.as_bytes(), "the audit line");
    }

    // An unreachable log: refuse to run at all.
    let marker = keys.path("ran");
    let out = output_within(
        hush_run(
            &keys,
            &[
                "--audit",
                "--audit-socket",
                "/nonexistent/log",
                "--",
                "touch",
                marker.to_str().unwrap(),
            ],
        ),
        LIMIT,
    );
    assert_eq!(code(&out), 125);
    assert!(!marker.exists(), "ran without the audit line");
}

#[test]
fn audit_logs_a_huge_command_line_cut_short_with_its_hash() {
    // 300 KB of arguments: one line holding it whole is refused by the socket (or cut by
    // the syslog daemon), which used to leave the run with no record at all.
    let keys = Keys::new();
    let (socket, socket_path) = fake_syslog(&keys);
    let marker = keys.path("ran");
    let script = format!("touch {}", sh_quote(marker.to_str().unwrap()));
    let filler = "x".repeat(99);
    let mut args = vec![
        "--audit",
        "--audit-socket",
        &socket_path,
        "--",
        "sh",
        "-c",
        &script,
        "sh",
    ];
    args.extend(std::iter::repeat_n(filler.as_str(), 3000));
    let out = output_within(hush_run(&keys, &args), LIMIT);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(marker.exists());
    // The command as hush-run shows it: arguments joined by spaces, quoted where needed.
    let shown = format!(
        "sh -c {} sh{}",
        sh_quote(&script),
        format!(" {filler}").repeat(3000)
    );
    assert!(shown.len() > 300_000);
    let cut = format!(
        "…[truncated, {} bytes, sha256={}]\" command_sha256={}",
        shown.len(),
        sha256sum(shown.as_bytes()),
        sha256sum(shown.as_bytes())
    );
    let start = next_line(&socket);
    let end = next_line(&socket);
    for (line, event) in [(&start, "event=start"), (&end, "event=end")] {
        assert!(line.len() <= 2048, "{} bytes: {line}", line.len());
        assert!(line.contains(event) && line.contains(&cut), "{line}");
        assert!(line.contains("command=\"sh -c "), "{line}");
    }
    assert!(
        end.contains("exit=0") && end.contains("output=delivered"),
        "{end}"
    );
}

#[test]
fn no_graphical_or_tui_dependency() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args([
            "tree",
            "-p",
            "server-tool",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        tree.contains("server-tool") && tree.contains("shared"),
        "unexpected tree:\n{tree}"
    );
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        for banned in [
            "arboard",
            "crossterm",
            "ratatui",
            "x11",
            "xcb",
            "wayland",
            "winit",
            "gtk",
        ] {
            assert!(
                !name.contains(banned),
                "hush-run depends on {name}:\n{tree}"
            );
        }
    }
}

#[test]
fn wireguard_key_round_trip() {
    if Command::new("wg").arg("--version").output().is_err() {
        eprintln!(
            "\n*** SKIPPED wireguard_key_round_trip: `wg` is not installed (apt-get install wireguard-tools) ***\n"
        );
        return;
    }
    let keys = Keys::new();
    let out = output_within(hush_run(&keys, &["--", "wg", "genkey"]), LIMIT);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let opened = keys.open(&out.stdout);
    let private = opened.stdout.to_vec();
    assert_eq!(
        private.len(),
        45,
        "a WireGuard private key is 44 base64 characters and a newline"
    );
    assert!(
        !contains(&out.stderr, &private[..20]),
        "the private key was shown"
    );
    let mut pubkey = Command::new("wg")
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(pubkey.stdin.as_mut().unwrap(), &private).unwrap();
    drop(pubkey.stdin.take());
    let result = pubkey.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "wg pubkey refused the opened key: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(result.stdout.len(), 45);
    assert_ne!(result.stdout, private);
}

#[test]
fn round_trip_through_hush_open() {
    // `hush` must be built (the harness says so otherwise); only an `open` subcommand that
    // does not exist yet skips the test.
    let hush = bin("hush");
    let implemented = Command::new(&hush)
        .args(["open", "--help"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !implemented {
        eprintln!(
            "\n*** SKIPPED round_trip_through_hush_open: `hush open` is not implemented yet ***\n"
        );
        return;
    }
    let keys = Keys::new();
    let out = output_within(
        hush_run(&keys, &["--", "printf", r"via hush open\000\n"]),
        LIMIT,
    );
    assert_eq!(code(&out), 0);
    let mut open = Command::new(&hush)
        .arg("open")
        .arg("--key-file")
        .arg(&keys.file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(open.stdin.as_mut().unwrap(), &out.stdout).unwrap();
    drop(open.stdin.take());
    let result = open.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "hush open failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(result.stdout, b"via hush open\0\n");
}

#[test]
fn a_full_disk_is_hush_runs_own_failure() {
    let keys = Keys::new();
    for args in [
        // Streamed: the writer fails while the command runs; the command is stopped.
        "--stream -- head -c 5000000 /dev/zero",
        // Held: the final copy to stdout fails.
        "-- echo small",
    ] {
        let script = format!(
            "exec {} --key-file {} {args} > /dev/full",
            sh_quote(&hush_run_path()),
            sh_quote(keys.file.to_str().unwrap())
        );
        let out = output_within(
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::null()),
            LIMIT,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 125, "{args}: {stderr}");
        assert!(
            stderr.contains("No space left on device"),
            "{args}: {stderr}"
        );
    }
}

/// A stderr whose reader went away (`2>&1 | head -c0`, a closed log pipe) or that is
/// closed outright: hush-run's notes are dropped, the command's output is still sealed,
/// and hush-run exits with the command's status (it used to panic with 101).
#[test]
fn a_broken_or_closed_stderr_is_no_failure() {
    let keys = Keys::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = hush_run(&keys, &["--", "echo", "secret"]);
    let out = cmd.stdout(Stdio::piped()).stderr(writer).output().unwrap();
    assert_eq!(code(&out), 0);
    assert_eq!(&keys.open(&out.stdout).stdout[..], b"secret\n");

    let script = format!(
        "{} --key-file {} -- echo secret 2>&-",
        hush_run_path(),
        sh_quote(&keys.file.display().to_string())
    );
    let out = output_within(
        {
            let mut sh = Command::new("sh");
            sh.args(["-c", &script]).stdin(Stdio::null());
            sh
        },
        LIMIT,
    );
    assert_eq!(code(&out), 0);
    assert_eq!(&keys.open(&out.stdout).stdout[..], b"secret\n");
}

/// The key is locked out of swap while hush-run holds it (VmLck in /proc), and the
/// process is not dumpable.
#[test]
fn the_key_is_locked_in_memory_while_the_command_runs() {
    let keys = Keys::new();
    let mut child = hush_run(&keys, &["--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let command = wait_for_child(pid);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", &command.to_string()])
        .status();
    let _ = child.wait();
    let locked_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(locked_kib > 0, "nothing locked:\n{status}");
}
