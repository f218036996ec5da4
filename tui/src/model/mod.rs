//! The connection model: decoded events in, flows and answers out. It knows
//! nothing of the screen, the kernel interface or the async runtime, so it
//! runs the same on live probes, a replayed recording or a test's events.

pub mod collected;
pub mod counters;
pub mod destinations;
pub mod drops;
pub mod errno;
pub mod event;
pub mod filter;
pub mod flow;
pub mod forecast;
pub mod giveup;
pub mod listeners;
pub mod seed;
pub mod socket;
pub mod stall;
pub mod table;
