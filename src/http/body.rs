//! The streaming body the SSE parser reads, with the deadlines the stream layer sets.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::watch::{Ticking, Watching};
use super::{Mode, map_ureq_error};
use crate::cancel::CancellationToken;
use crate::error::{Error, Timeout};

/// A streaming response body whose reads stop at a deadline.
///
/// A failed read's [`io::Error`] carries the typed [`Error`] inside (made
/// with `io::Error::from`), so the stream layer gets it back intact with
/// `io::Error::downcast`.
pub(crate) struct StreamBody {
    pub(super) reader: ureq::BodyReader<'static>,
    pub(super) deadline: Option<(Instant, Timeout)>,
    pub(super) cancel: Option<CancellationToken>,
}

impl StreamBody {
    /// From now on, a read that has waited past `at` fails with `which`.
    pub(crate) fn set_deadline(&mut self, deadline: Option<(Instant, Timeout)>) {
        self.deadline = deadline;
    }

    /// Reads the rest of the body so the connection can go back to the
    /// pool, but never more than `max_bytes` or for longer than `max_time`:
    /// a server that keeps the connection open after the end of the stream
    /// is not waited for (the connection is closed instead).
    pub(crate) fn drain(mut self, max_bytes: usize, max_time: Duration) {
        self.deadline = Some((Instant::now() + max_time, Timeout::StreamTotal));
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total <= max_bytes {
            match self.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    }

    /// Whether the call this body belongs to was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }
}

impl Read for StreamBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.is_cancelled() {
                return Err(Error::cancelled().into());
            }
            // Checked before every read, not only after a quiet tick: bytes
            // that keep arriving (keep-alive comments) must not postpone it.
            if let Some((_, which)) = self.deadline.filter(|(at, _)| Instant::now() >= *at) {
                return Err(Error::timeout_of(which).into());
            }
            let result = {
                let _ticking = Ticking::start();
                let _watching = Watching::start(self.cancel.as_ref());
                self.reader.read(buf)
            };
            // Whatever the read returned: a socket shut down by `cancel` may
            // look like the end of the body.
            if self.is_cancelled() {
                return Err(Error::cancelled().into());
            }
            match result {
                Ok(n) => return Ok(n),
                Err(e) => {
                    let err = ureq::Error::from(e);
                    if let ureq::Error::Timeout(ureq::Timeout::PerRead) = err {
                        continue;
                    }
                    let typed = match err {
                        ureq::Error::Io(io)
                            if matches!(
                                io.kind(),
                                io::ErrorKind::UnexpectedEof
                                    | io::ErrorKind::ConnectionReset
                                    | io::ErrorKind::ConnectionAborted
                                    | io::ErrorKind::BrokenPipe
                            ) =>
                        {
                            Error::io("the connection closed mid-stream").with_source(io)
                        }
                        other => map_ureq_error(other, Mode::Stream),
                    };
                    return Err(typed.into());
                }
            }
        }
    }
}
