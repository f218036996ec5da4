//! The key table: every key, the modes it works in, the action it asks for
//! and how the footer and the help overlay describe it. Keys become
//! actions here and nowhere else; in the filter box, keys the table does
//! not name edit the text.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;

use super::{
    action::Action,
    state::{
        Mode::{self, Filter, Help, Normal},
        Page,
    },
};

/// A key, with or without Ctrl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn char(c: char) -> Key {
    key(KeyCode::Char(c))
}

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    /// How the footer and the help name the keys.
    pub label: &'static str,
    pub modes: &'static [Mode],
    pub action: Action,
    /// The footer's word for it; None keeps it out of the footer.
    pub short: Option<&'static str>,
    /// The help overlay's description; empty for a key another row
    /// describes.
    pub help: &'static str,
}

/// Every binding, in the order the footer and the help list them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[char('?')],
        label: "?",
        modes: &[Normal, Help],
        action: Action::ToggleHelp,
        short: Some("help"),
        help: "open or close this help",
    },
    Binding {
        keys: &[char('q')],
        label: "q",
        modes: &[Normal, Help],
        action: Action::Quit,
        short: Some("quit"),
        help: "quit (the terminal is restored)",
    },
    Binding {
        keys: &[Key {
            code: KeyCode::Char('c'),
            ctrl: true,
        }],
        label: "Ctrl-C",
        modes: &[Normal, Filter, Help],
        action: Action::Quit,
        short: None,
        help: "quit, from any mode",
    },
    Binding {
        keys: &[char('/')],
        label: "/",
        modes: &[Normal],
        action: Action::OpenFilter,
        short: Some("filter"),
        help: "filter every pane, e.g. port:443 comm:java state:syn_sent",
    },
    Binding {
        keys: &[key(KeyCode::Enter)],
        label: "Enter",
        modes: &[Filter],
        action: Action::ApplyFilter,
        short: Some("apply"),
        help: "apply (a bad term is shown; the old filter stays)",
    },
    Binding {
        keys: &[key(KeyCode::Esc)],
        label: "Esc",
        modes: &[Filter],
        action: Action::CancelFilter,
        short: Some("cancel"),
        help: "close the box, keep the old filter",
    },
    Binding {
        keys: &[char('1')],
        label: "1-5",
        modes: &[Normal],
        action: Action::ShowPage(Page::Connections),
        short: Some("pages"),
        help: "pages: 1 connections (attempts, flows, timeline, closed), 2 drops, 3 destinations, 4 counters, 5 listeners",
    },
    Binding {
        keys: &[char('2')],
        label: "2",
        modes: &[Normal],
        action: Action::ShowPage(Page::Drops),
        short: None,
        help: "",
    },
    Binding {
        keys: &[char('3')],
        label: "3",
        modes: &[Normal],
        action: Action::ShowPage(Page::Destinations),
        short: None,
        help: "",
    },
    Binding {
        keys: &[char('4')],
        label: "4",
        modes: &[Normal],
        action: Action::ShowPage(Page::Counters),
        short: None,
        help: "",
    },
    Binding {
        keys: &[char('5')],
        label: "5",
        modes: &[Normal],
        action: Action::ShowPage(Page::Listeners),
        short: None,
        help: "",
    },
    Binding {
        keys: &[key(KeyCode::Tab)],
        label: "Tab",
        modes: &[Normal],
        action: Action::FocusNext,
        short: Some("pane"),
        help: "focus the next pane",
    },
    Binding {
        keys: &[key(KeyCode::BackTab)],
        label: "Shift-Tab",
        modes: &[Normal],
        action: Action::FocusPrevious,
        short: None,
        help: "focus the previous pane",
    },
    Binding {
        keys: &[key(KeyCode::Up), char('k')],
        label: "↑/k",
        modes: &[Normal],
        action: Action::Up,
        short: None,
        help: "move up in the focused pane",
    },
    Binding {
        keys: &[key(KeyCode::Down), char('j')],
        label: "↓/j",
        modes: &[Normal],
        action: Action::Down,
        short: None,
        help: "move down in the focused pane",
    },
    Binding {
        keys: &[key(KeyCode::PageUp)],
        label: "PgUp",
        modes: &[Normal],
        action: Action::PageUp,
        short: None,
        help: "move up a page",
    },
    Binding {
        keys: &[key(KeyCode::PageDown)],
        label: "PgDn",
        modes: &[Normal],
        action: Action::PageDown,
        short: None,
        help: "move down a page",
    },
    Binding {
        keys: &[key(KeyCode::Home), char('g')],
        label: "Home/g",
        modes: &[Normal],
        action: Action::Top,
        short: None,
        help: "go to the first row",
    },
    Binding {
        keys: &[key(KeyCode::End), char('G')],
        label: "End/G",
        modes: &[Normal],
        action: Action::Bottom,
        short: None,
        help: "go to the last row",
    },
    Binding {
        keys: &[key(KeyCode::Enter)],
        label: "Enter",
        modes: &[Normal],
        action: Action::Pick,
        short: Some("timeline"),
        help: "show this row's flow in the RTO timeline (on the timeline: unpin)",
    },
    Binding {
        keys: &[char('o')],
        label: "o",
        modes: &[Normal],
        action: Action::CycleSort,
        short: Some("sort"),
        help: "sort the flows by the next column",
    },
    Binding {
        keys: &[char(' ')],
        label: "Space",
        modes: &[Normal],
        action: Action::ToggleFreeze,
        short: Some("freeze"),
        help: "freeze or unfreeze the view (data is still collected)",
    },
    Binding {
        keys: &[char('s')],
        label: "s",
        modes: &[Normal],
        action: Action::Snapshot,
        short: Some("snapshot"),
        help: "write the view as text to ./tcpscope-YYYYMMDD-HHMMSS.txt",
    },
    Binding {
        keys: &[key(KeyCode::Esc)],
        label: "Esc",
        modes: &[Help],
        action: Action::ToggleHelp,
        short: Some("close"),
        help: "close this help",
    },
];

