//! The terminal while the screen runs: raw mode and the alternate screen on
//! open, and the terminal given back on every way out: drop (quit, a
//! signal, an error) and panic (a hook that restores before the message
//! prints, so the message is readable).

use std::{
    io::{self, Stdout},
    sync::Once,
};

use crossterm::{
    cursor::Show,
    execute,
    terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
};
use ratatui::{Terminal, backend::CrosstermBackend};

pub type Screen = Terminal<CrosstermBackend<Stdout>>;

/// The terminal in raw mode on the alternate screen; restored on drop.
pub struct Tty {
    pub screen: Screen,
}

impl Tty {
    pub fn open() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let opened = execute!(io::stdout(), EnterAlternateScreen)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match opened {
            Ok(mut screen) => {
                screen.hide_cursor()?;
                screen.clear()?;
                Ok(Self { screen })
            }
            Err(error) => {
                restore();
                Err(error)
            }
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves raw mode and the alternate screen and shows the cursor; errors
/// are ignored (after a hang-up there is no terminal left to restore).
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
