#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| tcpscope::fuzzing::proc_text(text));
