//! The public items added for threads and shared listeners, coerced to
//! their exact signatures.

#![allow(clippy::type_complexity)]

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use dill::*;

fn is_debug<T: std::fmt::Debug>() {}

#[test]
fn thread_and_listener_signatures() {
    let _: fn(OwnedFd) -> io::Result<IpcListener<'static>> = ipc_listener_fromfd;
    let _: fn(&IpcListener<'static>) -> io::Result<OwnedFd> = IpcListener::share;
    let _: fn(&TcpListener<'static>) -> io::Result<OwnedFd> = TcpListener::share;
    let _: fn(RawFd, i64) -> io::Result<()> = fdin_exclusive;
    let spawn: fn(fn() -> u8) -> io::Result<Thread<u8>> = spawn_thread::<fn() -> u8, u8>;
    let _: fn(&Thread<u8>) = Thread::<u8>::cancel;
    let _: fn(&Thread<u8>) -> bool = Thread::<u8>::is_finished;
    let join: fn(Thread<u8>, i64) -> io::Result<u8> = Thread::<u8>::join;
    let many: fn(usize, fn(usize) -> u8) -> io::Result<Threads<u8>> =
        spawn_threads::<fn(usize) -> u8, u8>;
    let _: fn(&Threads<u8>) = Threads::<u8>::cancel;
    let _: fn(&Threads<u8>) -> bool = Threads::<u8>::is_finished;
    let _: fn(&Threads<u8>) -> usize = Threads::<u8>::len;
    let join_all: fn(Threads<u8>, i64) -> io::Result<Vec<u8>> = Threads::<u8>::join;
    is_debug::<Thread<u8>>();
    is_debug::<Threads<u8>>();

    // Through the pointers.
    assert_eq!(join(spawn(|| 5).unwrap(), -1).unwrap(), 5);
    assert_eq!(
        join_all(many(2, |i| i as u8).unwrap(), -1).unwrap(),
        vec![0, 1]
    );
    let f = std::fs::File::open("/dev/null").unwrap();
    assert_eq!(
        ipc_listener_fromfd(f.into()).unwrap_err().raw_os_error(),
        Some(errno::ENOTSOCK)
    );
}
