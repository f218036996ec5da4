//! What tcpscope writes for other programs and for people: JSON lines.

pub mod json;
pub mod json_health;
