//! hush-run at a real terminal: a pty driven by rexpect, as a user at 2 a.m. would.
//!
//! rexpect turns echo off on the pty it creates; every session here runs `stty echo` first,
//! so that a prompt that forgot to hide the entry would show it (`harness_terminal_echoes`
//! proves the harness can see such a leak).

use std::fs;
use std::process::Command;
use std::time::Duration;

use shared::{Credentials, Passphrase};

use super::*;

impl Term {
    fn enter_keys(&mut self, keys: &Keys) {
        self.expect("Key: ");
        self.send_line(&keys.key_text);
        self.expect("IV: ");
        self.send_line(&keys.iv_text);
    }
}

#[test]
fn harness_terminal_echoes() {
    // Without this, "the key is not on the screen" could pass only because the harness
    // never echoes anything.
    let mut term = Term::start("read line; echo read-done");
    term.send_line("typed-and-visible");
    term.expect("read-done");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0);
    assert!(transcript.contains("typed-and-visible"), "{transcript}");
}

#[test]
fn key_and_iv_are_hidden_and_the_block_on_screen_opens() {
    let keys = Keys::new();
    let mut term = Term::hush_run("-- printf 'pty secret\\n'");
    term.enter_keys(&keys);
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    keys.assert_absent(transcript.as_bytes(), "the terminal");
    assert!(
        !transcript.contains("pty secret"),
        "the output was shown:\n{transcript}"
    );
    let fingerprint = keys.creds().fingerprint().unwrap().to_string();
    assert!(
        transcript.contains(&format!("hush-run: key fingerprint {fingerprint}")),
        "{transcript}"
    );
    let found = blocks_in(&transcript);
    assert_eq!(found.len(), 1, "{transcript}");
    // The terminal turned \n into \r\n: the block opens anyway, as pasted.
    assert_eq!(&keys.open(found[0].as_bytes()).stdout[..], b"pty secret\n");
}

#[test]
fn bad_entries_are_explained_and_asked_again() {
    let keys = Keys::new();
    let mut term = Term::hush_run("-- echo accepted");
    term.expect("Key: ");
    term.send_line(&keys.iv_text);
    term.expect("swapped");
    term.expect("Key: ");
    term.send_line("QUJD");
    term.expect("wrong length");
    term.expect("Key: ");
    term.send_line(&keys.key_text);
    term.expect("IV: ");
    term.send_line(&keys.key_text);
    term.expect("swapped");
    term.expect("IV: ");
    term.send_line("AAAA*AAAAAAAAAAA");
    term.expect("not valid base64");
    term.expect("IV: ");
    term.send_line(&keys.iv_text);
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    keys.assert_absent(transcript.as_bytes(), "the terminal");
    assert!(
        !transcript.contains("QUJD") && !transcript.contains("AAAA*"),
        "a wrong entry was echoed"
    );
    assert_eq!(
        &keys.open(blocks_in(&transcript)[0].as_bytes()).stdout[..],
        b"accepted\n"
    );
}

#[test]
fn three_bad_entries_give_up_with_125() {
    let mut term = Term::hush_run("-- echo never");
    for _ in 0..3 {
        term.expect("Key: ");
        term.send_line("not-a-key");
    }
    let (code, transcript) = term.finish();
    assert_eq!(code, 125, "{transcript}");
    assert!(
        transcript.contains("no valid key after 3 tries"),
        "{transcript}"
    );
    assert!(!transcript.contains("not-a-key"));
    assert!(blocks_in(&transcript).is_empty());
}

#[test]
fn exit_status_passes_through_at_a_terminal() {
    let keys = Keys::new();
    for (args, expected) in [
        ("-- true", 0),
        ("--shell 'exit 3'", 3),
        ("-- /nonexistent/hush-test-command", 127),
        ("--shell 'kill -TERM $$'", 143),
    ] {
        let mut term = Term::hush_run(args);
        term.enter_keys(&keys);
        let (code, transcript) = term.finish();
        assert_eq!(code, expected, "{args}:\n{transcript}");
        assert_eq!(
            blocks_in(&transcript).len(),
            usize::from(expected == 0),
            "{args}:\n{transcript}"
        );
    }
}

