//! Exists so that tui/ can name this crate as a build dependency (cargo
//! rebuilds tui/ when it changes); the programs are in the binary target.
#![no_std]
