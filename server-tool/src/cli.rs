//! Command line of hush-run (clap derive). Nothing secret is ever taken from here: argv is
//! readable by every user through /proc, so keys only come from the terminal, a 0600 file or
//! an inherited file descriptor.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgGroup, Parser};
use clap_complete::Shell;

const EXAMPLES: &str = "\
Examples:
  Set up a VPN and keep its secret off the screen (paste the key and IV from `hush` on
  your laptop at the hidden prompts, then copy the sealed block back into `hush`):
    hush-run -- pritunl setup-key
    hush-run -- wg genkey
  A pipeline, through sh -c:
    hush-run --shell 'wg genkey | tee /etc/wireguard/private.key'
  Several commands with one key entry (prompts `hush-run> ` until an empty line):
    hush-run
  No key to paste: pair with `hush` on your laptop through a relay, with a one-time code
  (type it in `hush receive CODE`, approve the receiver code here); the output lands on the
  laptop's clipboard:
    hush-run --relay https://relay.example:8443 -- wg genkey
  Automation, with a 0600 key file or a descriptor:
    hush-run --key-file ~/.config/hush/key -o secret.hush -- cat /root/initial-password
    hush-run --key-fd 3 -- vault read -field=token secret/x 3< key-file

Notes:
  The command's stdout is sealed, so a program that prompts on stdout shows no prompt
  (type the answer anyway: stdin is the command's).
  The sealed block is held (encrypted, in an unlinked file in TMPDIR) until the command ends,
  and shown only if it succeeded; `--stream` and `-o FILE` avoid the extra copy.

Exit status:
  0        the command succeeded and its sealed output was written
  1-124    the command failed with this status (its output is withheld); a status above 124
           is passed on too, so 125-127 may also be the command's own (and 122-123)
  122      --relay: a wrong code was used, so the room was burned (someone may be
           attacking); the command was not run
  123      --relay: the pairing did not complete (the code expired, no receiver was
           approved, the relay lost the pairing); the command was not run
  125      hush-run itself failed: no valid key after 3 tries, no terminal to prompt on,
           unreadable or unsafe key file, unreadable key descriptor, output could not be
           written (missing folder, disk full), audit log unreachable, relay unreachable or
           refused before the command ran
  126      the command was found but could not be executed
  127      the command was not found
  128+N    the command was killed by signal N: hush-run ends by the same signal, which a
           shell reports as 128+N (130 Ctrl-C, 143 SIGTERM); also hush-run interrupted at a
           prompt
  2        usage error: bad options, --binary to a terminal, -o FILE without a command, no
           command and no terminal to ask for one, --relay with --stream or a key option, a
           bad relay URL, pin or settings file";

/// Runs a command and prints only its output, sealed for `hush` on your laptop.
///
/// Key and IV are asked on the terminal without echo (or read from a 0600 key file or a file
/// descriptor), never taken from arguments or the environment. The command's stdout is
/// encrypted and authenticated (Cobblestone-256) as it streams; its stderr is shown as is.
/// On failure the output is withheld and hush-run exits with the command's status.
#[derive(Debug, Parser)]
#[command(name = "hush-run", version, after_help = EXAMPLES, max_term_width = 100)]
#[command(group(ArgGroup::new("key_source").args(["key_file", "key_fd", "passphrase"])))]
pub struct Cli {
    /// Read key and IV from a hush key file (must be mode 0600: `key = ...` and `iv = ...`).
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Read key file text from file descriptor N (3 or above), for automation; it is closed
    /// before the command starts.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(3..))]
    pub key_fd: Option<i32>,

    /// Seal with a passphrase (Argon2id) typed twice, instead of a key and IV.
    #[arg(short = 'p', long)]
    pub passphrase: bool,

    /// Run CMD through `sh -c` (pipes, redirections, globs).
    #[arg(short = 's', long, value_name = "CMD", conflicts_with = "command")]
    pub shell: Option<String>,

    /// Write the sealed output to FILE (mode 0600, replaced only on success) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write raw sealed bytes instead of armored text (never to a terminal).
    #[arg(short = 'b', long)]
    pub binary: bool,

    /// Seal the command's stderr too (told apart on opening) instead of showing it.
    #[arg(long)]
    pub seal_stderr: bool,

    /// Write the sealed output even if the command fails (the status is sealed with it).
    #[arg(long)]
    pub seal_on_error: bool,

    /// Write sealed output as it is produced instead of holding it until the command ends.
    /// If the command fails the block is left unfinished (no END line): hush reports it cut
    /// off, after writing the complete chunks' output if it streams to a pipe.
    #[arg(long)]
    pub stream: bool,

    /// Log each command to syslog: a line before it runs and one after (user, command,
    /// exit status, sealed size, key fingerprint; never the output). hush-run refuses to
    /// run a command whose first line cannot be logged.
    #[arg(long)]
    pub audit: bool,

    /// Syslog socket for --audit (for tests and unusual systems).
    #[arg(long, value_name = "PATH", default_value = "/dev/log", hide = true)]
    pub audit_socket: PathBuf,

    /// Pair with `hush` on your laptop through a relay, with a one-time code, instead of a
    /// key: the output goes straight to the laptop's clipboard. URL is https://HOST:PORT;
    /// `--relay` alone takes the URL from the settings file ([relay] url in
    /// $XDG_CONFIG_HOME/hush/config.toml). The command runs only once every receiver is
    /// approved.
    #[arg(
        long,
        value_name = "URL",
        num_args = 0..=1,
        default_missing_value = "",
        conflicts_with_all = ["key_file", "key_fd", "passphrase", "output", "binary"]
    )]
    pub relay: Option<String>,

    /// The SHA-256 of the relay's certificate (`sha256:HEX`, as hush-relay prints it), for a
    /// relay with a self-signed certificate; overrides [relay] pin of the settings file.
    #[arg(long, value_name = "sha256:HEX", requires = "relay")]
    pub relay_pin: Option<String>,

    /// With --relay: how many laptops receive the output (each one approved) [default: 1].
    #[arg(long, value_name = "N", requires = "relay",
          value_parser = clap::value_parser!(u8).range(1..=8))]
    pub receivers: Option<u8>,

    /// With --relay: how long to keep retrying the delivery while the relay is unreachable
    /// before printing the sealed block instead [default: 60].
    #[arg(long, value_name = "SECS", requires = "relay",
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub relay_timeout: Option<u64>,

    /// With --relay: remember the laptop as NAME once it agrees (it gives its identity and
    /// mailbox inside the paired channel); later runs seal for it with `--to NAME`, with
    /// no key and no code.
    #[arg(long, value_name = "NAME", requires = "relay")]
    pub remember: Option<String>,

    /// Seal for a remembered device (repeat for several: sealed once, for all of them)
    /// with this server's identity, instead of a key, and drop it in the device's relay
    /// mailbox (its hush fetches it); without a mailbox, the block is printed, and opens in
    /// that laptop's hush with its identity. `hush-run devices list` shows the names.
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append,
          conflicts_with_all = ["key_file", "key_fd", "passphrase", "relay"])]
    pub to: Vec<String>,

    /// With --to: print the sealed block (or write it with -o FILE) instead of dropping it
    /// in the devices' relay mailboxes.
    #[arg(long, requires = "to")]
    pub print: bool,

    /// Do not print the key fingerprint and other notes on stderr (errors still are).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Print a completion script for SHELL and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<Shell>,

    /// Print the manual page (roff) and exit: `hush-run --man | man -l -`.
    #[arg(long, exclusive = true)]
    pub man: bool,

    /// The command and its arguments, run directly (no shell). Without it (and without
    /// --shell), hush-run prompts for commands.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

