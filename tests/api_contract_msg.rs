//! The Messages section of the public contract (API.md) pinned down: every
//! item coerced to the exact signature the contract gives.

#![allow(clippy::type_complexity)]

use std::io::{self, IoSlice, IoSliceMut};

use dill::*;

fn is_debug<T: std::fmt::Debug>() {}
fn is_msg_stream<T: MsgStream>() {}

type Ipc = IpcStream<'static>;

#[test]
fn message_signatures_match_the_contract() {
    let _: fn(&mut PrefixStream<Ipc>, &[u8], i64) -> io::Result<()> = msend::<PrefixStream<Ipc>>;
    let _: fn(&mut PrefixStream<Ipc>, &mut [u8], i64) -> io::Result<usize> =
        mrecv::<PrefixStream<Ipc>>;
    let _: fn(&mut SuffixStream<Ipc>, &[IoSlice<'_>], i64) -> io::Result<()> =
        msendl::<SuffixStream<Ipc>>;
    let _: fn(&mut SuffixStream<Ipc>, &mut [IoSliceMut<'_>], i64) -> io::Result<usize> =
        mrecvl::<SuffixStream<Ipc>>;
    // Through a trait object too (`?Sized`).
    let _: fn(&mut (dyn MsgStream + 'static), &[u8], i64) -> io::Result<()> =
        msend::<dyn MsgStream>;

    assert_eq!(PREFIX_BIG_ENDIAN, 0u32);
    assert_eq!(PREFIX_LITTLE_ENDIAN, 1u32);
    let _: fn(Ipc, usize, u32) -> io::Result<PrefixStream<Ipc>> = prefix_attach::<Ipc>;
    let _: fn(PrefixStream<Ipc>) -> io::Result<Ipc> = PrefixStream::<Ipc>::detach;
    let _: fn(Ipc, &[u8]) -> io::Result<SuffixStream<Ipc>> = suffix_attach::<Ipc>;
    let _: fn(SuffixStream<Ipc>, i64) -> io::Result<Ipc> = SuffixStream::<Ipc>::detach;
    let _: fn(PrefixStream<Ipc>, &[u8]) -> io::Result<TermStream<PrefixStream<Ipc>>> =
        term_attach::<PrefixStream<Ipc>>;
    let _: fn(&mut TermStream<PrefixStream<Ipc>>, i64) -> io::Result<()> =
        term_done::<PrefixStream<Ipc>>;
    let _: fn(TermStream<PrefixStream<Ipc>>, i64) -> io::Result<PrefixStream<Ipc>> =
        TermStream::<PrefixStream<Ipc>>::detach;

    is_msg_stream::<PrefixStream<Ipc>>();
    is_msg_stream::<SuffixStream<Ipc>>();
    is_msg_stream::<TermStream<PrefixStream<Ipc>>>();
    is_msg_stream::<TermStream<SuffixStream<Ipc>>>();
    is_debug::<PrefixStream<Ipc>>();
    is_debug::<SuffixStream<Ipc>>();
    is_debug::<TermStream<SuffixStream<Ipc>>>();
}

#[test]
fn layers_keep_their_state_inline() {
    use std::mem::size_of;
    // A few bytes beside the stream below: no pointer to a heap block.
    assert!(size_of::<PrefixStream<Ipc>>() <= size_of::<Ipc>() + 8);
    assert!(size_of::<SuffixStream<Ipc>>() <= size_of::<Ipc>() + 72);
    assert!(size_of::<TermStream<Ipc>>() <= size_of::<Ipc>() + 40);
}

#[test]
fn the_stream_below_can_be_looked_at() {
    let _: fn(&PrefixStream<Ipc>) -> &Ipc = PrefixStream::<Ipc>::get_ref;
    let _: fn(&SuffixStream<Ipc>) -> &Ipc = SuffixStream::<Ipc>::get_ref;
    let _: fn(&TermStream<PrefixStream<Ipc>>) -> &PrefixStream<Ipc> =
        TermStream::<PrefixStream<Ipc>>::get_ref;
    let (a, _b) = ipc_pair().unwrap();
    let t = term_attach(prefix_attach(a, 2, PREFIX_BIG_ENDIAN).unwrap(), b"END").unwrap();
    let cred = t.get_ref().get_ref().peer_cred().unwrap();
    assert_eq!(cred.uid, my_uid());
}

/// This process's uid, read from /proc (no libc call needed).
fn my_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
