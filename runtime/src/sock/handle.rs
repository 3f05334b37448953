//! The handle types a socket family wraps around a [`Stream`](super::Stream):
//! one macro, [`stream_handles!`](crate::stream_handles), so that every
//! family (IPC, TCP) gets the same split halves and the same trait impls
//! from one definition.

/// Defines a family's split halves and the trait impls of its stream
/// handles over the shared core [`Stream`](crate::sock::Stream).
///
/// For crates that implement socket families on the runtime, not for
/// applications. The family declares its stream type itself, as a struct
/// with a field `core: Stream<'m>`, and then writes:
///
/// ```text
/// stream_handles! {
///     /// docs of the connection memory
///     mem: IpcMem, "IpcMem";
///     stream: IpcStream, "IpcStream";
///     /// docs of the receiving half
///     read: IpcReadHalf, "IpcReadHalf";
///     /// docs of the sending half
///     write: IpcWriteHalf, "IpcWriteHalf";
///     /// docs of `IpcWriteHalf::done`
///     done;
///     /// docs of `IpcStream::split`
///     split;
///     /// docs of `IpcStream::unsplit`
///     unsplit;
///     hook: crate::link::poll;   // optional
/// }
/// ```
///
/// This defines the connection memory (a newtype over
/// [`StreamMem`](crate::sock::StreamMem) with `new` and `Debug`), the
/// stream's constructors `in_mem` and `in_slot` (crate-private), the two
/// half types (each with a private `core` field),
/// `done` on the sending half, `split` and `unsplit` on the stream, and for
/// the stream and both halves, as well as for shared references to them:
/// [`ByteStream`](crate::ByteStream) (inlined: it is the hot path), and
/// `io::Read` (stream and receiving half) or `io::Write` (stream and
/// sending half) blocking without a deadline; for the three types
/// themselves `AsRawFd`, `AsFd` and `Debug` (named by the given labels);
/// for the stream `IntoRawFd` and `From<stream> for OwnedFd`, which take
/// the descriptor back out.
///
/// The optional `hook` is a function `fn(&Stream<'_>)` called at the start
/// of every send and receive, before the core runs (TCP uses it to link
/// same-thread loopback peers).
#[macro_export]
#[doc(hidden)]
macro_rules! stream_handles {
    (
        $(#[$mmeta:meta])*
        mem: $mem:ident, $mlabel:literal;
        stream: $stream:ident, $slabel:literal;
        $(#[$rmeta:meta])*
        read: $read:ident, $rlabel:literal;
        $(#[$wmeta:meta])*
        write: $write:ident, $wlabel:literal;
        $(#[$dmeta:meta])*
        done;
        $(#[$smeta:meta])*
        split;
        $(#[$umeta:meta])*
        unsplit;
        $(hook: $hook:path;)?
    ) => {
        $(#[$mmeta])*
        #[derive(Default)]
        pub struct $mem {
            pub(crate) core: $crate::sock::StreamMem,
        }

        impl $mem {
            /// Fresh, unused connection memory.
            pub const fn new() -> $mem {
                $mem {
                    core: $crate::sock::StreamMem::new(),
                }
            }
        }

        impl ::std::fmt::Debug for $mem {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple($mlabel).field(&self.core).finish()
            }
        }

        impl<'m> $stream<'m> {
            /// Builds a stream for the connected socket `fd` in caller memory.
            pub(crate) fn in_mem(mem: &'m mut $mem, fd: ::std::os::fd::OwnedFd) -> $stream<'m> {
                $stream {
                    core: $crate::sock::Stream::in_mem(&mut mem.core, fd),
                }
            }
        }

        impl $stream<'static> {
            /// Builds a stream for `fd` in a heap slot obtained by the caller:
            /// the stream owns the slot and frees it when dropped.
            pub(crate) fn in_slot(
                slot: $crate::sock::HeapSlot<$crate::sock::StreamMem>,
                fd: ::std::os::fd::OwnedFd,
            ) -> $stream<'static> {
                $stream {
                    core: $crate::sock::Stream::in_slot(slot, fd),
                }
            }
        }

        $(#[$rmeta])*
        pub struct $read<'m> {
            core: $crate::sock::Stream<'m>,
        }

        $(#[$wmeta])*
        pub struct $write<'m> {
            core: $crate::sock::Stream<'m>,
        }

        impl $write<'_> {
            $(#[$dmeta])*
            pub fn done(&self, deadline: i64) -> ::std::io::Result<()> {
                self.core.done(deadline)
            }
        }

        impl<'m> $stream<'m> {
            $(#[$smeta])*
            pub fn split(self) -> ($read<'m>, $write<'m>) {
                let (r, w) = self.core.split();
                ($read { core: r }, $write { core: w })
            }

            $(#[$umeta])*
            #[allow(clippy::result_large_err)]
            pub fn unsplit(
                r: $read<'m>,
                w: $write<'m>,
            ) -> ::std::result::Result<$stream<'m>, ($read<'m>, $write<'m>)> {
                match $crate::sock::Stream::unsplit(r.core, w.core) {
                    Ok(core) => Ok($stream { core }),
                    Err((r, w)) => Err(($read { core: r }, $write { core: w })),
                }
            }
        }

        /// Takes the descriptor back out of the stream: the runtime forgets it and
        /// the caller owns the open socket. Nothing is sent or closed.
        impl ::std::os::fd::IntoRawFd for $stream<'_> {
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                ::std::os::fd::IntoRawFd::into_raw_fd(self.core.into_fd())
            }
        }

        /// Takes the descriptor back out of the stream, as
        /// [`IntoRawFd`](std::os::fd::IntoRawFd).
        impl ::std::convert::From<$stream<'_>> for ::std::os::fd::OwnedFd {
            fn from(s: $stream<'_>) -> ::std::os::fd::OwnedFd {
                s.core.into_fd()
            }
        }

        $crate::stream_handles!(@common $stream, $slabel, [$($hook)?]);
        $crate::stream_handles!(@common $read, $rlabel, [$($hook)?]);
        $crate::stream_handles!(@common $write, $wlabel, [$($hook)?]);
        $crate::stream_handles!(@read $stream, [$($hook)?]);
        $crate::stream_handles!(@read $read, [$($hook)?]);
        $crate::stream_handles!(@write $stream, [$($hook)?]);
        $crate::stream_handles!(@write $write, [$($hook)?]);
    };

    // `ByteStream` for the type and for shared references to it; `AsRawFd`,
    // `AsFd` and `Debug` for the type.
    (@common $name:ident, $label:literal, [$($hook:path)?]) => {
        $crate::stream_handles!(@bytestream $name<'_>, [$($hook)?]);
        $crate::stream_handles!(
            /// Through a shared reference, so that a receiving and a sending
            /// coroutine can share one handle (a second concurrent receiver or
            /// sender gets `EBUSY`).
            @bytestream &$name<'_>, [$($hook)?]
        );

        impl ::std::os::fd::AsRawFd for $name<'_> {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                self.core.fd()
            }
        }

        impl ::std::os::fd::AsFd for $name<'_> {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                // SAFETY: the descriptor stays open for as long as `self` is
                // borrowed (it is closed only when the last handle drops).
                unsafe { ::std::os::fd::BorrowedFd::borrow_raw(self.core.fd()) }
            }
        }

        impl ::std::fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut d = f.debug_struct($label);
                self.core.debug_fields(&mut d);
                d.finish()
            }
        }
    };

    ($(#[$m:meta])* @bytestream $ty:ty, [$($hook:path)?]) => {
        $(#[$m])*
        impl $crate::ByteStream for $ty {
            #[inline]
            fn bsendl(
                &mut self,
                bufs: &[::std::io::IoSlice<'_>],
                deadline: i64,
            ) -> ::std::io::Result<()> {
                $($hook(&self.core);)?
                self.core.send_all_vectored(bufs, deadline)
            }
            #[inline]
            fn brecvl(
                &mut self,
                bufs: &mut [::std::io::IoSliceMut<'_>],
                deadline: i64,
            ) -> ::std::io::Result<()> {
                $($hook(&self.core);)?
                self.core.recv_all_vectored(bufs, deadline)
            }
            #[inline]
            fn bsend(&mut self, buf: &[u8], deadline: i64) -> ::std::io::Result<()> {
                $($hook(&self.core);)?
                self.core.send_all(buf, deadline)
            }
            #[inline]
            fn brecv(&mut self, buf: &mut [u8], deadline: i64) -> ::std::io::Result<()> {
                $($hook(&self.core);)?
                self.core.recv_all(buf, deadline)
            }
        }
    };

    // `io::Read` for the type and a shared reference to it: blocks without
    // a deadline and returns as soon as some bytes are available; `Ok(0)`
    // means the peer has finished sending.
    (@read $name:ident, [$($hook:path)?]) => {
        $crate::stream_handles!(@read1 $name<'_>, [$($hook)?]);
        $crate::stream_handles!(@read1 &$name<'_>, [$($hook)?]);
    };
    (@read1 $ty:ty, [$($hook:path)?]) => {
        impl ::std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                $($hook(&self.core);)?
                self.core.read_some(buf)
            }
        }
    };

    // `io::Write` for the type and a shared reference to it: blocks without
    // a deadline and returns once at least one byte has been handed to the
    // kernel; `write_vectored` gathers the buffers into one send. `flush`
    // does nothing: there is no user-space buffer.
    (@write $name:ident, [$($hook:path)?]) => {
        $crate::stream_handles!(@write1 $name<'_>, [$($hook)?]);
        $crate::stream_handles!(@write1 &$name<'_>, [$($hook)?]);
    };
    (@write1 $ty:ty, [$($hook:path)?]) => {
        impl ::std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                $($hook(&self.core);)?
                self.core.write_some(buf)
            }
            fn write_all(&mut self, buf: &[u8]) -> ::std::io::Result<()> {
                $($hook(&self.core);)?
                self.core.send_all(buf, -1)
            }
            fn write_vectored(
                &mut self,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::io::Result<usize> {
                $($hook(&self.core);)?
                self.core.write_some_vectored(bufs)
            }
            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }
    };
}
