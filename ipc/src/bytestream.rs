//! [`ByteStream`] for [`IpcStream`].

use std::io::{self, IoSlice, IoSliceMut};

use dill_runtime::ByteStream;

use crate::stream::IpcStream;

impl ByteStream for IpcStream<'_> {
    fn bsendl(&mut self, bufs: &[IoSlice<'_>], deadline: i64) -> io::Result<()> {
        self.send_all_vectored(bufs, deadline)
    }

    fn brecvl(&mut self, bufs: &mut [IoSliceMut<'_>], deadline: i64) -> io::Result<()> {
        self.recv_all_vectored(bufs, deadline)
    }

    fn bsend(&mut self, buf: &[u8], deadline: i64) -> io::Result<()> {
        self.send_all(buf, deadline)
    }

    fn brecv(&mut self, buf: &mut [u8], deadline: i64) -> io::Result<()> {
        self.recv_all(buf, deadline)
    }
}
