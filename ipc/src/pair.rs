//! Streams that do not come from a listener: `ipc_pair` and `ipc_fromfd`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use dill_runtime::check_cancelled;
use dill_runtime::sock::{self, HeapSlot, StreamMem};

use crate::stream::{IpcMem, IpcStream};
use crate::sys::{err, syscall};

/// A connected pair of non-blocking, close-on-exec stream sockets.
fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    check_cancelled()?;
    let mut fds = [-1 as libc::c_int; 2];
    syscall!(
        // SAFETY: `fds` has room for the two descriptors socketpair writes.
        unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | sock::SOCK_FLAGS,
                0,
                fds.as_mut_ptr(),
            )
        }
    )?;
    // SAFETY: socketpair succeeded, so both are fresh descriptors we own.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    sock::finish_socket(&a)?;
    sock::finish_socket(&b)?;
    Ok((a, b))
}

/// Creates two connected IPC streams in `a` and `b`.
///
/// # Errors
///
/// `ECANCELED`, `EMFILE`, `ENFILE`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_pair_mem.md")]
pub fn ipc_pair_mem<'a, 'b>(
    a: &'a mut IpcMem,
    b: &'b mut IpcMem,
) -> io::Result<(IpcStream<'a>, IpcStream<'b>)> {
    let (fa, fb) = socketpair()?;
    Ok(link(IpcStream::in_mem(a, fa), IpcStream::in_mem(b, fb)))
}

/// Creates two connected IPC streams.
///
/// # Errors
///
/// `ECANCELED`, `EMFILE`, `ENFILE`, `ENOMEM`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_pair.md")]
pub fn ipc_pair() -> io::Result<(IpcStream<'static>, IpcStream<'static>)> {
    check_cancelled()?;
    let sa = HeapSlot::new(StreamMem::new())?;
    let sb = HeapSlot::new(StreamMem::new())?;
    let (fa, fb) = socketpair()?;
    Ok(link(IpcStream::in_slot(sa, fa), IpcStream::in_slot(sb, fb)))
}

/// Lets each end of a pair wake the other's waiters directly: both live
/// on this thread (streams are `!Send`), so a send on one end can hand the
/// CPU to a coroutine waiting on the other without going through the
/// reactor. The kernel's readiness events still arrive as usual; the early
/// wake-up only saves an `epoll_wait` per message.
fn link<'a, 'b>(a: IpcStream<'a>, b: IpcStream<'b>) -> (IpcStream<'a>, IpcStream<'b>) {
    let (fa, fb) = (a.fd(), b.fd());
    a.core.set_peer(fb);
    b.core.set_peer(fa);
    (a, b)
}

/// Checks that `fd` is a connected `AF_UNIX` stream socket and makes it
/// non-blocking.
fn adopt(fd: &OwnedFd) -> io::Result<()> {
    let kind = sock::sock_kind(fd.as_raw_fd())?;
    // A listening socket cannot carry bytes.
    if kind.family != libc::AF_UNIX || kind.ty != libc::SOCK_STREAM || kind.listening {
        return Err(err(libc::EINVAL));
    }
    sock::check_connected(fd.as_raw_fd())?;
    sock::set_nonblocking(fd)
}

/// Turns a connected `AF_UNIX` stream socket into an IPC stream.
///
/// # Errors
///
/// `ECANCELED`, `EINVAL`, `ENOMEM`, `ENOTSOCK`: see ERRORS below for when each occurs.
#[doc = include_str!("../../docs/ipc_fromfd.md")]
pub fn ipc_fromfd(fd: OwnedFd) -> io::Result<IpcStream<'static>> {
    check_cancelled()?;
    if let Err(e) = adopt(&fd) {
        // The caller may have waited on the descriptor before handing it
        // over; it is about to be closed.
        dill_runtime::fdclean(fd.as_raw_fd());
        return Err(e);
    }
    let slot = HeapSlot::new(StreamMem::new())?;
    Ok(IpcStream::in_slot(slot, fd))
}
