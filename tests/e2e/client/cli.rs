//! The subcommands, as scripts use them: keygen, open, seal, completions, exit codes.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use shared::{Credentials, Iv, Key, Metadata, SealOptions};

use super::{hush, key_file, listing, write_mode};

use hush_tests::fast_argon2 as fast;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn keygen_writes_0600_prints_only_the_fingerprint_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("laptop.key");
    let out = hush()
        .args(["keygen", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let printed = String::from_utf8(out.stdout.clone()).unwrap();
    let creds = shared::cli::private_file::read_key_file(&path).unwrap();
    assert_eq!(printed, format!("{}\n", creds.fingerprint().unwrap()));
    let Credentials::KeyIv { key, iv } = &creds else {
        panic!("key+IV expected")
    };
    for secret in [key.to_base64(), iv.to_base64()] {
        assert!(!printed.contains(secret.as_str()) && !stderr_of(&out).contains(secret.as_str()));
    }
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let before = fs::read(&path).unwrap();
    let out = hush()
        .args(["keygen", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(
        stderr_of(&out).contains("already exists (use --force"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "the old key file is untouched"
    );

    let out = hush()
        .args(["keygen", "--force", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_ne!(fs::read(&path).unwrap(), before);
    assert_eq!(
        listing(dir.path()),
        ["laptop.key"],
        "no temporary file left behind"
    );
}

#[test]
fn seal_and_open_round_trip_through_pipes_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("k");
    hush().args(["keygen", "--out"]).arg(&k).assert().success();
    // Several chunks (16 KiB each), and bytes that are not text.
    let plain: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    fs::write(dir.path().join("plain"), &plain).unwrap();

    // Armored through a pipe.
    let sealed = hush()
        .args(["seal", "--key-file"])
        .arg(&k)
        .write_stdin(plain.clone())
        .output()
        .unwrap();
    assert!(sealed.status.success(), "{}", stderr_of(&sealed));
    assert!(sealed.stdout.starts_with(shared::armor::BEGIN.as_bytes()));
    let opened = hush()
        .args(["open", "--key-file"])
        .arg(&k)
        .write_stdin(sealed.stdout.clone())
        .output()
        .unwrap();
    assert!(opened.status.success(), "{}", stderr_of(&opened));
    assert!(opened.stdout == plain, "exact plaintext on the pipe");

    // Binary, files in and out.
    let sealed_path = dir.path().join("sealed.bin");
    hush()
        .args(["seal", "--binary", "-k"])
        .arg(&k)
        .arg(dir.path().join("plain"))
        .arg("-o")
        .arg(&sealed_path)
        .assert()
        .success();
    assert!(fs::read(&sealed_path).unwrap().starts_with(b"HUSH"));
    let out_path = dir.path().join("out");
    let opened = hush()
        .args(["open", "-k"])
        .arg(&k)
        .arg(&sealed_path)
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(opened.status.success(), "{}", stderr_of(&opened));
    assert!(opened.stdout.is_empty(), "nothing on stdout with -o");
    assert!(fs::read(&out_path).unwrap() == plain);
    assert_eq!(
        fs::metadata(&out_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        stderr_of(&opened).contains("200000 bytes"),
        "{}",
        stderr_of(&opened)
    );
}

#[test]
fn open_reads_what_hush_run_seals_and_offers_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
    let k = key_file(dir.path(), "k", &key, &iv);
    let creds = Credentials::KeyIv { key, iv };
    let meta = Metadata {
        command: Some("wg genkey".into()),
        host: Some("vpn1".into()),
        ..Default::default()
    };
    let mut w =
        shared::SealWriter::new(Vec::new(), &creds, &meta, true, SealOptions::default()).unwrap();
    w.write(shared::Stream::Stdout, b"private key\n").unwrap();
    w.write(shared::Stream::Stderr, b"a warning\n").unwrap();
    let sealed = w.finish(Some(0)).unwrap();
    // Pasted through a terminal: CRs, indentation, surrounding text.
    let pasted = format!(
        "$ hush-run -- wg genkey\n{}\n$ ",
        String::from_utf8(sealed).unwrap().replace('\n', "\r\n   ")
    );
    let out = hush()
        .args(["open", "-k"])
        .arg(&k)
        .write_stdin(pasted.clone())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, b"private key\n");
    let err = stderr_of(&out);
    assert!(
        err.contains("`wg genkey`") && err.contains("vpn1") && err.contains("--stderr"),
        "{err}"
    );
    let out = hush()
        .args(["open", "--stderr", "-k"])
        .arg(&k)
        .write_stdin(pasted)
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"a warning\n");
}

#[test]
fn several_key_files_and_the_one_that_fits_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let fp_a = String::from_utf8(
        hush()
            .args(["keygen", "-o"])
            .arg(&a)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    hush().args(["keygen", "-o"]).arg(&b).assert().success();
    let sealed = hush()
        .args(["seal", "-k"])
        .arg(&a)
        .write_stdin("x")
        .output()
        .unwrap()
        .stdout;
    let out = hush()
        .args(["open", "-k"])
        .arg(&b)
        .arg("-k")
        .arg(&a)
        .write_stdin(sealed)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stderr_of(&out).contains(&format!("key {}", fp_a.trim())),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn passphrase_file_round_trip_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    write_mode(&pw, b"correct horse battery\n", 0o600);
    let sealed = hush()
        .args(["seal", "--passphrase-file"])
        .arg(&pw)
        .write_stdin("pp secret")
        .output()
        .unwrap();
    assert!(sealed.status.success(), "{}", stderr_of(&sealed));
    let out = hush()
        .args(["open", "--passphrase-file"])
        .arg(&pw)
        .write_stdin(sealed.stdout.clone())
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"pp secret", "{}", stderr_of(&out));

    let wrong = dir.path().join("wrong");
    write_mode(&wrong, b"incorrect horse\n", 0o600);
    let out = hush()
        .args(["open", "--passphrase-file"])
        .arg(&wrong)
        .write_stdin(sealed.stdout.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr_of(&out).contains("wrong passphrase"));
    assert!(out.stdout.is_empty());

    // Key given for a passphrase message: mode mismatch, exit 5.
    let k = dir.path().join("k");
    hush().args(["keygen", "-o"]).arg(&k).assert().success();
    let out = hush()
        .args(["open", "-k"])
        .arg(&k)
        .write_stdin(sealed.stdout)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr_of(&out).contains("sealed with a passphrase"),
        "{}",
        stderr_of(&out)
    );

    let loose = dir.path().join("loose");
    write_mode(&loose, b"pw\n", 0o644);
    let out = hush()
        .args(["seal", "--passphrase-file"])
        .arg(&loose)
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(stderr_of(&out).contains("chmod 600"));
    let empty = dir.path().join("empty");
    write_mode(&empty, b"\n", 0o600);
    let out = hush()
        .args(["seal", "--passphrase-file"])
        .arg(&empty)
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("empty"));
    // --passphrase without a terminal: a clear usage error, not a hang. setsid drops any
    // controlling terminal of the test run.
    let out = std::process::Command::new("setsid")
        .arg(hush_tests::bin("hush"))
        .args(["open", "--passphrase"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("no terminal"),
        "{}",
        stderr_of(&out)
    );
}

/// Every kind of bad input: its exit code, its message, and nothing on stdout.
#[test]
fn every_error_kind_has_its_exit_code_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
    let k = key_file(dir.path(), "k", &key, &iv);
    let creds = Credentials::KeyIv { key, iv };
    // Three chunks of 16 KiB: a cut at a chunk boundary is a truncation, and so is a cut
    // inside a chunk (that piece fails its authentication, as a cut one does).
    let plain = vec![b'p'; 40_000];
    let header = 4 + 1 + 1 + 24 + 32;
    let cut = header + 16 * 1024 + 16;
    let armored = String::from_utf8(
        shared::seal(&creds, &Metadata::default(), &plain, true, fast()).unwrap(),
    )
    .unwrap();
    let binary = shared::seal(&creds, &Metadata::default(), &plain, false, fast()).unwrap();
    let other = key_file(
        dir.path(),
        "other",
        &Key::generate().unwrap(),
        &Iv::generate().unwrap(),
    );

    // A base64 character changed well inside the body (past header, salt and commitment).
    let mut lines: Vec<String> = armored.lines().map(str::to_owned).collect();
    let line = &mut lines[10];
    let c = if line.as_bytes()[20] == b'A' {
        "B"
    } else {
        "A"
    };
    line.replace_range(20..21, c);
    let corrupted = lines.join("\n");
    let mut newer = binary.clone();
    newer[4] = 2;
    let mut unknown_mode = binary.clone();
    unknown_mode[5] = 0x7f;

    let cases: Vec<(&str, Vec<u8>, &std::path::Path, i32, &str)> = vec![
        (
            "no block",
            b"just some text\n".to_vec(),
            &k,
            3,
            "no sealed block found",
        ),
        (
            "invalid base64",
            armored.replacen("\n", "\n*", 2).into_bytes(),
            &k,
            3,
            "damaged",
        ),
        (
            "not hush data",
            shared::armor::armor(b"GIF89a this is not hush data at all").into_bytes(),
            &k,
            3,
            "not hush sealed data",
        ),
        (
            "armor cut",
            armored.as_bytes()[..armored.len() / 2].to_vec(),
            &k,
            4,
            "cut off",
        ),
        ("binary cut", binary[..cut].to_vec(), &k, 4, "truncated"),
        (
            "binary cut mid-chunk",
            binary[..binary.len() - 100].to_vec(),
            &k,
            4,
            "ends inside a chunk",
        ),
        (
            "wrong key",
            armored.clone().into_bytes(),
            &other,
            5,
            "wrong key or IV",
        ),
        ("corrupted", corrupted.into_bytes(), &k, 6, "corrupted"),
        (
            "newer version",
            newer,
            &k,
            7,
            "unsupported format version 2",
        ),
        ("unknown mode", unknown_mode, &k, 7, "unsupported key mode"),
    ];
    for (name, input, key_path, code, message) in cases {
        let out = hush()
            .args(["open", "-k"])
            .arg(key_path)
            .write_stdin(input.clone())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(message),
            "{name}: {}",
            stderr_of(&out)
        );
        // Streaming to a pipe releases each chunk once it authenticated; never a bad one.
        assert!(
            out.stdout.iter().all(|&b| b == b'p'),
            "{name}: stdout holds something unauthenticated"
        );

        // -o: nothing left behind, not even a partial file.
        let target = dir.path().join("out.txt");
        let out = hush()
            .args(["open", "-k"])
            .arg(key_path)
            .arg("-o")
            .arg(&target)
            .write_stdin(input)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{name} with -o");
        assert!(!target.exists(), "{name}: -o left a file");
        assert_eq!(
            listing(dir.path()),
            ["k", "other"],
            "{name}: temporary file left behind"
        );
    }
}

