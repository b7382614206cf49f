//! Ctrl-C in a client command: the first SIGINT sets a flag the command's
//! loops watch, so it can clear its progress line, remove what it left
//! half-written and end with a clean line (exit 130); a second one ends
//! the process at once.

use crate::Fail;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// Installs the handlers (client commands only: a node has its own).
pub(crate) fn install() {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    let sig = signal_hook::consts::SIGINT;
    // Registered first, so it sees the flag as the previous press left it.
    let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(flag));
    let _ = signal_hook::flag::register(sig, Arc::clone(flag));
}

/// Whether Ctrl-C was pressed.
pub(crate) fn pressed() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// `Err(Fail::Interrupted)` once Ctrl-C was pressed.
pub(crate) fn check() -> Result<(), Fail> {
    if pressed() {
        Err(Fail::Interrupted)
    } else {
        Ok(())
    }
}

/// Ends the process now, for work that cannot stop early (a proof of
/// work in progress): clears the progress line, says why, exits 130.
pub(crate) fn exit_now(what: &str) -> ! {
    use std::io::{IsTerminal, Write};
    let mut err = std::io::stderr().lock();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[K");
    }
    let _ = writeln!(err, "daved: interrupted{what}");
    let _ = err.flush();
    std::process::exit(130)
}
