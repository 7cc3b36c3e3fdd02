//! Errors of the CLI support module: files, terminals and signals, with messages written
//! for the person at the keyboard. No variant carries secret bytes.

use std::io;
use std::path::PathBuf;

/// Everything the CLI support module can fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- private files (key files, passphrase files) --------------------------------------
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The path is a symbolic link: refused, so that nobody can point it elsewhere.
    #[error("{path} is a symbolic link: give the file itself, not a link to it")]
    Symlink {
        /// The file.
        path: PathBuf,
    },
    /// Not a regular file (a folder, a device, a pipe where a file was expected).
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// Other users may read or write the file.
    #[error(
        "{path} can be read or written by other users (mode {mode:03o}); run: chmod 600 {path}"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file belongs to someone else than the user (or root), as ssh refuses too.
    #[error("{path} belongs to uid {owner}, not to you (uid {me}) or root")]
    Owner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our uid.
        me: u32,
    },
    /// Windows: the file's access list lets another account read or write it.
    #[error(
        "{path} can be read or written by {who}: a key file must be yours alone; run: \
         icacls \"{path}\" /inheritance:r /grant:r \"{me}:F\" and then \
         icacls \"{path}\" /remove \"{who}\""
    )]
    SharedAccess {
        /// The file.
        path: PathBuf,
        /// The first account, other than the user's, that the file lets in.
        who: String,
        /// The user's account name, for the command that fixes it.
        me: String,
    },
    /// Windows: the file belongs to another account than the user (or SYSTEM, or the
    /// Administrators).
    #[error("{path} belongs to {owner}, not to you")]
    ForeignOwner {
        /// The file.
        path: PathBuf,
        /// Its owner's account name.
        owner: String,
    },
    /// The file is far larger than a key file can be.
    #[error("{path} is too large for a key file ({len} bytes)")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The file's content is not valid (the library says what).
    #[error(transparent)]
    Format(#[from] crate::Error),

    // --- output files -----------------------------------------------------------------------
    /// The output path is a folder.
    #[error("{path} is a folder")]
    IsFolder {
        /// The path.
        path: PathBuf,
    },
    /// The output path is a device, a pipe or a socket, which an all-or-nothing file
    /// cannot replace.
    #[error(
        "{path} is not a regular file (a device, a pipe or a socket): -o writes a whole file and renames it into place; redirect instead (> {path})"
    )]
    OutputNotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A file that should not be replaced already exists.
    #[error("{path} already exists (use --force to replace it)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The target's folder does not exist.
    #[error("the folder {dir} does not exist")]
    NoFolder {
        /// The folder.
        dir: PathBuf,
    },
    /// The temporary file cannot be made in the target's folder.
    #[error("cannot create a file in {dir}: {source}")]
    CreateIn {
        /// The folder.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing, syncing or renaming into place failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The target file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    // --- the terminal -----------------------------------------------------------------------
    /// There is no controlling terminal to prompt on.
    #[error("no terminal to ask on ({name}: {0})", name = super::platform::TERMINAL)]
    NoTerminal(io::Error),
    /// Reading from or setting up the terminal failed.
    #[error("cannot read from the terminal: {0}")]
    Terminal(io::Error),
    /// A line longer than a prompt accepts.
    #[error("the line is too long (at most {0} bytes)")]
    LineTooLong(usize),

    // --- process ----------------------------------------------------------------------------
    /// Core dumps or ptrace attach could not be disabled: a secret could leak through them.
    #[error("cannot disable core dumps and ptrace attach: {0}")]
    Hardening(io::Error),
    /// Signal handling could not be set up.
    #[error("cannot set up signal handling: {0}")]
    Signals(io::Error),
}

/// Result with the CLI module's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
