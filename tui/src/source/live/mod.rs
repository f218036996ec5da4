pub mod offsets;
pub mod probes;
