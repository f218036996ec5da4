//! Styles. With colour, tones are coloured; under NO_COLOR
//! (https://no-color.org) only bold, dim, italic and reverse remain, so
//! everything that matters still stands out.

use ratatui::style::{Color, Modifier, Style};

use crate::app::view::Tone;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn pick(&self, colored: Style, plain: Style) -> Style {
        if self.color { colored } else { plain }
    }

    pub fn tone(&self, tone: Tone) -> Style {
        let plain = Style::new();
        match tone {
            Tone::Normal => plain,
            Tone::Warn => self.pick(plain.fg(Color::Yellow), plain.add_modifier(Modifier::BOLD)),
            Tone::Bad => self.pick(
                plain.fg(Color::LightRed).add_modifier(Modifier::BOLD),
                plain.add_modifier(Modifier::BOLD),
            ),
            Tone::Good => self.pick(plain.fg(Color::Green), plain),
            Tone::Dim => plain.add_modifier(Modifier::DIM),
        }
    }

    /// A pane's title and top border.
    pub fn title(&self, focused: bool) -> Style {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        match focused {
            true => self.pick(bold.fg(Color::Cyan), bold.add_modifier(Modifier::REVERSED)),
            false => bold,
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        match focused {
            true => self.pick(Style::new().fg(Color::Cyan), Style::new()),
            false => Style::new().add_modifier(Modifier::DIM),
        }
    }

    /// Column headings.
    pub fn heading(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    /// The cursor row of the focused pane.
    pub fn cursor(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Labels in the header (the values are plain).
    pub fn label(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Gray),
            Style::new().add_modifier(Modifier::DIM),
        )
    }

    /// What must not be missed: lost events, failed probes, errors.
    pub fn alert(&self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    }

    /// LIVE / FROZEN / REPLAY.
    pub fn badge(&self, live: bool) -> Style {
        let bold = Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED);
        match live {
            true => self.pick(bold.fg(Color::Green), bold),
            false => self.pick(bold.fg(Color::Yellow), bold),
        }
    }

    /// Keys in the footer and the help.
    pub fn key(&self) -> Style {
        self.pick(
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    /// What has not happened yet: projected retransmissions, the give-up.
    pub fn projected(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM | Modifier::ITALIC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_means_no_colour_at_all() {
        let plain = Theme::new(false);
        let tones = [Tone::Normal, Tone::Warn, Tone::Bad, Tone::Good, Tone::Dim];
        let styles = tones
            .map(|tone| plain.tone(tone))
            .into_iter()
            .chain([true, false].map(|focused| plain.title(focused)))
            .chain([true, false].map(|focused| plain.border(focused)))
            .chain([true, false].map(|live| plain.badge(live)))
            .chain([
                plain.heading(),
                plain.cursor(),
                plain.label(),
                plain.alert(),
            ])
            .chain([plain.key(), plain.projected()]);
        for style in styles {
            assert_eq!((style.fg, style.bg), (None, None), "{style:?}");
        }
        assert!(Theme::new(true).alert().bg.is_some());
        assert!(plain.alert().add_modifier.contains(Modifier::REVERSED));
    }
}
