//! Every error `ipc_connect`/`ipc_connect_mem` (and `ipc_listen`) document,
//! each provoked for real.

mod ipc_util;

use std::cell::Cell;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::rc::Rc;

use dill::*;
use ipc_util::*;

#[test]
fn missing_file_is_enoent() {
    let p = TempPath::new("enoent");
    assert_errno(ipc_connect(&p, -1), libc::ENOENT, "ipc_connect");
    let mut mem = IpcMem::new();
    assert_errno(
        ipc_connect_mem(&p, &mut mem, -1),
        libc::ENOENT,
        "ipc_connect_mem",
    );
}

#[test]
fn empty_path_is_enoent() {
    assert_errno(ipc_connect("", -1), libc::ENOENT, "empty path");
    let mut mem = IpcMem::new();
    assert_errno(
        ipc_connect_mem("", &mut mem, 0),
        libc::ENOENT,
        "empty path, _mem",
    );
}

#[test]
fn nul_byte_is_einval() {
    assert_errno(ipc_connect("/tmp/a\0b", -1), libc::EINVAL, "NUL inside");
    // A leading NUL would name a Linux abstract socket: not supported.
    assert_errno(ipc_connect("\0abstract", -1), libc::EINVAL, "abstract");
}

#[test]
fn bad_deadline_is_einval() {
    let p = TempPath::new("deadline");
    let _l = ipc_listen(&p, 8).unwrap();
    assert_errno(ipc_connect(&p, -2), libc::EINVAL, "deadline -2");
    let mut mem = IpcMem::new();
    assert_errno(
        ipc_connect_mem(&p, &mut mem, i64::MIN),
        libc::EINVAL,
        "deadline MIN",
    );
}

#[test]
fn path_too_long_is_enametoolong() {
    let long = std::env::temp_dir().join("x".repeat(200));
    assert_errno(ipc_connect(&long, -1), libc::ENAMETOOLONG, "200 bytes");
    // 107 bytes plus the NUL still fit; 108 do not.
    let exact = format!("/{}", "y".repeat(107));
    assert_errno(ipc_connect(&exact, -1), libc::ENAMETOOLONG, "108 bytes");
    let fits = format!("/{}", "y".repeat(106));
    assert_errno(ipc_connect(&fits, -1), libc::ENOENT, "107 bytes");
}

#[test]
fn symlink_loop_is_eloop() {
    let dir = TempPath::new("eloop");
    std::fs::create_dir(&dir).unwrap();
    symlink(dir.join("b"), dir.join("a")).unwrap();
    symlink(dir.join("a"), dir.join("b")).unwrap();
    assert_errno(ipc_connect(dir.join("a"), -1), libc::ELOOP, "symlink loop");
}

#[test]
fn file_as_directory_is_enotdir() {
    let f = TempPath::new("enotdir");
    std::fs::write(&f, b"not a directory").unwrap();
    assert_errno(ipc_connect(f.join("sock"), -1), libc::ENOTDIR, "file/sock");
}

#[test]
fn closed_listener_is_econnrefused() {
    let p = TempPath::new("refused");
    let l = ipc_listen(&p, 8).unwrap();
    drop(l);
    // The socket file stays behind, as in libdill...
    assert!(p.exists());
    // ...but nobody listens on it any more.
    assert_errno(ipc_connect(&p, -1), libc::ECONNREFUSED, "closed listener");
}

#[test]
fn non_socket_file_is_econnrefused() {
    let p = TempPath::new("regular");
    std::fs::write(&p, b"plain file").unwrap();
    assert_errno(ipc_connect(&p, -1), libc::ECONNREFUSED, "regular file");
}

#[test]
fn datagram_socket_is_econnrefused() {
    let p = TempPath::new("dgram");
    let _d = std::os::unix::net::UnixDatagram::bind(&p).unwrap();
    assert_errno(ipc_connect(&p, -1), libc::ECONNREFUSED, "datagram socket");
}

#[test]
fn cancelled_coroutine_gets_ecanceled() {
    let p = TempPath::new("cancel");
    let l = Rc::new(ipc_listen(&p, 8).unwrap());
    let results: Rc<Cell<[i32; 6]>> = Rc::default();
    let (path, res, l2) = (p.to_path_buf(), results.clone(), l.clone());
    let co = go(move || {
        // Block until cancelled.
        assert_eq!(
            msleep(-1).unwrap_err().raw_os_error(),
            Some(libc::ECANCELED)
        );
        let mut mem = IpcMem::new();
        let mut m2 = IpcMem::new();
        let mut lm = IpcListenerMem::new();
        let other = path.with_extension("other");
        res.set([
            errno(ipc_connect(&path, -1)),
            errno(ipc_connect_mem(&path, &mut mem, 0)),
            errno(ipc_accept(&l2, -1)),
            errno(ipc_pair()),
            errno(ipc_pair_mem(&mut m2, &mut IpcMem::new())),
            errno(ipc_listen_mem(&other, &mut lm, 8)),
        ]);
    })
    .unwrap();
    drop(co);
    assert_eq!(results.get(), [libc::ECANCELED; 6]);
    // Nothing reached the listener.
    assert_errno(ipc_accept(&l, 0), libc::ETIMEDOUT, "no connection queued");
}

