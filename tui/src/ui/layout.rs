//! Where each pane goes. Every pane is visible from 80x24 up; from 140
//! columns the timeline and the closed-on-timeout pane sit side by side,
//! and taller terminals give every pane more rows.

use ratatui::layout::{Constraint, Layout, Rect};

/// From this width on, the bottom panes sit side by side.
pub const WIDE: u16 = 140;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    /// Everything between the header and the status line: a page's body.
    pub body: Rect,
    pub syn_sent: Rect,
    pub flows: Rect,
    pub timeline: Rect,
    pub closed: Rect,
    pub status: Rect,
    pub footer: Rect,
}

pub fn areas(area: Rect) -> Areas {
    use Constraint::{Fill, Length, Min};
    let [header, panes, status, footer] =
        Layout::vertical([Length(2), Min(0), Length(1), Length(1)]).areas(area);
    let [syn_sent, flows, timeline, closed] = if area.width >= WIDE {
        let [syn_sent, flows, bottom] =
            Layout::vertical([Fill(10), Fill(15), Fill(19)]).areas(panes);
        let [timeline, closed] = Layout::horizontal([Fill(42), Fill(58)]).areas(bottom);
        [syn_sent, flows, timeline, closed]
    } else {
        Layout::vertical([Fill(4), Fill(6), Fill(5), Fill(5)]).areas(panes)
    };
    Areas {
        header,
        body: panes,
        syn_sent,
        flows,
        timeline,
        closed,
        status,
        footer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pane_has_rows_at_80x24() {
        let areas = areas(Rect::new(0, 0, 80, 24));
        for (name, pane) in [
            ("syn_sent", areas.syn_sent),
            ("flows", areas.flows),
            ("timeline", areas.timeline),
            ("closed", areas.closed),
        ] {
            assert!(pane.height >= 4 && pane.width == 80, "{name}: {pane:?}");
        }
        assert_eq!(areas.footer.y, 23);
    }

    #[test]
    fn wide_terminals_put_the_bottom_panes_side_by_side() {
        let areas = areas(Rect::new(0, 0, 160, 48));
        assert_eq!(areas.timeline.y, areas.closed.y);
        assert!(areas.timeline.width + areas.closed.width == 160);
        assert!(areas.flows.height > 10);
    }
}
