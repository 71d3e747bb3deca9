//! The connector and transport that let a cancelled call shut its socket down, and cap a
//! stream body's waits at a tick (see the module docs of `http`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, ShutdownHandle, Transport as UreqTransport,
};

use crate::cancel::{CancellationToken, Interrupt};

/// The longest a transport read blocks before the stream body checks its
/// deadline again; bounds how late an idle or total stream timeout fires.
const READ_TICK: Duration = Duration::from_millis(250);
thread_local! {
    /// True while a [`StreamBody`] reads on this thread: [`WatchedTransport`]
    /// then caps each wait for input at [`READ_TICK`].
    static TICKING: Cell<bool> = const { Cell::new(false) };
    /// The token of the call doing I/O on this thread, if it has one: every
    /// wait of a [`WatchedTransport`] registers its socket with it.
    static WATCHED: RefCell<Option<CancellationToken>> = const { RefCell::new(None) };
}

/// Marks this thread as reading a stream body until dropped (also on
/// unwinding, so a panicking callback cannot leave the flag set).
pub(super) struct Ticking;

impl Ticking {
    pub(super) fn start() -> Self {
        TICKING.with(|t| t.set(true));
        Self
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        TICKING.with(|t| t.set(false));
    }
}

/// Sets the token watched by the I/O on this thread until dropped
/// (restoring the previous one, also on unwinding).
pub(super) struct Watching {
    previous: Option<CancellationToken>,
}

impl Watching {
    pub(super) fn start(token: Option<&CancellationToken>) -> Self {
        let previous = WATCHED.with(|w| w.replace(token.cloned()));
        Self { previous }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let previous = self.previous.take();
        WATCHED.with(|w| *w.borrow_mut() = previous);
    }
}

/// The error a watched wait returns when its call is cancelled; the layer
/// above sees the token and reports [`ErrorKind::Cancelled`] instead.
fn cancelled_io() -> ureq::Error {
    ureq::Error::Io(io::Error::other("cancelled"))
}

/// The connector chain: ureq's default (proxy, TCP, TLS), with every
/// connection wrapped in a [`WatchedTransport`] that holds a handle to shut
/// its socket down.
#[derive(Debug)]
pub(super) struct WatchingConnector<C>(pub(super) Arc<C>);

/// What a connection attempt on another thread hands back.
type Connected = Result<Option<Box<dyn UreqTransport>>, ureq::Error>;

impl<C: Connector<Out = Box<dyn UreqTransport>>> Connector<()> for WatchingConnector<C> {
    type Out = WatchedTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<WatchedTransport>, ureq::Error> {
        let socket = Arc::new(Socket::default());
        // ureq hands the connector chain a callback through which the
        // connector that opens the socket registers a shutdown handle, right
        // after connecting and before any TLS or proxy handshake. Passing it
        // on wrapped keeps that handle for this connection too.
        let register = details.register_shutdown.clone();
        let slot = socket.clone();
        let details = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: Arc::new(move |handle: Weak<dyn ShutdownHandle>| {
                register(handle.clone())?;
                // False when the call was cancelled while connecting: stop
                // before the handshake.
                if slot.set(handle) {
                    Ok(())
                } else {
                    Err(cancelled_io())
                }
            }),
        };
        let token = WATCHED.with(|w| w.borrow().clone());
        let connected = match &token {
            None => self.0.connect(&details, chained)?,
            Some(token) => {
                // Cancelling during the handshake shuts the socket down.
                let _registration = token.register(socket.clone()).ok_or_else(cancelled_io)?;
                self.connect_apart(&details, chained, token)?
            }
        };
        Ok(connected.map(|inner| WatchedTransport { inner, socket }))
    }
}

impl<C: Connector<Out = Box<dyn UreqTransport>>> WatchingConnector<C> {
    /// Connects on a thread of its own, so that a cancelled call need not
    /// wait for a TCP connect, which nothing can wake without `unsafe` code
    /// (no handle to the socket exists before it is connected). The thread
    /// goes on alone after a cancel: its socket is marked killed, so it
    /// stops as soon as the connect ends, bounded by the connect timeout.
    fn connect_apart(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<()>,
        token: &CancellationToken,
    ) -> Connected {
        let handoff = Arc::new(Handoff::default());
        let _registration = token.register(handoff.clone()).ok_or_else(cancelled_io)?;
        let connector = self.0.clone();
        let (uri, addrs, config) = (
            details.uri.clone(),
            details.addrs.clone(),
            details.config.clone(),
        );
        let (request_level, now, timeout) = (details.request_level, details.now, details.timeout);
        let current_time = details.current_time.clone();
        let run_connector = details.run_connector.clone();
        let register_shutdown = details.register_shutdown.clone();
        let result = handoff.clone();
        let spawned = std::thread::Builder::new()
            .name("chatstream-connect".into())
            .spawn(move || {
                let mut courier = Courier(result, None);
                // The agent's resolver is ureq's default one too; it only
                // serves proxies here, as the target is resolved already.
                let resolver = ureq::unversioned::resolver::DefaultResolver::default();
                let details = ConnectionDetails {
                    uri: &uri,
                    addrs,
                    config: &config,
                    request_level,
                    resolver: &resolver,
                    now,
                    timeout,
                    current_time,
                    run_connector,
                    register_shutdown,
                };
                courier.1 = Some(connector.connect(&details, chained));
            });
        if spawned.is_err() {
            // No thread to spare: connect here, as without a token.
            return self.0.connect(details, chained);
        }
        handoff.wait()
    }
}

