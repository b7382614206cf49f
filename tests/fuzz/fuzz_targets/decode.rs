//! Any datagram: decoding never panics, and whatever decodes re-encodes to
//! a message that decodes to the same typed packet.
#![no_main]
use dave_core::wire::{decode, encode_into, MTU};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = decode(data) {
        let mut buf = [0u8; MTU + 64];
        let n = encode_into(&p.msg(), &mut buf).expect("a decoded packet re-encodes");
        let again = decode(&buf[..n]).expect("a re-encoded packet decodes");
        assert_eq!(again, p);
    }
});
