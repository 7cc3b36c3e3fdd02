//! `--man`: the manual page, generated from the same clap definition as `--help`, so that
//! `man` readers get the same text: name, synopsis, description, options, each subcommand,
//! then the after-help sections (examples, notes, exit status) verbatim.

use std::io::{self, Write};

/// Writes the page for `cmd` on stdout. A reader that closes the pipe early (`| head`) is
/// not an error.
pub fn print(cmd: clap::Command) -> io::Result<()> {
    let mut page = Vec::new();
    render(cmd, &mut page)?;
    match io::stdout().lock().write_all(&page) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Renders the roff page of `cmd`.
pub fn render(mut cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    cmd.build();
    let title = cmd.get_name().to_uppercase();
    let man = clap_mangen::Man::new(cmd.clone()).title(title);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
        writeln!(out, ".SH \"{}\"", escape(&name.to_uppercase()))?;
        let sub_man = clap_mangen::Man::new(sub.clone());
        let mut text = Vec::new();
        sub_man.render_synopsis_section(&mut text)?;
        sub_man.render_description_section(&mut text)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            sub_man.render_options_section(&mut text)?;
        }
        // The subcommand's own sections become subsections of its section.
        for line in String::from_utf8_lossy(&text).lines() {
            match line.strip_prefix(".SH ") {
                Some(heading) => writeln!(out, ".SS {heading}")?,
                None => writeln!(out, "{line}")?,
            }
        }
    }
    if let Some(after) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        after_help(&after.to_string(), out)?;
    }
    man.render_version_section(out)
}

/// The after-help text: each unindented line ending with ':' starts a section ("Exit
/// status:" becomes EXIT STATUS); the lines under it are kept as they are (no filling), so
/// that tables stay tables.
fn after_help(text: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut open = false;
    for line in text.lines() {
        let heading = line
            .strip_suffix(':')
            .filter(|h| !h.starts_with(char::is_whitespace) && !h.is_empty());
        if let Some(heading) = heading {
            if open {
                writeln!(out, ".fi")?;
            }
            writeln!(out, ".SH \"{}\"", escape(&heading.to_uppercase()))?;
            writeln!(out, ".nf")?;
            open = true;
        } else if open {
            writeln!(out, "{}", escape_line(line))?;
        }
    }
    if open {
        writeln!(out, ".fi")?;
    }
    Ok(())
}

/// Text for roff: backslashes and minus signs escaped (a plain '-' may be rendered as a
/// hyphen, and options would no longer copy and paste).
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// A text line for roff: escaped, and a leading '.' or '\'' kept from being a request.
fn escape_line(line: &str) -> String {
    let escaped = escape(line);
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_help_sections_stay_verbatim() {
        let mut out = Vec::new();
        after_help(
            "Exit status:\n  0   ok\n  1-2 bad\n.dot\n\nNotes:\n  a \\ b",
            &mut out,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            ".SH \"EXIT STATUS\"\n.nf\n  0   ok\n  1\\-2 bad\n\\&.dot\n\n.fi\n.SH \"NOTES\"\n.nf\n  a \\e b\n.fi\n"
        );
    }
}