/// Carries a connection from the thread that made it to the call waiting
/// for it, or wakes the call when it is cancelled first.
#[derive(Default)]
struct Handoff {
    state: Mutex<(Option<Connected>, bool)>,
    changed: std::sync::Condvar,
}

impl Handoff {
    fn deliver(&self, connected: Connected) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = Some(connected);
        self.changed.notify_all();
    }

    /// The connection, or a cancellation error as soon as the call is
    /// cancelled.
    fn wait(&self) -> Connected {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.1 {
                return Err(cancelled_io());
            }
            if let Some(connected) = state.0.take() {
                return connected;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Delivers the connection thread's result when dropped, so the waiting
/// call is answered even if connecting panicked.
struct Courier(Arc<Handoff>, Option<Connected>);

impl Drop for Courier {
    fn drop(&mut self) {
        let connected = self.1.take().unwrap_or(Err(ureq::Error::ConnectionFailed));
        self.0.deliver(connected);
    }
}

impl Interrupt for Handoff {
    fn interrupt(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1 = true;
        self.changed.notify_all();
    }
}

/// One connection's socket, as far as cancelling is concerned.
#[derive(Default)]
struct Socket {
    /// Set once the socket exists.
    handle: Mutex<Option<Weak<dyn ShutdownHandle>>>,
    /// Shut down by a cancelled call: never to be reused.
    killed: AtomicBool,
}

impl Socket {
    /// Keeps the socket's handle; false (and the socket shut down) when a
    /// cancellation came first.
    fn set(&self, handle: Weak<dyn ShutdownHandle>) -> bool {
        let mut slot = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        if self.killed.load(Ordering::SeqCst) {
            if let Some(h) = handle.upgrade() {
                h.shutdown();
            }
            return false;
        }
        *slot = Some(handle);
        true
    }
}

impl Interrupt for Socket {
    fn interrupt(&self) {
        // Under the lock `set` takes, so a socket that appears after this
        // is shut down by `set`.
        let slot = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        self.killed.store(true, Ordering::SeqCst);
        if let Some(h) = slot.as_ref().and_then(Weak::upgrade) {
            h.shutdown();
        }
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("killed", &self.killed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

/// A connection as the calls see it. While [`TICKING`] is set on the
/// reading thread, each wait for input lasts at most [`READ_TICK`]
/// (reported to ureq as a per-read timeout, which leaves the connection
/// usable). While a token is [`WATCHED`], each wait registers the socket
/// with it, so `cancel` shuts the socket down and the wait returns at once;
/// a socket shut down that way is never reused. Everything else is passed
/// through unchanged.
#[derive(Debug)]
pub(super) struct WatchedTransport {
    inner: Box<dyn UreqTransport>,
    socket: Arc<Socket>,
}

impl WatchedTransport {
    /// Runs one wait with the socket registered with the watched token.
    fn watched<T>(
        &mut self,
        wait: impl FnOnce(&mut dyn UreqTransport) -> Result<T, ureq::Error>,
    ) -> Result<T, ureq::Error> {
        let token = WATCHED.with(|w| w.borrow().clone());
        let _registration = match &token {
            Some(token) => Some(
                token
                    .register(self.socket.clone())
                    .ok_or_else(cancelled_io)?,
            ),
            None => None,
        };
        wait(&mut *self.inner)
    }
}

impl UreqTransport for WatchedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.watched(|inner| inner.transmit_output(amount, timeout))
    }

    fn await_input(&mut self, mut timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if TICKING.with(Cell::get) {
            let tick = READ_TICK.into();
            timeout.per_read = Some(timeout.per_read.map_or(tick, |d| d.min(tick)));
        }
        self.watched(|inner| inner.await_input(timeout))
    }

    fn is_open(&mut self) -> bool {
        !self.socket.killed.load(Ordering::SeqCst) && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