#[test]
fn listen_on_existing_path_is_eaddrinuse() {
    let p = TempPath::new("inuse");
    let l = ipc_listen(&p, 8).unwrap();
    assert_errno(ipc_listen(&p, 8), libc::EADDRINUSE, "live listener");
    drop(l);
    // The file left by a closed listener is not removed for us.
    assert_errno(ipc_listen(&p, 8), libc::EADDRINUSE, "stale socket file");
    assert!(p.exists());
    std::fs::remove_file(&p).unwrap();
    std::fs::write(&p, b"x").unwrap();
    let mut mem = IpcListenerMem::new();
    assert_errno(
        ipc_listen_mem(&p, &mut mem, 8),
        libc::EADDRINUSE,
        "regular file",
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"x");
}

#[test]
fn listen_argument_errors() {
    let p = TempPath::new("listen-args");
    assert_errno(
        ipc_listen(p.join("sub/sock"), 8),
        libc::ENOENT,
        "missing dir",
    );
    assert_errno(ipc_listen("", 8), libc::ENOENT, "empty");
    assert_errno(ipc_listen("/tmp/x\0y", 8), libc::EINVAL, "NUL");
    assert_errno(ipc_listen(&p, -1), libc::EINVAL, "negative backlog");
    assert!(!p.exists());
    let long = std::env::temp_dir().join("z".repeat(120));
    assert_errno(ipc_listen(&long, 8), libc::ENAMETOOLONG, "long");
}

// ---- errors that need another process -------------------------------------

/// Entry point for the child processes below; a no-op in a normal run.
#[test]
fn child_entry() {
    let Some(scenario) = child_scenario() else {
        return;
    };
    let (what, arg) = scenario.split_once(':').unwrap();
    let code = match what {
        "eacces" => child_eacces(arg),
        "emfile" => child_emfile(arg),
        _ => 99,
    };
    child_exit(code);
}

/// Drops root privileges, then tries to connect to `path`.
fn child_eacces(path: &str) -> i32 {
    // SAFETY: plain system calls without pointers (setgroups with 0 entries).
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(65534) != 0
            || libc::setuid(65534) != 0
        {
            return 10;
        }
    }
    let mut mem = IpcMem::new();
    let a = ipc_connect(path, -1)
        .map(drop)
        .map_err(|e| e.raw_os_error());
    let b = ipc_connect_mem(path, &mut mem, 0)
        .map(drop)
        .map_err(|e| e.raw_os_error());
    match (a, b) {
        (Err(Some(libc::EACCES)), Err(Some(libc::EACCES))) => 0,
        other => {
            eprintln!("unexpected: {other:?}");
            1
        }
    }
}

/// Exhausts the descriptor table under a low RLIMIT_NOFILE, then checks that
/// every constructor fails with EMFILE without leaking.
fn child_emfile(path: &str) -> i32 {
    let listener_path = format!("{path}.l");
    let l = ipc_listen(&listener_path, 8).unwrap();
    // One connection waits in the queue, for ipc_accept below.
    let _c = ipc_connect(&listener_path, -1).unwrap();
    let lim = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return 10;
    }
    let mut hogs = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hogs.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(_) => return 11,
        }
    }
    let before = fd_count_raw();
    let mut mem = IpcMem::new();
    let mut m2 = IpcMem::new();
    let mut lm = IpcListenerMem::new();
    let got = [
        ipc_connect(path, -1).map(drop),
        ipc_connect_mem(path, &mut mem, -1).map(drop),
        ipc_accept(&l, 0).map(drop),
        ipc_pair().map(drop),
        ipc_pair_mem(&mut mem, &mut m2).map(drop),
        ipc_listen_mem(format!("{path}.l2"), &mut lm, 8).map(drop),
    ];
    for (i, r) in got.iter().enumerate() {
        if r.as_ref().err().and_then(|e| e.raw_os_error()) != Some(libc::EMFILE) {
            eprintln!("call {i}: {r:?}");
            return 20 + i as i32;
        }
    }
    if fd_count_raw() != before {
        return 30;
    }
    // With one slot free again, the pending connection can be accepted.
    hogs.pop();
    if ipc_accept(&l, 0).is_err() {
        return 31;
    }
    let _ = std::fs::remove_file(&listener_path);
    0
}

/// Counts open descriptors without needing one (fstat over the table).
fn fd_count_raw() -> usize {
    (0..64)
        .filter(|&fd| {
            // SAFETY: F_GETFD takes no pointer; invalid fds just fail.
            unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
        })
        .count()
}

#[test]
fn no_permission_is_eacces() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("skipped: needs root to drop privileges in a child");
        return;
    }
    // A socket inside a directory that only root may search.
    let dir = TempPath::new("eacces-dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let sock = dir.join("sock");
    let _l = ipc_listen(&sock, 8).unwrap();
    assert_eq!(
        run_child("child_entry", &format!("eacces:{}", sock.display())),
        CHILD_OK
    );
    // A socket file the user may not write to.
    let p = TempPath::new("eacces-file");
    let _l2 = ipc_listen(&p, 8).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        run_child("child_entry", &format!("eacces:{}", p.display())),
        CHILD_OK
    );
}

#[test]
fn descriptor_table_full_is_emfile() {
    let p = TempPath::new("emfile");
    let _l = ipc_listen(&p, 8).unwrap();
    assert_eq!(
        run_child("child_entry", &format!("emfile:{}", p.display())),
        CHILD_OK
    );
}
