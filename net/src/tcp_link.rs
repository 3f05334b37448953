//! Same-thread loopback peers: when both ends of a loopback TCP connection
//! live on this thread, each learns the other's descriptor, so that a send
//! wakes the peer's waiting reader at once and a receive right after a
//! send lets the peer answer first, as the two ends of an `ipc_pair` do
//! (see `dill_runtime::sock::Stream::set_peer`). A request/reply round
//! trip then costs the four system calls of the blocking floor instead of
//! eight (a receive that says `EAGAIN` and an `epoll_wait` per side).
//!
//! The ends find each other through a small table per thread, keyed by the
//! client's address (which the server gets from `accept` for free and the
//! client reads once with `getsockname`). A candidate stream (connected to
//! or accepted from a loopback address) tries a few times, on its first
//! sends and receives, then gives up: a peer in another process is never
//! found and costs nothing after that. Every link is checked against the
//! kernel (`getpeername` of the partner) before it is used, so an entry
//! left behind by a closed socket whose number was reused cannot link
//! unrelated sockets. No allocation: the table is a fixed array.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use dill_runtime::sock::{self, Stream};

/// Attempts a candidate makes before it gives up.
const TRIES: RawFd = 4;
/// `peer` value of a candidate with `t` attempts left: below -1, so the
/// core treats it as "no peer".
const fn candidate(t: RawFd) -> RawFd {
    -2 - t
}
/// Table size: connections looking for their peer at the same moment.
const SLOTS: usize = 32;

#[derive(Clone, Copy)]
struct Entry {
    /// The client's address: the same for both ends.
    key: SocketAddr,
    fd: RawFd,
    server: bool,
    /// The other end's descriptor once it has found this entry, else -1.
    partner: RawFd,
}

struct Table {
    slots: [Option<Entry>; SLOTS],
    next: usize,
}

thread_local! {
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table { slots: [None; SLOTS], next: 0 })
    };
}

impl Table {
    fn insert(&mut self, e: Entry) {
        // A slot of the same descriptor belongs to a closed socket.
        self.remove_fd(e.fd);
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                // Full: the oldest entries are the least likely to match.
                let i = self.next;
                self.next = (self.next + 1) % SLOTS;
                i
            }
        };
        self.slots[i] = Some(e);
    }

    fn remove_fd(&mut self, fd: RawFd) {
        for s in &mut self.slots {
            if s.is_some_and(|e| e.fd == fd) {
                *s = None;
            }
        }
    }

    fn find(&mut self, f: impl Fn(&Entry) -> bool) -> Option<&mut Entry> {
        self.slots.iter_mut().flatten().find(|e| f(e))
    }
}

/// Marks a freshly connected client stream as a candidate if it talks to
/// a loopback address.
pub(crate) fn connected(s: &Stream<'_>, remote: &SocketAddr) {
    if remote.ip().is_loopback() {
        TABLE.with(|t| t.borrow_mut().remove_fd(s.fd()));
        s.set_peer(candidate(TRIES));
    }
}

/// Marks a freshly accepted server stream as a candidate if its client is
/// on a loopback address, and records it under the client's address.
pub(crate) fn accepted(s: &Stream<'_>, client: &SocketAddr) {
    if client.ip().is_loopback() {
        TABLE.with(|t| {
            t.borrow_mut().insert(Entry {
                key: *client,
                fd: s.fd(),
                server: true,
                partner: -1,
            })
        });
        s.set_peer(candidate(TRIES));
    }
}

/// Called before each transfer: a candidate tries to find its peer.
#[inline]
pub(crate) fn poll(s: &Stream<'_>) {
    if s.peer() < -1 {
        attempt(s);
    }
}

#[cold]
fn attempt(s: &Stream<'_>) {
    let fd = s.fd();
    let left = -2 - s.peer();
    let linked = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(mine) = t.find(|e| e.fd == fd) {
            let mine = *mine;
            if mine.partner >= 0 {
                // The other end found us.
                t.remove_fd(fd);
                return verified(mine.partner, &mine.key, !mine.server).then_some(mine.partner);
            }
            // Look for the other end's entry.
            let other = t.find(|e| e.key == mine.key && e.server != mine.server && e.fd != fd);
            if let Some(other) = other {
                if verified(other.fd, &mine.key, other.server) {
                    other.partner = fd;
                    let p = other.fd;
                    t.remove_fd(fd);
                    return Some(p);
                }
            }
            if left <= 1 {
                t.remove_fd(fd);
            }
            return None;
        }
        // A client that has not registered yet.
        let key = sock::local_addr(fd).ok()?;
        if let Some(other) = t.find(|e| e.key == key && e.server && e.fd != fd) {
            if verified(other.fd, &key, true) {
                other.partner = fd;
                return Some(other.fd);
            }
        }
        t.insert(Entry {
            key,
            fd,
            server: false,
            partner: -1,
        });
        None
    });
    match linked {
        Some(p) => s.set_peer(p),
        None if left <= 1 => s.set_peer(-1),
        None => s.set_peer(candidate(left - 1)),
    }
}

/// Whether `fd` really is the end of the connection of client address
/// `key` that we expect: a server end (its peer is `key`) or a client end
/// (it is bound to `key`).
fn verified(fd: RawFd, key: &SocketAddr, server: bool) -> bool {
    let got = if server {
        sock::peer_addr(fd)
    } else {
        sock::local_addr(fd)
    };
    got.is_ok_and(|a| a == *key)
}