impl Cli {
    /// Parses the command line; exits with 2 and clap's message on bad usage.
    pub fn parse_checked() -> Self {
        match Self::try_parse().and_then(Self::check) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        }
    }

    /// `hush-run devices ...` (the first argument, before any `--`): the device list, not
    /// a command to run. A program named `devices` runs as `hush-run -- devices`.
    pub fn devices_command() -> Option<DevicesCli> {
        let mut args = std::env::args_os().skip(1);
        (args.next()? == "devices").then(|| {
            match DevicesCli::try_parse_from(
                std::iter::once(OsString::from("hush-run devices")).chain(args),
            ) {
                Ok(cli) => cli,
                Err(e) => e.exit(),
            }
        })
    }

    /// Rejects what clap lets through: with a trailing command, clap takes a mistyped option
    /// (`--key-fil k`) as the command to run. No real command starts with '-'.
    fn check(self) -> Result<Self, clap::Error> {
        use clap::CommandFactory;
        match self.command.first() {
            Some(first) if first.to_string_lossy().starts_with('-') => Err(Cli::command().error(
                clap::error::ErrorKind::UnknownArgument,
                format!(
                    "unknown option '{}' (the command goes after `--`)",
                    first.to_string_lossy()
                ),
            )),
            _ => Ok(self),
        }
    }

    /// Prints the completion script for `shell` on stdout.
    pub fn print_completions(shell: Shell) {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        clap_complete::generate(shell, &mut cmd, "hush-run", &mut std::io::stdout());
    }
}

/// `hush-run devices`: the devices this server seals for (`--to NAME`).
#[derive(Debug, Parser)]
#[command(name = "hush-run devices", max_term_width = 100)]
pub enum DevicesCli {
    /// List the remembered devices: name, identity fingerprint, when paired, mailbox.
    List,
    /// Forget a device: `--to NAME` refuses it from now on, and its mailbox credentials are
    /// deleted.
    Forget {
        /// The device's name.
        name: String,
    },
    /// Show this server's identity fingerprint (the laptop shows it after pairing).
    Identity,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_after_double_dash_keeps_its_flags() {
        let cli = Cli::try_parse_from(["hush-run", "-q", "--", "ls", "-l", "--", "-x"]).unwrap();
        assert!(cli.quiet);
        assert_eq!(cli.command, ["ls", "-l", "--", "-x"]);
        let cli = Cli::try_parse_from(["hush-run", "wg", "genkey"]).unwrap();
        assert_eq!(cli.command, ["wg", "genkey"]);
        let cli = Cli::try_parse_from(["hush-run", "ls", "-l", "--color"]).unwrap();
        assert_eq!(cli.command, ["ls", "-l", "--color"]);
        // A mistyped option is an error, not a command to run.
        let typo = Cli::try_parse_from(["hush-run", "--key-fil", "k", "--", "true"]);
        assert!(typo.and_then(Cli::check).is_err());
    }

    #[test]
    fn refuses_mixed_key_sources_and_low_fds() {
        assert!(Cli::try_parse_from(["hush-run", "-k", "f", "-p", "--", "true"]).is_err());
        assert!(Cli::try_parse_from(["hush-run", "--key-fd", "0", "--", "true"]).is_err());
        assert!(Cli::try_parse_from(["hush-run", "--shell", "x", "--", "true"]).is_err());
    }
}