#[test]
fn stderr_is_shown_and_stdout_is_not() {
    let keys = Keys::new();
    let mut term = Term::hush_run("--shell 'echo visible-error >&2; echo hidden-output'");
    term.enter_keys(&keys);
    let (code, transcript) = term.finish();
    assert_eq!(code, 0);
    assert!(transcript.contains("visible-error"), "{transcript}");
    assert!(!transcript.contains("hidden-output"), "{transcript}");
    assert_eq!(
        &keys.open(blocks_in(&transcript)[0].as_bytes()).stdout[..],
        b"hidden-output\n"
    );
}

#[test]
fn fifty_mib_binary_output_opens_exactly() {
    let keys = Keys::new();
    let data = keys.path("data");
    let sealed = keys.path("sealed");
    let made = Command::new("head")
        .args(["-c", "52428800", "/dev/urandom"])
        .stdout(fs::File::create(&data).unwrap())
        .status();
    assert!(made.unwrap().success());
    // Through a pipe, so hush-run holds the sealed output until the command has succeeded.
    let mut term = Term::start(&format!(
        "{{ {} -- cat {}; echo RC=$? >&2; }} | cat > {}",
        sh_quote(&hush_run_path()),
        sh_quote(data.to_str().unwrap()),
        sh_quote(sealed.to_str().unwrap())
    ));
    term.enter_keys(&keys);
    term.expect("RC=0");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    keys.assert_absent(transcript.as_bytes(), "the terminal");
    let opened = keys.open(&fs::read(&sealed).unwrap());
    assert!(
        opened.stdout[..] == fs::read(&data).unwrap()[..],
        "50 MiB did not round trip"
    );
}

#[test]
fn key_and_iv_are_absent_from_proc_of_hush_run_and_the_command() {
    let keys = Keys::new();
    // Long enough to be inspected on a loaded machine; ended below.
    let mut term = Term::hush_run("-- sleep 60");
    term.enter_keys(&keys);
    term.expect("key fingerprint");
    let child = wait_for_child(term.pid);
    // Inspect the command itself, not hush-run's fork before it became `sleep`.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default() != "sleep\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never became sleep"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for pid in [term.pid, child] {
        for file in ["cmdline", "environ"] {
            let path = format!("/proc/{pid}/{file}");
            // hush-run is non-dumpable: only root reads its environ (the suite runs as root in CI).
            let content =
                fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e} (run as root)"));
            assert!(
                !content.is_empty(),
                "{path} is empty: the check would prove nothing"
            );
            keys.assert_absent(&content, &path);
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(contains(&cmdline, b"sleep"), "pid {pid} is not ours");
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (code, transcript) = term.finish();
    assert_eq!(code, 143, "{transcript}");
}

#[test]
fn ctrl_c_during_a_long_command_ends_both() {
    let keys = Keys::new();
    let mut term = Term::hush_run("-- sleep 100");
    term.enter_keys(&keys);
    term.expect("key fingerprint");
    let child = wait_for_child(term.pid);
    std::thread::sleep(Duration::from_millis(200));
    term.session.send_control('c').unwrap();
    let (code, transcript) = term.finish();
    assert_eq!(code, 130, "{transcript}");
    assert!(
        transcript.contains("killed by signal 2 (SIGINT)"),
        "{transcript}"
    );
    assert!(!alive(child), "the command survived Ctrl-C");
    assert!(blocks_in(&transcript).is_empty());
}

#[test]
fn ctrl_c_at_the_key_prompt_restores_the_terminal() {
    let mut term = Term::start(&format!(
        "trap : INT; {} -- true; echo RC=$?; stty -a",
        sh_quote(&hush_run_path())
    ));
    term.expect("Key: ");
    std::thread::sleep(Duration::from_millis(100));
    term.session.send_control('c').unwrap();
    term.expect("RC=130");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0);
    let after = &transcript[transcript.rfind("RC=130").unwrap()..];
    let flags: Vec<&str> = after.split_whitespace().collect();
    assert!(
        flags.contains(&"echo") && !flags.contains(&"-echo"),
        "echo left off:\n{after}"
    );
}

#[test]
fn interactive_mode_seals_each_command_with_one_key_entry() {
    let keys = Keys::new();
    let mut term = Term::hush_run("");
    term.enter_keys(&keys);
    term.expect("hush-run> ");
    term.send_line("printf 'out-%s\\n' one");
    term.expect("hush-run> ");
    term.send_line("printf 'out-%s\\n' two >&1; exit 0");
    term.expect("hush-run> ");
    term.send_line("");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    assert!(
        !transcript.contains("out-one") && !transcript.contains("out-two"),
        "{transcript}"
    );
    let found = blocks_in(&transcript);
    assert_eq!(found.len(), 2, "{transcript}");
    assert_eq!(&keys.open(found[0].as_bytes()).stdout[..], b"out-one\n");
    assert_eq!(&keys.open(found[1].as_bytes()).stdout[..], b"out-two\n");
    keys.assert_absent(transcript.as_bytes(), "the terminal");
}

