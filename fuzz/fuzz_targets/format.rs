//! Any text `wmap fmt` accepts formats to a file that parses exactly when
//! the original does (an integer beyond 64 bits is a parse error that
//! formatting keeps) and formats to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wmap::source::FileId;
use wmap::syntax::format::format;
use wmap::syntax::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(formatted) = format(text) else {
        return;
    };
    assert_eq!(
        parse(FileId(0), text).is_ok(),
        parse(FileId(0), &formatted).is_ok(),
        "formatting changed whether the text parses:\n{formatted}"
    );
    assert_eq!(
        format(&formatted).as_deref(),
        Some(formatted.as_str()),
        "not idempotent"
    );
});
