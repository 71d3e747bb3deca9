//! [`CancellationToken`]: a flag another thread raises to stop calls.
//!
//! Raising the flag is not enough for a call blocked in a read: nothing
//! would look at it until the next byte arrives. So while a call waits on a
//! socket it registers an [`Interrupt`] with the token (the `http` layer's
//! socket shutdown), and [`CancellationToken::cancel`] runs every registered
//! interrupt at once. Backoff sleeps wait on the token's condition variable,
//! which `cancel` also wakes. This module knows nothing of sockets or HTTP.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A switch that stops every call made through
/// [`Client::with_cancellation`](crate::Client::with_cancellation).
///
/// Clones share one state: cancel any clone, from any thread, and every
/// call watching any clone stops within a fraction of a second, whatever it
/// is waiting for. A cancelled call returns an [`ErrorKind::Cancelled`]
/// error that carries what a stream had delivered ([`Error::partial`]).
/// Cancelling is permanent: a cancelled token stays cancelled, and a call
/// started with it sends nothing. Use a new token for the next call.
///
/// [`ErrorKind::Cancelled`]: crate::ErrorKind::Cancelled
/// [`Error::partial`]: crate::Error::partial
///
/// ```
/// use chatstream::CancellationToken;
///
/// let token = CancellationToken::new();
/// let stop = token.clone(); // hand this one to the UI thread
/// assert!(!token.is_cancelled());
/// stop.cancel();
/// stop.cancel(); // idempotent
/// assert!(token.is_cancelled());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
#[derive(Clone, Default)]
pub struct CancellationToken {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    cancelled: AtomicBool,
    /// Interrupts of the waits in progress, by registration id.
    waits: Mutex<Waits>,
    /// Woken by `cancel`, for sleepers in [`CancellationToken::sleep`].
    woken: Condvar,
}

#[derive(Default)]
struct Waits {
    next_id: u64,
    interrupts: Vec<(u64, Arc<dyn Interrupt>)>,
}

/// Wakes one blocked wait (e.g. by shutting its socket down). Runs on the
/// thread that calls [`CancellationToken::cancel`], so it must not block.
pub(crate) trait Interrupt: Send + Sync {
    fn interrupt(&self);
}

/// Keeps an [`Interrupt`] registered until dropped.
#[must_use = "the interrupt is unregistered when this is dropped"]
pub(crate) struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
}

impl CancellationToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every call watching this token (or any of its clones): a
    /// blocked read or connection wait is woken at once, a backoff sleep
    /// ends, and the connection is closed, never reused. Later calls with
    /// this token fail before sending anything. Never blocks on I/O.
    pub fn cancel(&self) {
        if self.shared.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        // Taken under the lock, run outside it: an interrupt may take its
        // time (a system call), and registrations must not wait for it.
        let interrupts = std::mem::take(&mut self.shared.lock().interrupts);
        self.shared.woken.notify_all();
        for (_, interrupt) in interrupts {
            interrupt.interrupt();
        }
    }

    /// Whether [`cancel`](Self::cancel) has been called on this token or a
    /// clone.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Registers `interrupt` to run on cancellation for as long as the
    /// returned guard lives. `None` when the token is already cancelled (the
    /// caller must not start waiting).
    pub(crate) fn register(&self, interrupt: Arc<dyn Interrupt>) -> Option<Registration<'_>> {
        let mut waits = self.shared.lock();
        // Checked under the lock that `cancel` takes after raising the flag:
        // either this sees the flag, or `cancel` sees this registration.
        if self.is_cancelled() {
            return None;
        }
        let id = waits.next_id;
        waits.next_id += 1;
        waits.interrupts.push((id, interrupt));
        Some(Registration {
            shared: &self.shared,
            id,
        })
    }

    /// Sleeps for `duration` or until cancelled, whichever comes first;
    /// returns true when cancelled.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now().checked_add(duration);
        let mut waits = self.shared.lock();
        loop {
            if self.is_cancelled() {
                return true;
            }
            let left = match deadline {
                Some(at) => at.saturating_duration_since(Instant::now()),
                // Too far to represent: as good as forever.
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            waits = self
                .shared
                .woken
                .wait_timeout(waits, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Waits> {
        // An interrupt never runs under this lock, so a poisoned lock only
        // means a panic elsewhere; the list itself is always consistent.
        self.waits.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut waits = self.shared.lock();
        if let Some(i) = waits.interrupts.iter().position(|(id, _)| *id == self.id) {
            waits.interrupts.swap_remove(i);
        }
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Interrupt for Count {
        fn interrupt(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn clones_share_one_permanent_state() {
        let token = CancellationToken::new();
        let clone = token.clone();
        assert!(!clone.is_cancelled());
        token.cancel();
        token.cancel();
        assert!(clone.is_cancelled() && token.is_cancelled());
        assert_eq!(
            format!("{clone:?}"),
            "CancellationToken { cancelled: true }"
        );
    }

    #[test]
    fn registered_interrupts_run_once_and_dropped_ones_never() {
        let token = CancellationToken::new();
        let kept = Arc::new(Count::default());
        let dropped = Arc::new(Count::default());
        let _kept = token.register(kept.clone()).expect("not cancelled yet");
        drop(token.register(dropped.clone()).expect("not cancelled yet"));
        token.cancel();
        token.cancel();
        assert_eq!(kept.0.load(Ordering::SeqCst), 1);
        assert_eq!(dropped.0.load(Ordering::SeqCst), 0);
        assert!(token.register(kept.clone()).is_none(), "too late to wait");
    }

    #[test]
    fn sleep_ends_at_its_time_or_on_cancel() {
        let token = CancellationToken::new();
        assert!(!token.sleep(Duration::from_millis(1)));
        let (started, wait_started) = mpsc::channel();
        let sleeper = {
            let token = token.clone();
            std::thread::spawn(move || {
                started.send(()).unwrap();
                token.sleep(Duration::from_secs(3600))
            })
        };
        wait_started.recv().unwrap();
        token.cancel();
        assert!(sleeper.join().unwrap(), "woken by cancel");
        assert!(token.sleep(Duration::MAX), "a cancelled token never sleeps");
    }
}
