//! The TUI under Xvfb, driven by tmux; xclip reads the X clipboard.
