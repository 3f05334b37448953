//! The channel additions of the contract (API.md, "Runtime, continued")
//! coerced to their exact signatures, and exercised once each.

#![allow(clippy::type_complexity)]

use std::io;

use dill::*;

fn is_send_sync_clone_debug<T: Send + Sync + Clone + std::fmt::Debug>() {}
fn is_chan_end<C: ChanEnd<Item = I>, I>() {}

#[test]
fn channel_signatures_match_the_contract() {
    let buffered: fn(usize) -> io::Result<(Chan<String>, Chan<String>)> = chmake_buffered::<String>;
    let shared: fn(usize) -> io::Result<(SharedChan<String>, SharedChan<String>)> =
        chmake_shared::<String>;
    let send: fn(&SharedChan<String>, String, i64) -> io::Result<()> = SharedChan::<String>::send;
    let recv: fn(&SharedChan<String>, i64) -> io::Result<String> = SharedChan::<String>::recv;
    let done: fn(&SharedChan<String>) -> io::Result<()> = SharedChan::<String>::done;
    let run: fn(fn() -> u32, i64) -> io::Result<u32> = blocking::<fn() -> u32, u32>;
    let is_done = |c: &Clause<'_>| -> bool { c.is_done() };
    is_send_sync_clone_debug::<SharedChan<String>>();
    is_chan_end::<Chan<u8>, u8>();
    is_chan_end::<SharedChan<u8>, u8>();

    let (a, b) = buffered(1).unwrap();
    a.send("x".into(), 0).unwrap();
    assert_eq!(b.recv(0).unwrap(), "x");
    let (c, d) = shared(1).unwrap();
    send(&c, "y".into(), 0).unwrap();
    assert_eq!(recv(&d, 0).unwrap(), "y");
    done(&c).unwrap();
    assert_eq!(run(|| 5, -1).unwrap(), 5);

    let (s, _s_peer) = chmake_shared::<u8>(1).unwrap();
    let (l, _l_peer) = chmake::<u8>().unwrap();
    let (mut v, mut w) = (Some(1), None);
    let mut clauses = [send_clause(&s, &mut v), recv_clause(&l, &mut w)];
    fn send_clause<'a>(c: &'a SharedChan<u8>, v: &'a mut Option<u8>) -> Clause<'a> {
        let f: fn(&'a SharedChan<u8>, &'a mut Option<u8>) -> Clause<'a> =
            Clause::<'a>::send::<SharedChan<u8>>;
        f(c, v)
    }
    fn recv_clause<'a>(c: &'a Chan<u8>, v: &'a mut Option<u8>) -> Clause<'a> {
        let f: fn(&'a Chan<u8>, &'a mut Option<u8>) -> Clause<'a> = Clause::<'a>::recv::<Chan<u8>>;
        f(c, v)
    }
    assert_eq!(choose(&mut clauses, 0).unwrap(), 0);
    assert!(!is_done(&clauses[0]));
}
