//! Any bytes on an HTTP connection: the request parser and the JSON body
//! parser never panic, and a parsed request respects the size limits.
#![no_main]
use dave::gateway::{parse_request, Limits, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Parsed::Done(r) = parse_request(data, &limits) {
        assert!(r.body.len() <= limits.body_max);
        if let Ok(s) = std::str::from_utf8(&r.body) {
            let _ = dave::json::parse_object(s);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = dave::json::parse_object(s);
    }
});
