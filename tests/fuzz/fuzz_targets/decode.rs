//! Any datagram: decoding never panics, and whatever decodes re-encodes to
//! a message that decodes to the same fields.
#![no_main]
use dave::wire::{decode, encode_into, MTU};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = decode(data) {
        let mut buf = [0u8; MTU + 64];
        let n = encode_into(&m, &mut buf).expect("a decoded message re-encodes");
        let again = decode(&buf[..n]).expect("a re-encoded message decodes");
        assert_eq!(again, m);
    }
});
