//! # dill-runtime
//!
//! STUB: signatures only; the implementation lands in the next commit.
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![allow(unused_variables, missing_docs)]

use std::io;
use std::os::fd::RawFd;

pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

pub fn now() -> i64 { todo!() }
pub fn go<F, T>(f: F) -> io::Result<Coroutine<T>> where F: FnOnce() -> T + 'static, T: 'static { todo!() }
pub fn go_with_stack_size<F, T>(stack_size: usize, f: F) -> io::Result<Coroutine<T>> where F: FnOnce() -> T + 'static, T: 'static { todo!() }
#[must_use]
#[derive(Debug)]
pub struct Coroutine<T> { _p: std::marker::PhantomData<(*mut (), T)> }
impl<T> Coroutine<T> {
    pub fn join(self, deadline: i64) -> io::Result<T> { todo!() }
    pub fn is_finished(&self) -> bool { todo!() }
}
pub fn yield_now() -> io::Result<()> { todo!() }
pub fn msleep(deadline: i64) -> io::Result<()> { todo!() }
pub fn fdin(fd: RawFd, deadline: i64) -> io::Result<()> { todo!() }
pub fn fdout(fd: RawFd, deadline: i64) -> io::Result<()> { todo!() }
/// Waits for the next readiness edge (no readiness pre-check): use only right after EAGAIN.
pub fn fdin_edge(fd: RawFd, deadline: i64) -> io::Result<()> { todo!() }
pub fn fdout_edge(fd: RawFd, deadline: i64) -> io::Result<()> { todo!() }
pub fn fdclean(fd: RawFd) { todo!() }
/// Ok(()) unless the calling coroutine has been cancelled (then ECANCELED).
pub fn check_cancelled() -> io::Result<()> { todo!() }
pub fn bundle() -> io::Result<Bundle> { todo!() }
#[derive(Debug)]
pub struct Bundle { _p: std::marker::PhantomData<*mut ()> }
impl Bundle {
    pub fn go<F: FnOnce() + 'static>(&self, f: F) -> io::Result<()> { todo!() }
    pub fn wait(&self, deadline: i64) -> io::Result<()> { todo!() }
}
pub fn chmake<T: 'static>() -> io::Result<(Chan<T>, Chan<T>)> { todo!() }
#[derive(Debug)]
pub struct Chan<T> { _p: std::marker::PhantomData<(*mut (), T)> }
impl<T> Chan<T> {
    pub fn send(&self, val: T, deadline: i64) -> io::Result<()> { todo!() }
    pub fn recv(&self, deadline: i64) -> io::Result<T> { todo!() }
    pub fn done(&self) -> io::Result<()> { todo!() }
}