#[test]
fn passphrase_is_asked_twice_and_never_shown() {
    let mut term = Term::hush_run("--passphrase -- echo pass-secret");
    term.expect("Passphrase: ");
    term.send_line("correct horse");
    term.expect("Passphrase (again): ");
    term.send_line("battery staple");
    term.expect("do not match");
    term.expect("Passphrase: ");
    term.send_line("correct horse");
    term.expect("Passphrase (again): ");
    term.send_line("correct horse");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    assert!(
        !transcript.contains("correct horse") && !transcript.contains("battery"),
        "{transcript}"
    );
    assert!(!transcript.contains("pass-secret\r"), "{transcript}");
    let passphrase = Passphrase::new(zeroize::Zeroizing::new("correct horse".to_owned())).unwrap();
    let opened = shared::open(
        blocks_in(&transcript)[0].as_bytes(),
        &[Credentials::Passphrase(passphrase)],
    )
    .unwrap();
    assert_eq!(&opened.stdout[..], b"pass-secret\n");
}

#[test]
fn binary_output_is_refused_on_a_terminal() {
    let keys = Keys::new();
    let term = Term::hush_run(&format!(
        "--binary --key-file {} -- echo x",
        sh_quote(keys.file.to_str().unwrap())
    ));
    let (code, transcript) = term.finish();
    assert_eq!(code, 2, "{transcript}");
    assert!(
        transcript.contains("refusing to write binary"),
        "{transcript}"
    );
}

#[test]
fn the_commands_own_prompts_work() {
    // stdin is inherited: a command that asks something gets the user's answer.
    let keys = Keys::new();
    let mut term = Term::hush_run(
        "--shell 'printf \"Continue? \" >&2; read answer; echo \"answered-$answer\"'",
    );
    term.enter_keys(&keys);
    term.expect("Continue? ");
    term.send_line("yes");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    assert!(!transcript.contains("answered-"), "{transcript}");
    assert_eq!(
        &keys.open(blocks_in(&transcript)[0].as_bytes()).stdout[..],
        b"answered-yes\n"
    );
}

#[test]
fn interactive_mode_refuses_an_output_file() {
    let keys = Keys::new();
    let term = Term::hush_run(&format!(
        "-o {} --key-file {}",
        sh_quote(keys.path("out").to_str().unwrap()),
        sh_quote(keys.file.to_str().unwrap())
    ));
    let (code, transcript) = term.finish();
    assert_eq!(code, 2, "{transcript}");
    assert!(transcript.contains("interactive session"), "{transcript}");
}

#[test]
fn key_and_iv_pasted_together_fill_both_prompts() {
    let keys = Keys::new();
    let mut term = Term::hush_run("-- echo together");
    term.expect("Key: ");
    // One paste of two lines, as copied from a key file's two values.
    term.session
        .send(&format!("{}\n{}\n", keys.key_text, keys.iv_text))
        .unwrap();
    term.session.flush().unwrap();
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    keys.assert_absent(transcript.as_bytes(), "the terminal");
    assert_eq!(
        &keys.open(blocks_in(&transcript)[0].as_bytes()).stdout[..],
        b"together\n"
    );
}

#[test]
fn ctrl_c_in_interactive_mode_stops_only_the_command() {
    let keys = Keys::new();
    let mut term = Term::hush_run("");
    term.enter_keys(&keys);
    term.expect("hush-run> ");
    term.send_line("sleep 100");
    let child = wait_for_child(term.pid);
    std::thread::sleep(Duration::from_millis(200));
    term.session.send_control('c').unwrap();
    term.expect("killed by signal 2 (SIGINT)");
    term.expect("hush-run> ");
    assert!(!alive(child), "the command survived Ctrl-C");
    term.send_line("echo still-here");
    term.expect("hush-run> ");
    term.send_line("");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(
        &keys.open(blocks_in(&transcript)[0].as_bytes()).stdout[..],
        b"still-here\n"
    );
}

