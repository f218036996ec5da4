//! The live screen's application: the data it collects, its state, the
//! actions that change it, the key table, snapshot files, the terminal and
//! the event loop that feeds it input, batches and time. The view-model in
//! [`view`] is plain data; drawing is in [`crate::ui`].

pub mod action;
pub mod host;
pub mod keys;
pub mod launch;
pub mod observed;
pub mod run;
pub mod snapshot;
pub mod state;
pub mod terminal;
pub mod view;
