//! The "Seeing inside" part of the public contract (API.md), coerced to the
//! exact signatures, plus the additions (signal dump, stall detector,
//! counters) as documented in their man pages.

// Spelling the signatures out in full is the point of this file.
#![allow(clippy::type_complexity)]

use std::io;
use std::panic::Location;

use dill::*;

fn is_debug<T: std::fmt::Debug>() {}

#[test]
fn seeing_inside_signatures() {
    let _: fn() -> Builder = Builder::new;
    let _: fn(Builder, &str) -> Builder = Builder::name;
    let _: fn(Builder, usize) -> Builder = Builder::stack_size;
    let _: fn(Builder, fn() -> u8) -> io::Result<Coroutine<u8>> = Builder::go::<fn() -> u8, u8>;
    let _: fn(Builder, &Bundle, fn()) -> io::Result<()> = Builder::go_in::<fn()>;
    let list: fn() -> Vec<CoroutineInfo> = coroutines;
    let _: fn(&CoroutineInfo) -> u64 = CoroutineInfo::id;
    let _: for<'a> fn(&'a CoroutineInfo) -> Option<&'a str> = CoroutineInfo::name;
    let _: fn(&CoroutineInfo) -> &'static Location<'static> = CoroutineInfo::spawned_at;
    let _: fn(&CoroutineInfo) -> State = CoroutineInfo::state;
    let _: fn(&CoroutineInfo) -> i64 = CoroutineInfo::waiting_ms;
    let d: fn() -> String = dump;
    let _: fn(i32) -> io::Result<()> = dump_on_signal;
    let _: fn() -> io::Result<()> = dump_on_sigquit;
    let stall: fn(i64) -> io::Result<()> = stall_detector;
    let count: fn() -> Counters = counters;
    let _: fn(&Coroutine<u8>) -> u64 = Coroutine::<u8>::id;
    let _ = |s: State| match s {
        State::Running | State::Ready | State::Starting => 0,
        State::Waiting { on, deadline } => match on {
            Wait::FdIn(fd) | Wait::FdOut(fd) => fd as i64 + deadline,
            Wait::Choose(n) => n as i64,
            Wait::Join(id) => id as i64,
            Wait::Sleep | Wait::Recv | Wait::Send | Wait::Bundle | Wait::Blocking => 1,
            _ => 2,
        },
        _ => 3,
    };
    let _ = Counters::default().stacks_cached;
    is_debug::<Builder>();
    is_debug::<CoroutineInfo>();
    is_debug::<State>();
    is_debug::<Wait>();
    is_debug::<Counters>();

    // Exercise them.
    let c = Builder::new()
        .name("x")
        .stack_size(32 * 1024)
        .go(|| msleep(-1))
        .unwrap();
    let info = list().into_iter().find(|i| i.name() == Some("x")).unwrap();
    assert_eq!(
        format!("{:?}", info.state()),
        "Waiting { on: Sleep, deadline: -1 }"
    );
    assert!(d().contains("\"x\""));
    assert_eq!(count().coroutines, 1);
    assert!(stall(-5).is_err());
    drop(c);
}
