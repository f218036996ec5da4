//! The panes' contents as plain data: which flows each pane lists, in which
//! order, and their cells as text with a [`Tone`]. The render files only lay
//! these out; tests and the snapshot read the same rows. Only the visible
//! rows are ever formatted, and only the rows up to the visible ones are
//! ever sorted, so a table of 100,000 flows stays cheap to draw.

pub mod attempts;
pub mod closed;
pub mod counters;
pub mod destinations;
pub mod drops;
pub mod flows;
pub mod format;
pub mod listeners;
pub mod sockinfo;
pub mod timeline;

use std::cmp::Ordering;

/// How a row or cell should stand out; the theme picks the style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Normal,
    /// Something is retrying: retransmits, a pending SYN.
    Warn,
    /// The kernel gave up or a peer reset.
    Bad,
    /// It worked out.
    Good,
    /// Over, or not the point.
    Dim,
}

/// The first row to show so that row `cursor` is visible in `height` rows.
pub fn window_start(cursor: usize, height: usize) -> usize {
    cursor.saturating_sub(height.saturating_sub(1))
}

/// Windows reaching further down than this are cut from a full sort.
const STREAMED: usize = 4096;

/// The items at `start..start + len` in `compare` order, and how many
/// items there are. Near the top (the usual case) it keeps only the best
/// `start + len` while streaming, so 100,000 items are compared once each
/// and never gathered; further down it collects and selects.
pub fn window<T>(
    items: impl Iterator<Item = T>,
    start: usize,
    len: usize,
    mut compare: impl FnMut(&T, &T) -> Ordering,
) -> (usize, Vec<T>) {
    let end = start.saturating_add(len);
    if end > STREAMED {
        let mut all: Vec<T> = items.collect();
        let total = all.len();
        let end = end.min(total);
        if start >= end {
            return (total, Vec::new());
        }
        if end < total {
            all.select_nth_unstable_by(end - 1, &mut compare);
            all.truncate(end);
        }
        all.sort_unstable_by(compare);
        all.drain(..start);
        return (total, all);
    }
    let mut total = 0;
    let mut best: Vec<T> = Vec::with_capacity(end.min(64));
    for item in items {
        total += 1;
        if best.len() == end {
            match best.last() {
                Some(worst) if compare(&item, worst) == Ordering::Less => {
                    best.pop();
                }
                _ => continue,
            }
        }
        let at = best.partition_point(|kept| compare(kept, &item) != Ordering::Greater);
        best.insert(at, item);
    }
    best.drain(..start.min(best.len()));
    (total, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_the_rows_it_would_in_a_full_sort() {
        let all = || (0..10_000u32).map(|i| (i * 7919) % 10_000);
        assert_eq!(
            window(all(), 9990, 20, u32::cmp),
            (10_000, (9990..10_000).collect())
        );
        assert_eq!(
            window(all(), 5, 3, |a, b| b.cmp(a)),
            (10_000, vec![9994, 9993, 9992])
        );
        assert_eq!(window(all(), 3000, 2, u32::cmp), (10_000, vec![3000, 3001]));
        assert_eq!(window(all(), 20_000, 5, u32::cmp), (10_000, Vec::new()));
        assert_eq!(window(all().take(3), 1, 5, u32::cmp), (3, vec![5838, 7919]));
    }

    #[test]
    fn the_cursor_stays_on_screen() {
        assert_eq!(window_start(0, 5), 0);
        assert_eq!(window_start(4, 5), 0);
        assert_eq!(window_start(9, 5), 5);
        assert_eq!(window_start(3, 0), 3);
    }
}
