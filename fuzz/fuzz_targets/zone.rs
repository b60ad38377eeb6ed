//! The zone reader on arbitrary master-file text: it never panics, and each
//! error names a line of the text.
#![no_main]

use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let origin = Name::from_ascii("example.").expect("a name");
    if let Err(errors) = harness::zone::parse(&origin, &text) {
        let lines = text.lines().count().max(1);
        for e in errors {
            assert!(e.line >= 1 && e.line <= lines, "error at line {} of {lines}: {}", e.line, e.message);
        }
    }
});
