//! Drawing the TUI from the app's state. Nothing drawn here can be a secret: the state
//! holds fingerprints, labels, sizes and messages only (see `app`).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Gauge, List, ListItem, ListState, Paragraph, Wrap};

use crate::app::{App, CodeField, PairingState, PairingView, Screen, Tone};

/// The hint line, always visible at the bottom.
pub const HINT: &str =
    "g new key  k key  i IV  p open  r relay  c clear  P passphrase  ? help  q quit";

/// Pairings shown at most (the newest).
const PAIRINGS_SHOWN: usize = 3;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    let banner_height = if app.no_clipboard.is_some() { 5 } else { 0 };
    let [title, banner, body, clip, status, hint] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_height),
        Constraint::Min(4),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(1),
    ])
    .areas(area);

    let mut spans = vec![
        Span::styled(" hush ", Style::new().bold().reversed()),
        Span::raw(" secrets go to the clipboard, never to the screen"),
    ];
    // What waits in this laptop's mailbox (one at a time goes to the clipboard).
    if let Some(n) = app.mailbox {
        spans.push(Span::styled(
            format!("   mailbox: {n} waiting"),
            Style::new().add_modifier(Modifier::DIM),
        ));
    }
    frame.render_widget(Line::from(spans), title);
    if let Some(why) = &app.no_clipboard {
        let text = match why.hint() {
            Some(hint) => format!("{why}.\nhint: {hint}"),
            None => why.to_string(),
        };
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .style(Style::new().fg(Color::Yellow))
                .block(Block::bordered().title(" No clipboard ")),
            banner,
        );
    }
    match app.screen {
        Screen::Help => draw_help(frame, app, body),
        _ => draw_main(frame, app, body),
    }
    draw_clipboard(frame, app, now, clip);
    draw_status(frame, app, status);
    frame.render_widget(
        Line::from(HINT).style(Style::new().add_modifier(Modifier::DIM)),
        hint,
    );

    match &app.screen {
        Screen::Passphrase(_) => popup(
            frame,
            area,
            " Passphrase ",
            "Type the passphrase: it is not shown, not even its length.\nEnter sets it, Esc cancels.",
        ),
        Screen::Label(label) => popup(
            frame,
            area,
            " Label for the current key ",
            &format!("{label}_\n\nEnter sets it (empty removes it), Esc cancels."),
        ),
        Screen::Code(field) => code_popup(frame, area, field),
        Screen::NewIdentity(new) => popup(
            frame,
            area,
            " This laptop's identity ",
            if new.again() {
                "Type the new passphrase again: it is not shown.\nEnter confirms, Esc declines."
            } else {
                "Remembering a server makes this laptop's identity, sealed with a passphrase \
                 (asked when hush starts). Type it: it is not shown.\nEnter, Esc declines."
            },
        ),
        Screen::Remember(_, offer) => popup(
            frame,
            area,
            " Remember this server? ",
            &format!(
                "{} ({}) offers to remember this laptop as {}.\n\
                 y: remember it (it seals for this laptop with no key or code); n: no.",
                crate::keyring::sanitize(&offer.host, 40),
                offer.identity.fingerprint(),
                crate::keyring::sanitize(&offer.name, 40),
            ),
        ),
        _ => {}
    }
}

fn draw_main(frame: &mut Frame, app: &App, area: Rect) {
    let shown = app.pairings.len().min(PAIRINGS_SHOWN);
    let relay_height = if shown == 0 { 0 } else { 2 * shown as u16 + 2 };
    let [keys_area, relay_area, opened_area] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(relay_height),
        Constraint::Length(4),
    ])
    .areas(area);
    if shown > 0 {
        draw_pairings(
            frame,
            &app.pairings[app.pairings.len() - shown..],
            relay_area,
        );
    }
    let mut selected = None;
    let mut items: Vec<ListItem> = app
        .keyring
        .keys()
        .enumerate()
        .map(|(n, (info, current))| {
            if current {
                selected = Some(n);
            }
            let text = if current {
                format!("▶ {}  (current)", info.describe())
            } else {
                format!("  {}", info.describe())
            };
            let style = if current {
                Style::new().bold()
            } else {
                Style::new()
            };
            ListItem::new(text).style(style)
        })
        .collect();
    if items.is_empty() {
        items.push(
            ListItem::new("  no key yet: press g").style(Style::new().add_modifier(Modifier::DIM)),
        );
    }
    if app.keyring.has_passphrase() {
        items.push(ListItem::new("  passphrase set (P replaces it)"));
    }
    let title = format!(
        " Keys ({}; newest is current; ↑↓ choose, l label) ",
        app.keyring.key_count()
    );
    // The list scrolls to keep the current key in view.
    let mut state = ListState::default().with_selected(selected);
    frame.render_stateful_widget(
        List::new(items).block(Block::bordered().title(title)),
        keys_area,
        &mut state,
    );

    let lines = match &app.last_open {
        Some(o) => {
            let mut first = format!("{} bytes with {}", o.stdout_len, o.key);
            if o.stderr_len > 0 {
                first.push_str(&format!(", +{} bytes stderr (e)", o.stderr_len));
            }
            vec![
                Line::from(first),
                Line::from(o.meta.clone()).style(Style::new().add_modifier(Modifier::DIM)),
            ]
        }
        None => vec![
            Line::from("nothing opened yet: paste a sealed block here, or copy it and press p")
                .style(Style::new().add_modifier(Modifier::DIM)),
        ],
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Last opened ")),
        opened_area,
    );
}

