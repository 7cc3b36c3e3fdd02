//! Command line: the TUI by default, plain subcommands for scripts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::failure::EXIT_CODES;

/// Opens sealed output of hush-run onto the clipboard, never onto the screen.
///
/// Without a subcommand, hush starts its terminal UI: g makes a key, k and i copy the key
/// and IV for hush-run's prompts, p (or pasting into the window) opens a sealed block and
/// puts its plaintext on the clipboard, which is cleared after --clear-after seconds.
#[derive(Debug, Parser)]
#[command(name = "hush", version, after_help = EXIT_CODES, args_conflicts_with_subcommands = false)]
pub struct Cli {
    /// Seconds before hush clears what it put on the clipboard (0: never). The clipboard is
    /// cleared only if it still holds what hush put there.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 20)]
    pub clear_after: u64,

    /// TUI: load keys from key files (repeatable) besides the ones generated with g.
    #[arg(long = "key-file", value_name = "FILE")]
    pub key_files: Vec<PathBuf>,

    /// TUI: the relay that `r` pairs through, https://HOST:PORT (default: `url` under
    /// `[relay]` in the settings file).
    #[arg(long, value_name = "URL")]
    pub relay: Option<String>,

    /// TUI: the relay certificate's SHA-256, as hush-relay printed it (default: `pin` under
    /// `[relay]` in the settings file; without one, the usual web certificate authorities).
    #[arg(long, value_name = "sha256:HEX")]
    pub relay_pin: Option<String>,

    /// TUI: run without this laptop's identity (its passphrase is not asked): messages of
    /// remembered servers do not open, and offers to remember are declined.
    #[arg(long)]
    pub no_identity: bool,

    /// Print the manual page (roff) and exit: `hush --man | man -l -`.
    #[arg(long, exclusive = true)]
    pub man: bool,

    /// What to do; the TUI when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes a new key file (mode 0600) and prints only its fingerprint.
    Keygen(KeygenArgs),
    /// Opens sealed data: onto the clipboard if stdout is a terminal, raw to a pipe or -o FILE.
    Open(OpenArgs),
    /// Seals data locally, in the same format as hush-run.
    Seal(SealArgs),
    /// Receives hush-run's output through a relay, with the one-time code hush-run showed.
    Receive(ReceiveArgs),
    /// Takes the oldest message remembered servers dropped in this laptop's relay mailbox
    /// (`hush-run --to NAME`), opens it with the identity and hands it over as `open` does.
    Inbox(InboxArgs),
    /// The servers this laptop paired with (`hush receive --remember`), whose messages it
    /// opens with its identity.
    #[command(subcommand)]
    Servers(ServersCommand),
    /// Prints a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `hush inbox`.
#[derive(Debug, Args)]
pub struct InboxArgs {
    /// Only list what waits (id, size, expiry, relay); open nothing.
    #[arg(long)]
    pub list: bool,
    /// Seconds to wait for a message when none waits (default: do not wait).
    #[arg(long, value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub wait: u64,
    /// Write the plaintext to FILE (0600), only once the whole message authenticated.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output the command's stderr records instead of its stdout.
    #[arg(long)]
    pub stderr: bool,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// `hush servers`.
#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// Lists them: name, identity fingerprint, when paired (and forgotten).
    List,
    /// Forgets one: its messages are refused from now on (exit 19), until it is paired
    /// again.
    Forget {
        /// The server's name (`hush servers list`).
        name: String,
    },
    /// Shows this laptop's identity fingerprint (asks its passphrase).
    Identity(IdentityArgs),
}

/// The laptop's identity, for the subcommands that use it.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Read the identity's passphrase from the first line of FILE (mode 0600; e.g.
    /// /dev/fd/3) instead of asking on the terminal.
    #[arg(long, value_name = "FILE")]
    pub identity_passphrase_file: Option<PathBuf>,
}

/// `hush keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key file to write.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Where the key material comes from.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// A key file (key and IV; mode 0600). `open` accepts several and tries each.
    #[arg(long = "key-file", short = 'k', value_name = "FILE")]
    pub key_files: Vec<PathBuf>,
    /// Ask for a passphrase on the terminal (no echo).
    #[arg(long, conflicts_with = "passphrase_file")]
    pub passphrase: bool,
    /// Read the passphrase from the first line of FILE (mode 0600; e.g. /dev/fd/3).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// `hush open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    #[command(flatten)]
    pub creds: CredentialArgs,
    /// Open with this laptop's identity: messages that remembered servers sealed for it
    /// (`hush-run --to NAME`). Its passphrase is asked on the terminal.
    #[arg(long)]
    pub identity: bool,
    #[command(flatten)]
    pub identity_args: IdentityArgs,
    /// Sealed input, armored or binary (default: stdin).
    pub input: Option<PathBuf>,
    /// Write the plaintext to FILE (0600), only once the whole message authenticated.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output the command's stderr records instead of its stdout.
    #[arg(long)]
    pub stderr: bool,
}

/// `hush seal`.
#[derive(Debug, Args)]
pub struct SealArgs {
    #[command(flatten)]
    pub creds: CredentialArgs,
    /// Plaintext input (default: stdin; from a terminal it is read hidden, one line).
    pub input: Option<PathBuf>,
    /// Write the sealed data to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Binary sealed data instead of armored text.
    #[arg(long)]
    pub binary: bool,
}

/// `hush receive`.
#[derive(Debug, Args)]
#[command(after_help = RECEIVE_HELP)]
pub struct ReceiveArgs {
    /// The one-time code hush-run printed (417-4K7M-Q2ZP). Without it, hush asks for it on
    /// the terminal without echo, which keeps it out of shell history and the screen.
    pub code: Option<String>,
    /// The relay, https://HOST:PORT (default: `url` under `[relay]` in the settings file).
    #[arg(long, value_name = "URL")]
    pub relay: Option<String>,
    /// The relay certificate's SHA-256, as hush-relay printed it (default: `pin` under
    /// `[relay]` in the settings file; without one, the usual web certificate authorities).
    #[arg(long, value_name = "sha256:HEX")]
    pub relay_pin: Option<String>,
    /// Seconds to wait for the pairing, the approval on the server and the output.
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub wait: u64,
    /// Write the plaintext to FILE (0600), only once the whole message authenticated.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output the command's stderr records instead of its stdout.
    #[arg(long)]
    pub stderr: bool,
    /// If the server offers it (`hush-run --remember`), remember each other: the server can
    /// then seal for this laptop with no code (`hush-run --to NAME`). NAME is what this laptop
    /// calls the server (default: its host name). Uses this laptop's identity (made on first
    /// use, with a new passphrase).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub remember: Option<String>,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// After `hush receive --help`.
const RECEIVE_HELP: &str = "\
hush shows a receiver code (`receiver code K7MQ`): check that the server asks to approve the
same one. The output goes to the clipboard when stdout is a terminal, else to stdout, or to
-o FILE. The code is used once, whatever happens. Settings file:
$XDG_CONFIG_HOME/hush/config.toml (else ~/.config/hush/config.toml), [relay] url and pin.";

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["hush"]).unwrap();
        assert_eq!(cli.clear_after, 20);
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from([
            "hush",
            "open",
            "--clear-after",
            "5",
            "-k",
            "a",
            "-k",
            "b",
            "in",
        ])
        .unwrap();
        assert_eq!(cli.clear_after, 5);
        let Some(Command::Open(o)) = cli.command else {
            panic!()
        };
        assert_eq!(o.creds.key_files.len(), 2);
    }
}