#[test]
fn a_corrupted_late_chunk_leaves_no_output_file() {
    // Several chunks: the first ones authenticate and are written to the temporary file
    // before the bad one is found; the target must still never appear.
    let dir = tempfile::tempdir().unwrap();
    let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
    let k = key_file(dir.path(), "k", &key, &iv);
    let creds = Credentials::KeyIv { key, iv };
    let mut sealed = shared::seal(
        &creds,
        &Metadata::default(),
        &vec![7u8; 100_000],
        false,
        fast(),
    )
    .unwrap();
    // Inside the last full chunk (the short final one, altered, would read as cut off).
    let at = sealed.len() - 5000;
    sealed[at] ^= 0x40;
    let target = dir.path().join("secret.out");
    let out = hush()
        .args(["open", "-k"])
        .arg(&k)
        .arg("-o")
        .arg(&target)
        .write_stdin(sealed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr_of(&out));
    assert!(!target.exists());
    assert_eq!(listing(dir.path()), ["k"]);
}

#[test]
fn key_file_problems_exit_8() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("k");
    hush().args(["keygen", "-o"]).arg(&k).assert().success();
    fs::set_permissions(&k, fs::Permissions::from_mode(0o644)).unwrap();
    let out = hush()
        .args(["open", "-k"])
        .arg(&k)
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(stderr_of(&out).contains("chmod 600"));
    let out = hush()
        .args(["open", "-k"])
        .arg(dir.path().join("missing"))
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(stderr_of(&out).contains("missing"), "{}", stderr_of(&out));
    let bad = dir.path().join("bad");
    write_mode(&bad, b"key = nope\niv = nope\n", 0o600);
    let out = hush()
        .args(["seal", "-k"])
        .arg(&bad)
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(stderr_of(&out).contains("line 1"), "{}", stderr_of(&out));
}