/// The relay pairings: the code's number (never its secret half), the receiver code, and
/// what each waits for.
fn draw_pairings(frame: &mut Frame, pairings: &[PairingView], area: Rect) {
    let dim = Style::new().add_modifier(Modifier::DIM);
    let items: Vec<ListItem> = pairings
        .iter()
        .map(|p| {
            let code = p.masked_code();
            let first = match (&p.receiver_code, &p.state) {
                (Some(rc), PairingState::Waiting) => {
                    format!("{code}  receiver code {rc} — approve it on the server")
                }
                (Some(rc), _) => format!("{code}  receiver code {rc}"),
                (None, _) => format!("{code}  pairing"),
            };
            let (second, style) = match (&p.note, &p.state) {
                (Some(note), PairingState::Joining | PairingState::Waiting) => {
                    (note.clone(), Style::new().fg(Color::Yellow))
                }
                (_, PairingState::Joining) => {
                    ("joining the relay, pairing with hush-run".into(), dim)
                }
                (_, PairingState::Waiting) => ("waiting for the output".into(), dim),
                (_, PairingState::Opening) => ("the output came: opening it".into(), dim),
                (_, PairingState::Delivered) => (
                    "delivered; a block hush-run printed for it opens when pasted".into(),
                    dim,
                ),
                (_, PairingState::Failed(why)) => (why.clone(), Style::new().fg(Color::Red)),
            };
            ListItem::new(vec![
                Line::from(first),
                Line::from(format!("    {second}")).style(style),
            ])
        })
        .collect();
    frame.render_widget(
        List::new(items).block(Block::bordered().title(" Relay (r: another code) ")),
        area,
    );
}

fn draw_help(frame: &mut Frame, app: &App, area: Rect) {
    let clear = match app.clear_after {
        Some(d) => format!(
            "after {} s, if it still holds what hush put there",
            d.as_secs()
        ),
        None => "only when hush exits (--clear-after 0)".to_owned(),
    };
    let text = vec![
        Line::from("g        new key and IV (becomes current)       ↑ ↓  choose the current key"),
        Line::from("k / i    copy the current key / IV              l    label the current key"),
        Line::from(
            "p        open the sealed block on the clipboard P    set a passphrase (hidden)",
        ),
        Line::from("paste    open a sealed block pasted here        e/o  copy stderr / stdout"),
        Line::from("c        clear the clipboard now                q Esc Ctrl-C  quit (clears)"),
        Line::from("r        type a relay code from hush-run --relay: the output comes to the"),
        Line::from("         clipboard once the server approves the receiver code shown here"),
        Line::from(""),
        Line::from(format!("The clipboard is cleared {clear}.")),
        Line::from("Copies are marked to stay out of clipboard history. Any key: back."),
    ];
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Help ")),
        area,
    );
}

