//! Any datagram: decoding never panics, and whatever decodes re-encodes,
//! with the token it quoted, to a datagram that decodes to the same typed
//! packet and token. (A PEER needs its token: the packet alone is not a
//! whole message.)
#![no_main]
use dave_core::wire::{decode_datagram, encode_into, MTU};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = decode_datagram(data) {
        let mut buf = [0u8; MTU + 64];
        let n = encode_into(&d.msg(), &mut buf).expect("a decoded datagram re-encodes");
        let again = decode_datagram(&buf[..n]).expect("a re-encoded datagram decodes");
        assert_eq!(again.packet, d.packet);
        assert_eq!(again.token, d.token);
    }
});
