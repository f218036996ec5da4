#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| tcpscope::fuzzing::ring_record(bytes));