/// The action `event` asks for in `mode`, if any.
pub fn action(mode: Mode, event: &KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    let alt = event.modifiers.contains(KeyModifiers::ALT);
    let bound = BINDINGS
        .iter()
        .filter(|binding| binding.modes.contains(&mode))
        .find(|binding| {
            binding
                .keys
                .iter()
                .any(|key| key.code == event.code && key.ctrl == ctrl && !alt)
        });
    match bound {
        Some(binding) => Some(binding.action),
        None if mode == Mode::Filter => {
            to_input_request(&Event::Key(*event)).map(Action::EditFilter)
        }
        None => None,
    }
}

/// The bindings of `mode`, in table order.
pub fn bindings(mode: Mode) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |binding| binding.modes.contains(&mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tui_input::InputRequest;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn the_same_key_means_what_the_mode_says() {
        let slash = press(KeyCode::Char('/'), KeyModifiers::NONE);
        assert_eq!(action(Mode::Normal, &slash), Some(Action::OpenFilter));
        assert_eq!(
            action(Mode::Filter, &slash),
            Some(Action::EditFilter(InputRequest::InsertChar('/')))
        );
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(action(Mode::Normal, &q), Some(Action::Quit));
        assert_eq!(
            action(Mode::Filter, &q),
            Some(Action::EditFilter(InputRequest::InsertChar('q')))
        );
        let enter = press(KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(action(Mode::Normal, &enter), Some(Action::Pick));
        assert_eq!(action(Mode::Filter, &enter), Some(Action::ApplyFilter));
        assert_eq!(action(Mode::Help, &enter), None);
    }

    #[test]
    fn ctrl_c_quits_from_every_mode_and_shifted_keys_count() {
        let ctrl_c = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in [Mode::Normal, Mode::Filter, Mode::Help] {
            assert_eq!(action(mode, &ctrl_c), Some(Action::Quit), "{mode:?}");
        }
        let question = press(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(action(Mode::Normal, &question), Some(Action::ToggleHelp));
        let end = press(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(action(Mode::Normal, &end), Some(Action::Bottom));
    }

    #[test]
    fn every_mode_can_be_left() {
        for mode in [Mode::Filter, Mode::Help] {
            let leaves = bindings(mode).any(|binding| {
                matches!(
                    binding.action,
                    Action::CancelFilter | Action::ToggleHelp | Action::ApplyFilter
                )
            });
            assert!(leaves, "{mode:?} has no way back");
        }
    }
}
