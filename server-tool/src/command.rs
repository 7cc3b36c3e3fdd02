//! The command to run: an argv run directly, or a line for `sh -c`; how it is shown in
//! messages, and the metadata sealed with its output.

use std::ffi::OsString;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use shared::Metadata;

/// What to run.
pub enum Spec {
    /// Run directly, no shell.
    Argv(Vec<OsString>),
    /// Run through `sh -c`.
    Shell(String),
}

impl Spec {
    /// A `Command` ready to have its streams set up.
    pub fn command(&self) -> Command {
        match self {
            Spec::Argv(argv) => {
                let mut cmd = Command::new(&argv[0]);
                cmd.args(&argv[1..]);
                cmd
            }
            Spec::Shell(line) => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(line);
                cmd
            }
        }
    }

    /// The command as the user would type it (arguments quoted where a shell needs it).
    pub fn display(&self) -> String {
        match self {
            Spec::Argv(argv) => argv
                .iter()
                .map(|a| quote(&a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" "),
            Spec::Shell(line) => line.clone(),
        }
    }

    /// The program's name, for "not found" messages.
    pub fn program(&self) -> String {
        match self {
            Spec::Argv(argv) => argv[0].to_string_lossy().into_owned(),
            Spec::Shell(_) => "sh".to_owned(),
        }
    }
}

/// Quotes an argument for display if a shell would need it.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The metadata sealed with the output: command, host, user and time. It is encrypted, so
/// it may name things; it lets the laptop say what it opened.
pub fn metadata(spec: &Spec) -> Metadata {
    Metadata {
        command: Some(spec.display()),
        host: hostname(),
        user: Some(crate::user::name()),
        time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs()),
    }
}

/// This machine's host name, if it has one.
pub fn hostname() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        let spec = Spec::Argv(vec![
            "wg".into(),
            "genkey".into(),
            "a b".into(),
            "it's".into(),
            "".into(),
        ]);
        assert_eq!(spec.display(), r"wg genkey 'a b' 'it'\''s' ''");
        assert_eq!(Spec::Shell("a | b".into()).display(), "a | b");
    }
}
