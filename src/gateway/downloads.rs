//! `GET /v1/file`: reading a whole file through the node with a
//! [`Download`], every dat verified against the tree before the first byte
//! is sent, and the answer (the bytes, or why the read failed).

use super::http::{Resp, State};
use super::Gateway;
use crate::roots::{not_a_file, NotAFile};
use dave_core::wire::Hex;
use dave_core::Node;
use dave_files::{Download, DownloadOpts, FetchError, RootRef};
use log::debug;
use mio::Registry;
use std::time::{Duration, Instant};

/// A file being read for a connection.
pub(super) struct FileRead {
    slot: usize,
    root: RootRef,
    pub(super) dl: Download,
    pub(super) data: Vec<u8>,
    /// Set when a node event ended the read; answered at the next tick.
    pub(super) failed: Option<FetchError>,
}

impl Gateway {
    /// Starts reading a file for the connection; answered from [`Gateway::tick`].
    pub(super) fn file(
        &mut self,
        slot: usize,
        root: RootRef,
        registry: &Registry,
        node: &mut Node,
    ) {
        if self.files.len() >= self.limits.files {
            self.stats.file_errors += 1;
            let mut r = Resp::error(
                503,
                "busy",
                "another file is being read through this gateway; try again shortly",
            );
            r.extra = "Retry-After: 1\r\n".into();
            return self.respond(slot, r, registry);
        }
        if let Some(c) = self.conns[slot].as_mut() {
            c.state = State::File;
        }
        let opts = DownloadOpts {
            window: self.limits.file_window.max(1),
            stall: self.limits.get_wait,
            max_len: self.limits.file_max,
            ..DownloadOpts::default()
        };
        debug!("/gw/file/start {root}");
        self.files.push(FileRead {
            slot,
            root,
            dl: Download::new(root, opts),
            data: Vec::new(),
            failed: None,
        });
        self.step_files(registry, node);
    }

    /// Sends each file read's next GETs, and answers those that are done.
    pub(super) fn step_files(&mut self, registry: &Registry, node: &mut Node) {
        let now = Instant::now();
        let mut j = 0;
        while j < self.files.len() {
            let f = &mut self.files[j];
            let end = match f.failed.take() {
                Some(e) => Some(Err(e)),
                None if f.dl.is_complete() => Some(Ok(())),
                None => f.dl.step(node, now).err().map(Err),
            };
            let Some(end) = end else {
                j += 1;
                continue;
            };
            let mut f = self.files.swap_remove(j);
            f.dl.cancel(node);
            let r = match end {
                Ok(()) => {
                    self.stats.files_sent += 1;
                    file_resp(&f.dl, std::mem::take(&mut f.data))
                }
                Err(e) => {
                    self.stats.file_errors += 1;
                    file_error(&f.dl, &f.root, &e, self.limits.get_wait, node)
                }
            };
            debug!("/gw/file/end {} {}", r.code, r.body.len());
            self.respond(f.slot, r, registry);
        }
    }
}

/// A file read whole: its bytes, the name it was written with (made safe
/// for a header), and the root it was read from.
fn file_resp(dl: &Download, data: Vec<u8>) -> Resp {
    let (name, root, dats) = match dl.info() {
        Some(i) => (
            safe_file_name(&i.name),
            Hex(&i.root_work).to_string(),
            dl.progress().dats,
        ),
        None => ("file".to_string(), String::new(), 0),
    };
    Resp::new(
        200,
        "application/octet-stream",
        data,
        format!(
            "Content-Disposition: attachment; filename=\"{name}\"\r\nX-Dave-Root: {root}\r\nX-Dave-Dats: {dats}\r\nAccess-Control-Expose-Headers: Content-Disposition, X-Dave-Root, X-Dave-Dats\r\n"
        ),
    )
}

/// Why a file read failed, as an answer: the caller's mistakes (no such
/// root, a root that is a value or a piece of a file) are 404 and 422;
/// a file that breaks its own tree is 502, one that stalls 504.
fn file_error(dl: &Download, root: &RootRef, e: &FetchError, wait: Duration, node: &Node) -> Resp {
    if dl.info().is_none() {
        match not_a_file(node, root) {
            Some(NotAFile::Value(len)) => {
                return Resp::error(
                    422,
                    "not_a_file",
                    &format!(
                        "this is a value, not a file ({len} bytes): read it with GET /v1/dat or /v1/name"
                    ),
                )
            }
            Some(NotAFile::Piece) => {
                return Resp::error(
                    422,
                    "not_a_file",
                    "this is a piece inside a file, not a file's root",
                )
            }
            None => {}
        }
    }
    match e {
        FetchError::Stalled { .. } if dl.info().is_none() => Resp::error(
            404,
            "not_found",
            &format!(
                "no peer returned the file's root within {:.1} s",
                wait.as_secs_f64()
            ),
        ),
        FetchError::Stalled { .. } => {
            Resp::error(504, "stalled", &format!("the file stalled: {e}"))
        }
        FetchError::Bad { .. } | FetchError::Refused(_) => {
            Resp::error(502, "bad_file", &format!("the file was refused: {e}"))
        }
        FetchError::Io(_) => Resp::error(500, "internal", &e.to_string()),
    }
}

/// A recorded file name reduced to what a header may carry: letters,
/// digits, `.`, `-` and `_` (others become `_`), at most 100 bytes, not
/// starting with a dot; "file" when nothing is left.
pub fn safe_file_name(name: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(name)
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "file".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_for_headers() {
        assert_eq!(safe_file_name(b"report 2026.pdf"), "report_2026.pdf");
        assert_eq!(safe_file_name(b"../\r\nX-Evil: 1\""), "___X-Evil__1_");
        assert_eq!(safe_file_name(b"..."), "file");
        assert_eq!(safe_file_name(&[0xff; 300]).len(), 100);
    }
}
