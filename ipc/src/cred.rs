//! The peer's credentials: [`IpcStream::peer_cred`].

use std::io;

use crate::stream::IpcStream;

/// Credentials of the process at the other end of an IPC stream, as the
/// kernel recorded them when the connection was made (`connect`, or
/// `socketpair` for [`ipc_pair`](crate::ipc_pair)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCred {
    /// The peer's process id, where the platform reports it (Linux,
    /// Android); `None` elsewhere.
    pub pid: Option<i32>,
    /// The peer's effective user id.
    pub uid: u32,
    /// The peer's effective group id.
    pub gid: u32,
}

impl IpcStream<'_> {
    /// The peer process's credentials (`SO_PEERCRED` on Linux, `getpeereid`
    /// on the BSDs and macOS).
    ///
    /// # Errors
    ///
    /// `ENOTCONN` if the peer is gone from the socket's point of view
    /// (rare: the credentials are kept after the peer closes), `EBADF` if
    /// the descriptor was taken out.
    #[doc = include_str!("../../docs/peer_cred.md")]
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        peer_cred(self.fd())
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_cred(fd: std::os::fd::RawFd) -> io::Result<PeerCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` is `cred`'s
    // size.
    dill_runtime::sock::cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    })?;
    Ok(PeerCred {
        pid: (cred.pid > 0).then_some(cred.pid),
        uid: cred.uid,
        gid: cred.gid,
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_cred(fd: std::os::fd::RawFd) -> io::Result<PeerCred> {
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: `uid` and `gid` are valid for writes.
    dill_runtime::sock::cvt(unsafe { libc::getpeereid(fd, &mut uid, &mut gid) })?;
    Ok(PeerCred {
        pid: None,
        uid,
        gid,
    })
}
