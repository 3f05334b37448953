//! Streams that do not come from a listener: `ipc_pair` and `ipc_fromfd`.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use dill_runtime::check_cancelled;

use crate::heap::HeapSlot;
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
                libc::SOCK_STREAM | crate::sys::SOCK_FLAGS,
                0,
                fds.as_mut_ptr(),
            )
        }
    )?;
    // SAFETY: socketpair succeeded, so both are fresh descriptors we own.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    crate::sys::finish_socket(&a)?;
    crate::sys::finish_socket(&b)?;
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
    let sa = HeapSlot::new(IpcMem::new())?;
    let sb = HeapSlot::new(IpcMem::new())?;
    let (fa, fb) = socketpair()?;
    Ok(link(IpcStream::in_slot(sa, fa), IpcStream::in_slot(sb, fb)))
}

/// Lets each end of a pair wake the other's waiters directly: both live
/// on this thread (streams are `!Send`), so a send on one end can hand the
/// CPU to a coroutine waiting on the other without going through the
/// reactor. The kernel's readiness events still arrive as usual; the early
/// wake-up only saves an `epoll_wait` per message.
fn link<'a, 'b>(mut a: IpcStream<'a>, mut b: IpcStream<'b>) -> (IpcStream<'a>, IpcStream<'b>) {
    let (fa, fb) = (a.fd(), b.fd());
    a.set_peer(fb);
    b.set_peer(fa);
    (a, b)
}

/// Reads an integer socket option.
fn sockopt_int(fd: &OwnedFd, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut val: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    syscall!(
        // SAFETY: `val` and `len` are valid for writes and `len` holds the
        // size of `val`.
        unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&mut val as *mut libc::c_int).cast(),
                &mut len,
            )
        }
    )?;
    Ok(val)
}

/// Checks that `fd` is a connected-mode `AF_UNIX` stream socket and makes it
/// non-blocking.
fn adopt(fd: &OwnedFd) -> io::Result<()> {
    // The family: getsockname works on any socket and says ENOTSOCK for
    // anything else.
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    syscall!(
        // SAFETY: `ss` and `len` are valid for writes, `len` is `ss`'s size.
        unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        }
    )?;
    if libc::c_int::from(ss.ss_family) != libc::AF_UNIX {
        return Err(err(libc::EINVAL));
    }
    if sockopt_int(fd, libc::SO_TYPE)? != libc::SOCK_STREAM {
        return Err(err(libc::EINVAL));
    }
    // A listening socket cannot carry bytes.
    if sockopt_int(fd, libc::SO_ACCEPTCONN)? != 0 {
        return Err(err(libc::EINVAL));
    }
    let flags = syscall!(
        // SAFETY: F_GETFL takes no pointer argument.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) }
    )?;
    if flags & libc::O_NONBLOCK == 0 {
        syscall!(
            // SAFETY: F_SETFL takes an integer argument.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }
        )?;
    }
    Ok(())
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
    let slot = HeapSlot::new(IpcMem::new())?;
    Ok(IpcStream::in_slot(slot, fd))
}
