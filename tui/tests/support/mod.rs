//! Support for the root integration tests of the live event pipeline: network
//! namespaces the tests create and delete (`netns`), the real `tcpscope --json`
//! run as a child process (`tcpscope`), queries on its JSON lines (`lines`),
//! the steps the scenarios share (`scenario`), and a connection storm
//! (`storm`).
// Every test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod kernel;
pub mod lines;
pub mod netns;
pub mod prometheus;
pub mod scenario;
pub mod storm;
pub mod tcpscope;
