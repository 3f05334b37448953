//! `Clause::is_done`: after `choose` fails with EPIPE, exactly the clause
//! that met the done or dropped channel says so.

use dill::errno::{EPIPE, ETIMEDOUT};
use dill::{chmake, chmake_buffered, chmake_shared, choose, go, Clause};

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn immediate_epipe_names_its_clause() {
    let (a, _a_peer) = chmake::<u32>().unwrap();
    let (b, b_peer) = chmake::<u32>().unwrap();
    b_peer.done().unwrap();
    let (mut x, mut y) = (None, None);
    let mut cl = [Clause::recv(&a, &mut x), Clause::recv(&b, &mut y)];
    assert_eq!(errno(choose(&mut cl, -1)), EPIPE);
    assert!(!cl[0].is_done());
    assert!(cl[1].is_done());
}

#[test]
fn epipe_while_waiting_names_its_clause() {
    let (a, _a_peer) = chmake::<u32>().unwrap();
    let (b, b_peer) = chmake::<u32>().unwrap();
    let (c, _c_peer) = chmake::<u32>().unwrap();
    let closer = go(move || b_peer.done().unwrap()).unwrap();
    let (mut x, mut z) = (None, Some(1));
    let mut y = None;
    let mut cl = [
        Clause::recv(&a, &mut x),
        Clause::send(&c, &mut z),
        Clause::recv(&b, &mut y),
    ];
    // The closer runs only once we block.
    assert_eq!(errno(choose(&mut cl, -1)), EPIPE);
    assert_eq!(
        cl.iter().map(|c| c.is_done()).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(z, Some(1));
    closer.join(-1).unwrap();
}

#[test]
fn dropped_peer_while_waiting_names_a_send_clause() {
    let (a, _a_peer) = chmake::<u32>().unwrap();
    let (b, b_peer) = chmake::<u32>().unwrap();
    let dropper = go(move || drop(b_peer)).unwrap();
    let (mut x, mut v) = (None, Some(5));
    let mut cl = [Clause::recv(&a, &mut x), Clause::send(&b, &mut v)];
    assert_eq!(errno(choose(&mut cl, -1)), EPIPE);
    assert!(!cl[0].is_done());
    assert!(cl[1].is_done());
    assert_eq!(v, Some(5));
    dropper.join(-1).unwrap();
}

#[test]
fn is_done_is_false_after_success_and_timeout_and_resets() {
    let (a, b) = chmake_buffered::<u32>(1).unwrap();
    let (c, c_peer) = chmake::<u32>().unwrap();
    c_peer.done().unwrap();
    let (mut x, mut y) = (None, None);
    let mut cl = [Clause::recv(&b, &mut x), Clause::recv(&c, &mut y)];
    assert_eq!(errno(choose(&mut cl, -1)), EPIPE);
    assert!(cl[1].is_done());
    // The same clauses again, now with a value buffered: success clears it.
    a.send(7, 0).unwrap();
    assert_eq!(choose(&mut cl, -1).unwrap(), 0);
    assert!(!cl[0].is_done() && !cl[1].is_done());
    let mut z = None;
    let mut cl = [Clause::recv(&b, &mut z)];
    assert_eq!(errno(choose(&mut cl, 0)), ETIMEDOUT);
    assert!(!cl[0].is_done());
}

#[test]
fn shared_channel_epipe_names_its_clause() {
    let (a, _a_peer) = chmake::<u32>().unwrap();
    let (s, s_peer) = chmake_shared::<u32>(0).unwrap();
    let t = std::thread::spawn(move || s_peer.done().unwrap());
    let (mut x, mut y) = (None, None);
    let mut cl = [Clause::recv(&a, &mut x), Clause::recv(&s, &mut y)];
    assert_eq!(errno(choose(&mut cl, -1)), EPIPE);
    assert!(!cl[0].is_done());
    assert!(cl[1].is_done());
    t.join().unwrap();
}