#[test]
fn usage_errors_exit_2_and_help_documents_the_exit_codes() {
    hush().args(["open"]).write_stdin("x").assert().code(2);
    hush().args(["open", "--bogus"]).assert().code(2);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    hush().args(["keygen", "-o"]).arg(&a).assert().success();
    hush().args(["keygen", "-o"]).arg(&b).assert().success();
    let out = hush()
        .args(["seal", "-k"])
        .arg(&a)
        .arg("-k")
        .arg(&b)
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = hush().arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for line in [
        "Exit codes:",
        "3    not hush data",
        "5    wrong key",
        "9    no clipboard",
    ] {
        assert!(text.contains(line), "--help lacks {line:?}");
    }
    let version = hush().arg("--version").output().unwrap();
    assert!(
        String::from_utf8(version.stdout)
            .unwrap()
            .starts_with("hush ")
    );
    let completions = hush().args(["completions", "bash"]).output().unwrap();
    assert!(completions.status.success());
    assert!(
        String::from_utf8(completions.stdout)
            .unwrap()
            .contains("keygen")
    );
    // The TUI refuses to start without a terminal, with a pointer to the subcommands.
    let out = hush().write_stdin("").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("needs a terminal"));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("k");
    hush().args(["keygen", "-o"]).arg(&k).assert().success();
    let sealed = hush()
        .args(["seal", "-k"])
        .arg(&k)
        .write_stdin(vec![b'y'; 2_000_000])
        .output()
        .unwrap()
        .stdout;
    let sealed_path = dir.path().join("s");
    fs::write(&sealed_path, sealed).unwrap();
    let script = format!(
        "{} open -k {} {} | head -c 10",
        hush_tests::bin("hush").display(),
        k.display(),
        sealed_path.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"yyyyyyyyyy");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        !stderr_of(&out).contains("Broken pipe"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn interrupting_open_o_leaves_no_file() {
    for (signal, rc) in [("INT", 130), ("QUIT", 131)] {
        interrupt_open_o(signal, rc);
    }
}

fn interrupt_open_o(signal: &str, rc: i32) {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("k");
    hush().args(["keygen", "-o"]).arg(&k).assert().success();
    let target = dir.path().join("out");
    // stdin stays open and empty: hush waits, its temporary file already created.
    let mut child = std::process::Command::new(hush_tests::bin("hush"))
        .args(["open", "-k"])
        .arg(&k)
        .arg("-o")
        .arg(&target)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !listing(dir.path()).iter().any(|n| n.ends_with(".partial")) {
        assert!(start.elapsed().as_secs() < 5, "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Wait with stdin still open (`wait` would close it first): at end of input hush would
    // go on by itself and race the signal.
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed().as_secs() < 5, "{signal}: hush did not end");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    // SIGINT, SIGTERM and SIGHUP end hush by the signal itself, so that a script running it
    // stops too; SIGQUIT (which would dump core) exits with 131. A shell shows 128+N.
    let shell_code = status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
    });
    assert_eq!(shell_code, rc, "{signal}: {err}");
    assert!(err.contains("no output file written"), "{err}");
    assert_eq!(listing(dir.path()), ["k"], "the temporary file was removed");
}

