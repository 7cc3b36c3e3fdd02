//! The command lines of `hush` and `hush-run` as data (trycmd): `--help` texts, usage errors,
//! and every error message with its exit code that can be produced without a terminal or a
//! clipboard. The cases are the `cmd/*.md` files; each runs in its `cmd/<name>.in/` folder
//! (a copy of it when a `cmd/<name>.out/` exists, whose files the results must match).
//!
//! After a deliberate change of a message: `TRYCMD=overwrite cargo test -p hush-tests --test
//! cmd`, then review the diff. `cmd/make-fixtures.py` explains and rewrites the fixtures.
//!
//! Also here: the exit-code tables of `--help` and docs/*.md, compared row by row, and the
//! `--man` pages checked as roff.
#![allow(missing_docs)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hush_tests::bin;

/// The folder of this crate (cargo runs the tests from it, but say it once).
fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Git keeps no permission bits: key and passphrase files get 0600 back, as the tools
/// demand, and the `group-readable*` ones 0640, to be refused.
fn restore_fixture_modes() {
    let cases = here().join("cmd");
    for dir in fs::read_dir(&cases).expect("tests/cmd") {
        let dir = dir.expect("tests/cmd entry").path();
        if dir.extension().is_none_or(|e| e != "in") {
            continue;
        }
        for file in fs::read_dir(&dir).expect("fixture folder") {
            let path = file.expect("fixture").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let secret = name.ends_with(".key") || name.contains("pass");
            if !secret {
                continue;
            }
            let mode = if name.starts_with("group-readable") {
                0o640
            } else {
                0o600
            };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        }
    }
}

/// Whether this process has a controlling terminal that the binaries would find at /dev/tty.
fn has_terminal() -> bool {
    fs::File::open("/dev/tty").is_ok()
}

/// The cases of `no-tty.md` need a process without a controlling terminal (CI has none; a
/// `cargo test` typed in a terminal has one, and the binaries would wait at their prompts).
/// A new session has none. Returns whether the cases can run.
fn leave_terminal() -> bool {
    if !has_terminal() {
        return true;
    }
    // Fails only for a process group leader (a test binary started by hand from a shell).
    rustix::process::setsid().is_ok() && !has_terminal()
}

#[test]
fn cli_cases() {
    restore_fixture_modes();
    let no_tty = leave_terminal();
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("hush", bin("hush"))
        .register_bin("hush-run", bin("hush-run"))
        // No case may reach a clipboard: without a display there is none.
        .env("DISPLAY", "")
        .env("WAYLAND_DISPLAY", "")
        // clap wraps `--help` to the terminal's width; make it the same everywhere.
        .env("COLUMNS", "100")
        .env("LC_ALL", "C")
        .case("cmd/*.md");
    if !no_tty {
        eprintln!("cmd/no-tty.md skipped: this process keeps a controlling terminal");
        cases.skip("cmd/no-tty.md");
    }
    cases.run();
}

/// The rows of the exit-code table under `## Exit codes` of a docs/*.md file, as
/// (code, meaning) pairs, Markdown escapes and code spans removed.
fn doc_table(doc: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Exit codes"))
        .unwrap_or_else(|| panic!("{}: no '## Exit codes' section", doc.display()));
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2) // header and its underline
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 2, "{}: odd row {row:?}", doc.display());
            (cells[0].replace('`', ""), cells[1].replace('`', ""))
        })
        .collect()
}

/// The rows of the exit-code table at the end of `--help`: the lines after `heading`, a
/// code in the first column and its meaning, continued on lines indented further.
fn help_table(help: &str, heading: &str) -> Vec<(String, String)> {
    let (_, table) = help
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?} in --help:\n{help}"));
    let mut rows: Vec<(String, String)> = Vec::new();
    for line in table.lines() {
        if line.trim().is_empty() {
            break;
        }
        let body = line.trim_start();
        let starts_row = body.starts_with(|c: char| c.is_ascii_digit());
        match rows.last_mut() {
            Some((_, meaning)) if !starts_row => {
                meaning.push(' ');
                meaning.push_str(body);
            }
            _ => {
                let (code, meaning) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
                rows.push((code.to_owned(), meaning.trim().to_owned()));
            }
        }
    }
    rows
}

