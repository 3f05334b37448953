//! Error helpers.

use std::io;

/// Builds an `io::Error` from an errno value (no allocation).
#[inline]
pub(crate) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Turns a wait result (`>= 0` clause index, `< 0` negated errno) into a
/// `Result`.
#[inline]
pub(crate) fn wait_result(r: i32) -> io::Result<usize> {
    if r >= 0 {
        Ok(r as usize)
    } else {
        Err(errno(-r))
    }
}
