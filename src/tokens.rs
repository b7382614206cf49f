//! Every mio token the daemon's one poll uses, in one place: the node's
//! socket, the control socket, the gateway's listener, its waker, then one
//! token per gateway connection slot.

use mio::Token;

/// The node's UDP socket.
pub const SOCK: Token = Token(0);
/// The control socket (`daved status`).
pub const CONTROL: Token = Token(1);
/// The gateway's TCP listener.
pub const GATEWAY_LISTEN: Token = Token(2);
/// The gateway's waker: its proof-of-work thread has finished a value.
pub const GATEWAY_WAKE: Token = Token(3);
/// Gateway connection slot `i` has token `GATEWAY_CONN + i`; every token
/// from `GATEWAY_LISTEN` up is the gateway's.
pub const GATEWAY_CONN: usize = 4;