fn help_of(binary: &str) -> String {
    let out = Command::new(bin(binary))
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .expect("run --help");
    assert!(out.status.success(), "{binary} --help failed");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// A range as a doc writes it (`1–124`, an en dash) and as `--help` does (`1-124`).
fn dashes(text: &str) -> String {
    text.replace('–', "-")
}

/// Words of a meaning, for a comparison that ignores case, punctuation and wrapping.
fn words(meaning: &str) -> Vec<String> {
    dashes(meaning)
        .split(|c: char| !c.is_alphanumeric() && c != '+' && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The doc's table and `--help`'s have the same codes in the same order, each with the same
/// words (case, punctuation, Markdown code spans and line wrapping aside).
fn assert_tables_agree(binary: &str, doc: &str, heading: &str) {
    let doc_rows = doc_table(&here().join("..").join(doc));
    let help_rows = help_table(&help_of(binary), heading);
    let doc_codes: Vec<&str> = doc_rows.iter().map(|(c, _)| c.as_str()).collect();
    let help_codes: Vec<&str> = help_rows.iter().map(|(c, _)| c.as_str()).collect();
    assert!(
        doc_codes.len() == help_codes.len()
            && doc_codes
                .iter()
                .zip(&help_codes)
                .all(|(d, h)| dashes(d) == dashes(h)),
        "{doc} and `{binary} --help` list different exit codes:\n  doc:  {doc_codes:?}\n  help: {help_codes:?}"
    );
    for ((code, doc_meaning), (_, help_meaning)) in doc_rows.iter().zip(&help_rows) {
        let (d, h) = (words(doc_meaning), words(help_meaning));
        assert_eq!(
            d, h,
            "exit code {code}: {doc} and `{binary} --help` disagree:\n  doc:  {doc_meaning}\n  help: {help_meaning}"
        );
    }
}

#[test]
fn hush_exit_codes_in_help_and_doc_agree() {
    assert_tables_agree("hush", "docs/hush.md", "Exit codes:");
}

#[test]
fn hush_run_exit_codes_in_help_and_doc_agree() {
    assert_tables_agree("hush-run", "docs/hush-run.md", "Exit status:");
}
/// `--man` of `binary`: roff whose title is `title`, with the exit codes, which `man`
/// renders (where `man` is installed).
fn check_man_page(binary: &str, title: &str, codes: &[&str]) {
    let out = Command::new(bin(binary))
        .arg("--man")
        .output()
        .expect("run --man");
    assert!(out.status.success(), "{binary} --man failed");
    let page = String::from_utf8(out.stdout).expect("UTF-8 man page");
    assert!(
        page.lines()
            .any(|l| l.starts_with(&format!(".TH {title} "))),
        "{binary} --man: no .TH {title} line:\n{page}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with(".SH") && l.contains("EXIT")),
        "{binary} --man: no exit status section"
    );
    // roff: every line is text or a request (`.XX`, `'XX`); no request is left unknown to
    // man(7) by a stray leading dot or quote in the help text.
    for line in page.lines() {
        if let Some(request) = line.strip_prefix('.').or_else(|| line.strip_prefix('\'')) {
            let name: String = request.chars().take_while(|c| !c.is_whitespace()).collect();
            assert!(
                matches!(
                    name.as_str(),
                    "TH" | "SH"
                        | "SS"
                        | "TP"
                        | "PP"
                        | "P"
                        | "LP"
                        | "IP"
                        | "RS"
                        | "RE"
                        | "br"
                        | "sp"
                        | "nf"
                        | "fi"
                        | "B"
                        | "I"
                        | "BR"
                        | "IR"
                        | "RB"
                        | "RI"
                        | "ie"
                        | "el"
                        | "\\\""
                        | "in"
                        | "ti"
                        | "ds"
                        | "EX"
                        | "EE"
                ),
                "{binary} --man: unexpected roff request {line:?}"
            );
        }
    }
    let Ok(mut man) = Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("`man` is not installed: the rendering of {binary} --man is not checked");
        return;
    };
    {
        use std::io::Write as _;
        let mut stdin = man.stdin.take().expect("man stdin");
        stdin.write_all(page.as_bytes()).expect("feed man");
    }
    let rendered = man.wait_with_output().expect("man -l -");
    let text = String::from_utf8_lossy(&rendered.stdout);
    let warnings = String::from_utf8_lossy(&rendered.stderr);
    assert!(
        rendered.status.success(),
        "man -l - failed on {binary} --man: {warnings}"
    );
    assert!(
        !warnings.contains("warning") && !warnings.contains("error"),
        "man -l - complains about {binary} --man: {warnings}"
    );
    // Overstrike (bold as "X\bX") when the output is not a terminal: drop it.
    let plain = strip_overstrike(&text);
    for code in codes {
        assert!(
            plain.contains(code),
            "{binary} --man, rendered: exit code {code:?} missing:\n{plain}"
        );
    }
}

fn strip_overstrike(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn hush_man_page() {
    check_man_page(
        "hush",
        "HUSH",
        &["EXIT CODES", "no clipboard available", "143"],
    );
}

#[test]
fn hush_run_man_page() {
    check_man_page(
        "hush-run",
        "HUSH-RUN",
        &["EXIT STATUS", "the command was not found", "128+N"],
    );
}