#[test]
fn audit_refuses_to_run_when_the_start_record_cannot_be_logged() {
    // The log is reachable when hush-run starts (it checks before asking for the key), then
    // goes away while the key is typed: the command must not run unaudited.
    let keys = Keys::new();
    let socket_path = keys.path("log.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    let marker = keys.path("ran");
    let mut term = Term::hush_run(&format!(
        "--audit --audit-socket {} -- touch {}",
        sh_quote(socket_path.to_str().unwrap()),
        sh_quote(marker.to_str().unwrap())
    ));
    term.expect("Key: ");
    drop(socket);
    term.send_line(&keys.key_text);
    term.expect("IV: ");
    term.send_line(&keys.iv_text);
    let (code, transcript) = term.finish();
    assert_eq!(code, 125, "{transcript}");
    assert!(
        transcript.contains("cannot write to the system log"),
        "{transcript}"
    );
    assert!(!marker.exists(), "the command ran without its start record");
}

#[test]
fn ctrl_c_ends_a_shell_pipeline_and_the_terminal_is_usable_after() {
    let keys = Keys::new();
    let mut term = Term::start(&format!(
        "trap : INT; {} --shell 'sleep 31 | cat'; echo RC=$?; read line; echo got-$line",
        sh_quote(&hush_run_path())
    ));
    term.enter_keys(&keys);
    term.expect("key fingerprint");
    let sleeper = wait_for_descendant(term.pid, "sleep");
    let cat = wait_for_descendant(term.pid, "cat");
    std::thread::sleep(Duration::from_millis(200));
    term.session.send_control('c').unwrap();
    term.expect("RC=130");
    for (pid, name) in [(sleeper, "sleep"), (cat, "cat")] {
        assert!(
            gone_within(pid, Duration::from_secs(5)),
            "{name} survived Ctrl-C"
        );
    }
    // The shell has the terminal back: it can read from it (no SIGTTIN, no EIO).
    term.send_line("typed-after");
    term.expect("got-typed-after");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    assert!(blocks_in(&transcript).is_empty(), "{transcript}");
}

#[test]
fn ctrl_z_does_not_leave_the_terminal_stuck() {
    // The command has the terminal's foreground, so Ctrl-Z stops only it. hush-run takes the
    // terminal back and stops its own job as the terminal would have; here (no job-control
    // shell above it) the kernel discards that stop, so the command is continued and ends.
    let keys = Keys::new();
    let mut term = Term::start(&format!(
        "{} --shell 'sleep 2; echo resumed'; echo RC=$?; read line; echo got-$line",
        sh_quote(&hush_run_path())
    ));
    term.enter_keys(&keys);
    term.expect("key fingerprint");
    wait_for_descendant(term.pid, "sleep");
    term.session.send_control('z').unwrap();
    term.expect("RC=0");
    term.send_line("typed-after");
    term.expect("got-typed-after");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(
        &keys.open(blocks_in(&transcript)[0].as_bytes()).stdout[..],
        b"resumed\n"
    );
}

#[test]
fn ctrl_z_stops_the_job_and_fg_resumes_it() {
    // Under a job-control shell, Ctrl-Z stops the command and hush-run with it, the shell
    // gets the terminal back, and `fg` hands it to the command again.
    let keys = Keys::new();
    let mut term = Term::start("PS1='job-shell$ ' exec bash --norc --noprofile -i");
    term.expect("job-shell$ ");
    term.send_line(&format!(
        "{} --key-file {} --shell 'sleep 2; read answer; echo resumed-$answer'",
        sh_quote(&hush_run_path()),
        sh_quote(keys.file.to_str().unwrap())
    ));
    term.expect("key fingerprint");
    wait_for_descendant(term.pid, "sleep");
    term.session.send_control('z').unwrap();
    term.expect("Stopped");
    term.expect("job-shell$ ");
    term.send_line("fg");
    // Once continued, the command reads the terminal: it has the foreground again.
    std::thread::sleep(Duration::from_millis(300));
    term.send_line("yes");
    term.expect("hush-run: sealed");
    term.expect("job-shell$ ");
    // `fg` returns the job's status: hush-run's, the command's.
    term.send_line("echo RC=$?");
    term.expect("RC=0");
    term.expect("job-shell$ ");
    term.send_line("exit");
    let (code, transcript) = term.finish();
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(
        &keys.open(blocks_in(&transcript)[0].as_bytes()).stdout[..],
        b"resumed-yes\n"
    );
}
