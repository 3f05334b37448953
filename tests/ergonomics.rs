//! Relative deadlines with `after`, and matching errors with `dill::errno`
//! alone (no `libc` in the user's crate).

use std::time::{Duration, Instant};

use dill::*;

#[test]
fn after_saturates_at_i64_max() {
    assert_eq!(after(i64::MAX), i64::MAX);
    assert_eq!(after(i64::MAX - 1), i64::MAX);
    assert_eq!(after(i64::MAX - now() + 1), i64::MAX);
    // A huge relative deadline is as good as "never", and it is valid.
    let (a, _b) = chmake::<u8>().unwrap();
    let waiter = go(move || a.recv(after(i64::MAX)).unwrap_err()).unwrap();
    assert!(!waiter.is_finished());
    drop(waiter); // cancels it; it was waiting, not failing on the deadline
}

#[test]
fn after_of_a_negative_or_zero_delay_is_now() {
    for ms in [0, -1, -5, -1000, i64::MIN] {
        let before = now();
        let d = after(ms);
        let later = now();
        assert!(
            before <= d && d <= later,
            "after({ms}) = {d}, now was {before}..{later}"
        );
    }
    // So a call given it succeeds only without blocking: ETIMEDOUT, never
    // EINVAL (which is what a bare negative deadline other than -1 gives).
    let (a, _b) = chmake::<u8>().unwrap();
    let e = a.recv(after(-5)).unwrap_err();
    assert!(errno::is_errno(&e, errno::ETIMEDOUT), "{e:?}");
    let e = a.recv(-5).unwrap_err();
    assert!(errno::is_errno(&e, errno::EINVAL), "{e:?}");
}

#[test]
fn msleep_after_waits_at_least_that_long() {
    let start = Instant::now();
    let t0 = now();
    msleep(after(20)).unwrap();
    assert!(now() - t0 >= 20, "woke after {} ms", now() - t0);
    // The clock counts whole milliseconds and never leads: at least 19 ms
    // of real time have passed.
    assert!(
        start.elapsed() >= Duration::from_millis(19),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn relative_timeouts_on_every_kind_of_wait() {
    let (a, _b) = chmake::<u8>().unwrap();
    let t0 = now();
    let e = a.recv(after(20)).unwrap_err();
    assert!(errno::is_errno(&e, errno::ETIMEDOUT));
    assert!(now() - t0 >= 20);

    let sleeper = go(|| msleep(-1)).unwrap();
    let t0 = now();
    let e = sleeper.join(after(20)).unwrap_err();
    assert!(errno::is_errno(&e, errno::ETIMEDOUT));
    assert!(now() - t0 >= 20);
}

#[test]
fn errno_constants_are_the_system_values() {
    let pairs = [
        (errno::EACCES, libc::EACCES),
        (errno::EADDRINUSE, libc::EADDRINUSE),
        (errno::EADDRNOTAVAIL, libc::EADDRNOTAVAIL),
        (errno::EAFNOSUPPORT, libc::EAFNOSUPPORT),
        (errno::EAGAIN, libc::EAGAIN),
        (errno::EBADF, libc::EBADF),
        (errno::EBUSY, libc::EBUSY),
        (errno::ECANCELED, libc::ECANCELED),
        (errno::ECONNABORTED, libc::ECONNABORTED),
        (errno::ECONNREFUSED, libc::ECONNREFUSED),
        (errno::ECONNRESET, libc::ECONNRESET),
        (errno::EEXIST, libc::EEXIST),
        (errno::EHOSTUNREACH, libc::EHOSTUNREACH),
        (errno::EINVAL, libc::EINVAL),
        (errno::EISCONN, libc::EISCONN),
        (errno::ELOOP, libc::ELOOP),
        (errno::EMFILE, libc::EMFILE),
        (errno::EMSGSIZE, libc::EMSGSIZE),
        (errno::ENAMETOOLONG, libc::ENAMETOOLONG),
        (errno::ENETUNREACH, libc::ENETUNREACH),
        (errno::ENFILE, libc::ENFILE),
        (errno::ENOBUFS, libc::ENOBUFS),
        (errno::ENOENT, libc::ENOENT),
        (errno::ENOMEM, libc::ENOMEM),
        (errno::ENOTCONN, libc::ENOTCONN),
        (errno::ENOTDIR, libc::ENOTDIR),
        (errno::ENOTSOCK, libc::ENOTSOCK),
        (errno::ENOTSUP, libc::ENOTSUP),
        (errno::EPIPE, libc::EPIPE),
        (errno::EPROTO, libc::EPROTO),
        (errno::ETIMEDOUT, libc::ETIMEDOUT),
    ];
    for (ours, system) in pairs {
        assert_eq!(ours, system);
    }
}

#[test]
fn errors_match_with_errno_alone() {
    // ETIMEDOUT
    let (a, b) = chmake::<u8>().unwrap();
    let e = a.recv(0).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(errno::ETIMEDOUT));
    assert!(errno::is_errno(&e, errno::ETIMEDOUT));
    assert!(!errno::is_errno(&e, errno::ECANCELED));

    // ECANCELED: its ErrorKind is std's uncategorized kind, which cannot
    // be named; the errno is how to tell it apart.
    let seen = std::rc::Rc::new(std::cell::Cell::new(0));
    let s = seen.clone();
    let h = go(move || {
        let e = msleep(-1).unwrap_err();
        s.set(e.raw_os_error().unwrap());
        assert!(errno::is_errno(&e, errno::ECANCELED));
    })
    .unwrap();
    drop(h);
    assert_eq!(seen.get(), errno::ECANCELED);

    // EPIPE: the other end is gone.
    drop(b);
    let e = a.send(1, -1).unwrap_err();
    assert!(errno::is_errno(&e, errno::EPIPE));

    // EINVAL: a negative deadline other than -1.
    let e = msleep(-2).unwrap_err();
    assert!(errno::is_errno(&e, errno::EINVAL));

    // An error that carries no errno matches nothing.
    let e = std::io::Error::other("no errno");
    assert!(!errno::is_errno(&e, errno::EINVAL));
}