fn draw_clipboard(frame: &mut Frame, app: &App, now: Instant, area: Rect) {
    let block = Block::bordered().title(" Clipboard ");
    match &app.lease {
        Some(lease) => match lease.remaining(now) {
            Some((secs, ratio)) => frame.render_widget(
                Gauge::default()
                    .block(block)
                    .gauge_style(Style::new().fg(Color::Green).bg(Color::DarkGray))
                    .ratio(ratio)
                    .label(format!(
                        "{} — clears in {secs} s (c clears now)",
                        lease.what
                    )),
                area,
            ),
            None => frame.render_widget(
                Paragraph::new(format!(
                    "{} — cleared when hush exits (c clears now)",
                    lease.what
                ))
                .block(block),
                area,
            ),
        },
        None => frame.render_widget(
            Paragraph::new("nothing from hush")
                .style(Style::new().add_modifier(Modifier::DIM))
                .block(block),
            area,
        ),
    }
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let Some(status) = &app.status else { return };
    let color = match status.tone {
        Tone::Info => Color::Reset,
        Tone::Good => Color::Green,
        Tone::Bad => Color::Red,
    };
    let mut lines = vec![Line::from(status.text.as_str()).style(Style::new().fg(color).bold())];
    if let Some(h) = &status.hint {
        lines.push(Line::from(h.as_str()));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

/// The relay code field: what is typed, with the cursor, and why Enter did not take it.
fn code_popup(frame: &mut Frame, area: Rect, field: &CodeField) {
    let rect = popup_rect(area);
    let mut typed = vec![Span::raw("> ")];
    let chars: Vec<char> = field.text.chars().collect();
    let before: String = chars[..field.cursor.min(chars.len())].iter().collect();
    let under = chars
        .get(field.cursor)
        .map_or(" ".to_owned(), char::to_string);
    let after: String = chars
        .get(field.cursor + 1..)
        .unwrap_or(&[])
        .iter()
        .collect();
    typed.push(Span::raw(before));
    typed.push(Span::styled(under, Style::new().reversed()));
    typed.push(Span::raw(after));
    let error = match &field.error {
        Some(e) => Line::from(e.as_str()).style(Style::new().fg(Color::Red)),
        None => Line::from(""),
    };
    let text = vec![
        Line::from("The code hush-run --relay printed (like 417-4K7M-Q2ZP):"),
        Line::from(typed),
        error,
        Line::from("Enter pairs (the code is then used up), Esc cancels."),
    ];
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Relay code ")),
        rect,
    );
}

fn popup_rect(area: Rect) -> Rect {
    let width = area.width.min(64);
    let height = area.height.min(7);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn popup(frame: &mut Frame, area: Rect, title: &str, text: &str) {
    let rect = popup_rect(area);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title.to_owned())),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::app::{Effect, Input, Key};

    fn screen_text(app: &App, w: u16, h: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, app, Instant::now())).unwrap();
        let buf = term.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            for x in 0..w {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn draws_at_80x24_without_secrets_and_at_tiny_sizes() {
        let mut app = App::new(Some(Duration::from_secs(20)), None);
        app.handle(Input::Key(Key::Char('g')), Instant::now());
        let effects = app.handle(Input::Key(Key::Char('k')), Instant::now());
        let Some(Effect::Copy { text, .. }) = effects.into_iter().next() else {
            panic!()
        };
        app.handle(
            Input::Copied(Ok(Some(Instant::now() + Duration::from_secs(20)))),
            Instant::now(),
        );
        let screen = screen_text(&app, 80, 24);
        let fp = app
            .keyring
            .current()
            .unwrap()
            .fingerprint
            .unwrap()
            .to_string();
        assert!(screen.contains(&fp), "{screen}");
        assert!(screen.contains("clears in"), "{screen}");
        assert!(screen.contains("q quit"), "{screen}");
        assert!(!screen.contains(&text[..12]), "the key must not be drawn");
        // Help, the passphrase prompt, and very small terminals do not panic.
        app.handle(Input::Key(Key::Char('?')), Instant::now());
        assert!(screen_text(&app, 80, 24).contains("label the current key"));
        app.handle(Input::Key(Key::Esc), Instant::now());
        app.handle(Input::Key(Key::Char('P')), Instant::now());
        app.handle(Input::Key(Key::Char('s')), Instant::now());
        assert!(screen_text(&app, 80, 24).contains("not shown"));
        for (w, h) in [(1, 1), (10, 3), (20, 8), (200, 60)] {
            screen_text(&app, w, h);
        }
        // The code field shows what is typed; once submitted, only the number is drawn.
        let mut relay = App::new(None, None);
        relay.handle(Input::Key(Key::Char('r')), Instant::now());
        for c in "417-4K7M-Q2ZP".chars() {
            relay.handle(Input::Key(Key::Char(c)), Instant::now());
        }
        assert!(screen_text(&relay, 80, 24).contains("> 417-4K7M-Q2ZP"));
        relay.handle(Input::Key(Key::Enter), Instant::now());
        let screen = screen_text(&relay, 80, 24);
        assert!(screen.contains("417-XXXX-XXXX  pairing"), "{screen}");
        assert!(!screen.contains("4K7M"), "{screen}");
        for (w, h) in [(1, 1), (20, 8)] {
            screen_text(&relay, w, h);
        }
        let no_clip = App::new(None, Some(crate::clipboard::ClipboardError::NoDisplay));
        assert!(screen_text(&no_clip, 80, 24).contains("No clipboard"));
    }
}
