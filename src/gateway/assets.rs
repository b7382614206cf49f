//! The web page and its scripts (`src/web/`), embedded in the binary and
//! served with a Content-Security-Policy that keeps them to this origin.

use super::http::Resp;

pub(super) const PAGE: &str = include_str!("../web/index.html");
pub(super) const APP_JS: &str = include_str!("../web/app.js");
pub(super) const WORKER_JS: &str = include_str!("../web/worker.js");
pub(super) const PROTO_JS: &str = include_str!("../web/proto.js");
pub(super) const FILES_JS: &str = include_str!("../web/files.js");
pub(super) const VENDOR_JS: &str = include_str!("../web/vendor.js");
pub(super) const VENDOR_LICENSE: &str = include_str!("../web/vendor-LICENSE.txt");

pub(super) fn asset(s: &'static str, ctype: &'static str) -> Resp {
    Resp::new(
        200,
        ctype,
        s.as_bytes().to_vec(),
        "Content-Security-Policy: default-src 'self'; connect-src *; img-src 'self' data:; style-src 'self' 'unsafe-inline'\r\n",
    )
}