/// A message of `len` stdout bytes sealed in binary, its key file, and where it was cut.
fn cut_binary(dir: &std::path::Path, len: usize, cut: usize) -> (std::path::PathBuf, Vec<u8>) {
    let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
    let k = key_file(dir, "k", &key, &iv);
    let creds = Credentials::KeyIv { key, iv };
    let plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    let sealed = shared::seal(&creds, &Metadata::default(), &plain, false, fast()).unwrap();
    (k, sealed[..cut].to_vec())
}

/// `head -c 150000 big.bin > cut.bin; hush open -k k cut.bin | ...`: the complete chunks are
/// written, and the failure says so, and calls the cut a cut.
#[test]
fn a_cut_binary_message_to_a_pipe_says_how_much_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let (k, cut) = cut_binary(dir.path(), 400_000, 150_000);
    let out = hush()
        .args(["open", "-k"])
        .arg(&k)
        .write_stdin(cut)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(!out.stdout.is_empty(), "the complete chunks are released");
    let said = format!(
        "after {} bytes of output had been written; they are authentic but incomplete",
        out.stdout.len()
    );
    assert!(err.contains(&said), "{err}");
    assert!(err.contains("ends inside a chunk"), "{err}");
    assert!(err.contains("looks cut off"), "{err}");
    assert!(!err.contains("nothing was released"), "{err}");
}

/// `hush open ... > out` and `>> out`: a regular file is all or nothing, cut back to what
/// it held before; one not written at its end is left as written (and the count said).
#[test]
fn a_failed_open_cuts_a_redirected_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let (k, cut) = cut_binary(dir.path(), 400_000, 150_000);
    let input = dir.path().join("cut.bin");
    fs::write(&input, &cut).unwrap();
    let before = b"kept from before\n";
    for (how, append) in [("> out", false), (">> out", true)] {
        let target = dir.path().join("out");
        fs::write(&target, before).unwrap();
        let file = fs::OpenOptions::new()
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&target)
            .unwrap();
        let original = if append { &before[..] } else { &b""[..] };
        let out = std::process::Command::new(hush_tests::bin("hush"))
            .args(["open", "-k"])
            .arg(&k)
            .arg(&input)
            .stdout(file)
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(4), "{how}: {err}");
        assert!(err.contains("already written were removed"), "{how}: {err}");
        assert_eq!(fs::read(&target).unwrap(), original, "{how}: not cut back");
    }
    // Written at offset 0 over longer content (`1<> out`): cutting back would destroy the
    // rest, so what was written stays, and the message says so.
    let target = dir.path().join("out");
    fs::write(&target, vec![b'#'; 300_000]).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&target).unwrap();
    let out = std::process::Command::new(hush_tests::bin("hush"))
        .args(["open", "-k"])
        .arg(&k)
        .arg(&input)
        .stdout(file)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("they are authentic but incomplete"), "{err}");
    assert_eq!(fs::read(&target).unwrap().len(), 300_000);
}
