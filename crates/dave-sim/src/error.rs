//! A failed run: what went wrong, when, and the command that replays it.

/// A failed run: what went wrong, when, and how to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    /// The epoch of the failure.
    pub epoch: u64,
    /// What went wrong.
    pub msg: String,
    /// The command that replays the run.
    pub replay: String,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed at epoch {}: {}\nreplay: {}",
            self.epoch, self.msg, self.replay
        )
    }
}

impl std::error::Error for SimError {}
