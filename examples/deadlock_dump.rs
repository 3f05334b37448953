//! Finding a deadlock with `dump()`.
//!
//! A small key-value server on an IPC socket: each request is a line
//! `GET <key>\n` and each answer a line. Three named client coroutines
//! query it. One of them has a bug: it forgets the newline, so the server's
//! handler waits for the rest of the line while the client waits for the
//! answer, and neither ever moves again.
//!
//! The program notices that its clients have not finished in time and
//! prints `dump()`: every coroutine with its name, where it was started,
//! what it waits on and for how long, and its backtrace. The stuck pair
//! stands out (`read_line` in the handler, `ask` in "client-2").
//! Then it cancels everything and exits normally.
//!
//! Run with `cargo run --example deadlock_dump`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dill::*;

fn main() -> ExitCode {
    let path = std::env::temp_dir().join(format!("dill-deadlock-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let res = run(&path);
    let _ = std::fs::remove_file(&path);
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deadlock_dump: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &PathBuf) -> io::Result<()> {
    let listener = ipc_listen(path, 16)?;
    let server = Builder::new()
        .name("server")
        .go(move || -> io::Result<()> {
            let handlers = bundle()?;
            loop {
                let s = ipc_accept(&listener, -1)?;
                Builder::new()
                    .name("handler")
                    .go_in(&handlers, move || drop(serve(s)))?;
            }
        })?;

    let clients = bundle()?;
    for (i, key) in ["apple", "pear", "plum"].into_iter().enumerate() {
        let path = path.clone();
        let buggy = i == 2;
        Builder::new()
            .name(&format!("client-{i}"))
            .go_in(&clients, move || match ask(&path, key, buggy) {
                Ok(v) => println!("client-{i}: {key} = {v}"),
                Err(e) => println!("client-{i}: {key}: {e}"),
            })?;
    }

    match clients.wait(after(300)) {
        Ok(()) => println!("all clients done"),
        Err(e) if e.raw_os_error() == Some(errno::ETIMEDOUT) => {
            println!("clients still running after 300 ms; what is everyone doing?\n");
            println!("{}", dump());
        }
        Err(e) => return Err(e),
    }
    // Dropping the bundle and the server cancels every coroutine, stuck or not.
    drop(clients);
    drop(server);
    println!("cancelled the stuck coroutines; bye");
    Ok(())
}

/// One connection: answers `GET <key>` lines until the client leaves.
fn serve(mut s: IpcStream<'static>) -> io::Result<()> {
    loop {
        let line = read_line(&mut s)?;
        let answer = match line.strip_prefix("GET ") {
            Some("apple") => "red\n",
            Some("pear") => "green\n",
            Some(_) => "unknown\n",
            None => "bad request\n",
        };
        bsend(&mut s, answer.as_bytes(), -1)?;
    }
}

/// Reads one line, byte by byte (fine for an example).
fn read_line(s: &mut IpcStream<'static>) -> io::Result<String> {
    let mut line = Vec::new();
    loop {
        let mut b = [0u8; 1];
        brecv(s, &mut b, -1)?;
        if b[0] == b'\n' {
            return String::from_utf8(line)
                .map_err(|_| io::Error::from_raw_os_error(errno::EPROTO));
        }
        line.push(b[0]);
    }
}

/// A client: connects, asks for one key, reads the answer.
fn ask(path: &Path, key: &str, buggy: bool) -> io::Result<String> {
    let mut s = ipc_connect(path, after(1000))?;
    let request = if buggy {
        format!("GET {key}") // the bug: no newline, the server waits for more
    } else {
        format!("GET {key}\n")
    };
    bsend(&mut s, request.as_bytes(), -1)?;
    let mut answer = read_line(&mut s)?;
    answer.truncate(answer.trim_end().len());
    Ok(answer)
}
