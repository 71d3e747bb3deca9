//! Loopback HTTP/1.1 (and HTTPS) test server shared by all integration tests.
//!
//! * Binds `127.0.0.1:0`; one server per test, stopped (threads joined) on drop.
//! * One thread per TCP connection; keep-alive: the handler runs once per request.
//! * No sleeps: tests synchronise with [`Signal`]s; every blocking wait in here is
//!   bounded by [`WAIT_TIMEOUT`] and panics with a message instead of hanging.
//! * A panic in a handler (e.g. a failed `assert!`) closes that connection and is
//!   re-raised when the server is dropped (unless the test is already panicking).
#![allow(dead_code)]

pub mod bodies;
pub mod cpu_time;
pub mod example;
pub mod fixture;
pub mod outcome;
pub mod rng;
mod script;
mod tls;

pub use script::Script;
pub use tls::TestCert;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Bound for every blocking wait in the support code.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

const MAX_HEAD: usize = 64 * 1024;

type Handler = dyn Fn(&Request, &mut Responder) + Send + Sync + 'static;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

// ---------------------------------------------------------------------------------------
// Signal: counting, cloneable, Send + Sync; usable from handlers and from the test.
// ---------------------------------------------------------------------------------------

/// A counting signal (like a channel of `()` that handlers can capture: Clone + Sync).
///
/// `send()` never blocks and adds one permit; `wait()` consumes one, panicking after
/// [`WAIT_TIMEOUT`]. Inside a handler use [`Responder::wait`] instead so that dropping
/// the server also wakes it.
#[derive(Clone, Default)]
pub struct Signal {
    inner: Arc<SignalInner>,
}

#[derive(Default)]
struct SignalInner {
    permits: Mutex<usize>,
    cv: Condvar,
}

impl Signal {
    pub fn new() -> Signal {
        Signal::default()
    }

    /// Add one permit (wakes one `wait`).
    pub fn send(&self) {
        *lock(&self.inner.permits) += 1;
        self.inner.cv.notify_all();
    }

    /// Consume one permit, waiting up to [`WAIT_TIMEOUT`]; panics on timeout.
    #[track_caller]
    pub fn wait(&self) {
        let caller = std::panic::Location::caller();
        if !self.wait_until(None, "Signal::wait", caller) {
            unreachable!("no server to stop");
        }
    }

    /// Consume a permit if one is available, without waiting.
    pub fn try_take(&self) -> bool {
        let mut p = lock(&self.inner.permits);
        if *p > 0 {
            *p -= 1;
            true
        } else {
            false
        }
    }

    /// Returns true when a permit was consumed, false when `server` is stopping.
    fn wait_until(
        &self,
        server: Option<&Shared>,
        what: &str,
        caller: &std::panic::Location<'_>,
    ) -> bool {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        if let Some(s) = server {
            lock(&s.waiting).push(self.clone());
        }
        let mut permits = lock(&self.inner.permits);
        let result = loop {
            if *permits > 0 {
                *permits -= 1;
                break true;
            }
            if server.is_some_and(Shared::stopping) {
                break false;
            }
            let now = Instant::now();
            if now >= deadline {
                drop(permits);
                panic!(
                    "{what} (at {caller}) timed out after {WAIT_TIMEOUT:?}: \
                     the signal was never sent"
                );
            }
            permits = self
                .inner
                .cv
                .wait_timeout(permits, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        };
        drop(permits);
        if let Some(s) = server {
            let mut w = lock(&s.waiting);
            if let Some(i) = w.iter().position(|g| Arc::ptr_eq(&g.inner, &self.inner)) {
                w.swap_remove(i);
            }
        }
        result
    }
}

// ---------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------

/// One parsed request (chunked request bodies are de-chunked into `body`).
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Request target as sent, including the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// 0-based arrival order over the whole server (== `request_count()` before it).
    pub index: usize,
    /// 0-based id of the TCP connection it came on (accept order); equal ids = reuse.
    pub connection: usize,
}

impl Request {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of this header (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Body as UTF-8 (panics if it is not).
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: request body is not UTF-8: {e}",
                self.method, self.path
            )
        })
    }

    /// Body parsed as JSON (panics with the body in the message if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: request body is not JSON ({e}): {:?}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

struct Shared {
    stop: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
    /// Signals handlers are blocked on; woken when the server stops.
    waiting: Mutex<Vec<Signal>>,
    handler: Arc<Handler>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    connections: usize,
    /// Clones of live sockets, shut down on drop to unblock their threads.
    open: HashMap<usize, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Loopback HTTP/1.1 server; see the module docs. Dropping it stops it.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    accept_done: Receiver<()>,
    conn_done: Receiver<()>,
}

/// Sends on drop (also when the thread unwinds) so `Drop for TestServer` can wait
/// for threads with a timeout.
struct DoneGuard(Sender<()>);
impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

impl TestServer {
    /// Plain HTTP server; `handler` runs once per request on the connection's thread.
    pub fn start(handler: impl Fn(&Request, &mut Responder) + Send + Sync + 'static) -> TestServer {
        Self::spawn(Arc::new(handler), None)
    }

    /// HTTPS server (TLS 1.2 and 1.3, ring provider) presenting `cert`'s leaf.
    pub fn start_tls(
        cert: &TestCert,
        handler: impl Fn(&Request, &mut Responder) + Send + Sync + 'static,
    ) -> TestServer {
        Self::start_tls_versions(cert, rustls::ALL_VERSIONS, handler)
    }

    /// HTTPS server restricted to the given versions, e.g. `&[&rustls::version::TLS12]`.
    pub fn start_tls_versions(
        cert: &TestCert,
        versions: &[&'static rustls::SupportedProtocolVersion],
        handler: impl Fn(&Request, &mut Responder) + Send + Sync + 'static,
    ) -> TestServer {
        Self::spawn(Arc::new(handler), Some(cert.server_config(versions)))
    }

    /// HTTPS server presenting `cert`'s leaf that requires a client certificate signed by
    /// `clients`' root (mutual TLS).
    pub fn start_tls_requiring_client(
        cert: &TestCert,
        clients: &TestCert,
        handler: impl Fn(&Request, &mut Responder) + Send + Sync + 'static,
    ) -> TestServer {
        let config = cert.server_config_requiring_client(clients);
        Self::spawn(Arc::new(handler), Some(config))
    }

    /// Plain HTTP server answering every request with the SSE body in the returned slot at
    /// that moment: one server for tests that serve many streams one after another.
    pub fn replaying() -> (TestServer, Arc<Mutex<Vec<u8>>>) {
        let body: Arc<Mutex<Vec<u8>>> = Arc::default();
        let served = body.clone();
        let server = Self::start(move |_, r| {
            let bytes = served.lock().unwrap().clone();
            r.sse(&bytes);
        });
        (server, body)
    }

    /// Plain HTTP server answering request `i` with step `i` of the script.
    pub fn scripted(script: Script) -> TestServer {
        Self::start(script.into_handler())
    }

    fn spawn(handler: Arc<Handler>, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            waiting: Mutex::new(Vec::new()),
            handler,
            tls,
        });
        let (accept_tx, accept_done) = mpsc::channel();
        let (conn_tx, conn_done) = mpsc::channel();
        let sh = shared.clone();
        let accept = thread::Builder::new()
            .name(format!("test-server-accept-{}", addr.port()))
            .spawn(move || {
                let _done = DoneGuard(accept_tx);
                accept_loop(listener, sh, conn_tx);
            })
            .expect("spawn accept thread");
        TestServer {
            addr,
            shared,
            accept: Some(accept),
            accept_done,
            conn_done,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// `http://127.0.0.1:PORT/v1`, or `https://127.0.0.1:PORT/v1` for TLS servers
    /// (always the IP, never `localhost`, which may resolve to ::1 first; test certs
    /// carry a 127.0.0.1 IP SAN).
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin())
    }

    /// `http(s)://127.0.0.1:PORT` (no path).
    pub fn origin(&self) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    /// `origin() + path`, e.g. `url("/v1/models")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.state).requests.clone()
    }

    /// The only request received; panics if there were 0 or several.
    pub fn single_request(&self) -> Request {
        let reqs = self.requests();
        assert_eq!(reqs.len(), 1, "expected exactly one request, got {reqs:#?}");
        reqs.into_iter().next().unwrap()
    }

    /// Number of requests received (fully parsed) so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.state).requests.len()
    }

    /// Number of TCP connections accepted so far (TLS handshake failures included).
    pub fn connection_count(&self) -> usize {
        lock(&self.shared.state).connections
    }

    /// Wait (bounded) until at least `n` requests have arrived; returns them all.
    #[track_caller]
    pub fn wait_for_requests(&self, n: usize) -> Vec<Request> {
        let caller = std::panic::Location::caller();
        self.wait_state(
            |s| s.requests.len() >= n,
            || format!("wait_for_requests({n}) at {caller}"),
        )
        .requests
        .clone()
    }

    /// Wait (bounded) until at least `n` connections have been accepted.
    #[track_caller]
    pub fn wait_for_connections(&self, n: usize) {
        let caller = std::panic::Location::caller();
        drop(self.wait_state(
            |s| s.connections >= n,
            || format!("wait_for_connections({n}) at {caller}"),
        ));
    }

    fn wait_state(
        &self,
        done: impl Fn(&State) -> bool,
        what: impl Fn() -> String,
    ) -> MutexGuard<'_, State> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let mut st = lock(&self.shared.state);
        while !done(&st) {
            let now = Instant::now();
            if now >= deadline {
                let (r, c) = (st.requests.len(), st.connections);
                drop(st);
                panic!(
                    "{} timed out after {WAIT_TIMEOUT:?} ({r} requests, {c} connections so far)",
                    what()
                );
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        st
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let sh = &self.shared;
        sh.stop.store(true, Ordering::SeqCst);
        // Unblock reads/writes of live connections first, so that handlers woken below
        // cannot write any more. The accept loop registers sockets under the same lock
        // and checks `stop` there, so none escapes this pass.
        for s in lock(&sh.state).open.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        for sig in lock(&sh.waiting).iter() {
            let _guard = lock(&sig.inner.permits);
            sig.inner.cv.notify_all();
        }
        sh.changed.notify_all();
        // Wake the blocking accept() with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, WAIT_TIMEOUT);
        let panicking = thread::panicking();
        let fail = |msg: String| {
            if panicking {
                eprintln!("TestServer drop: {msg}");
            } else {
                panic!("TestServer drop: {msg}");
            }
        };
        if self.accept_done.recv_timeout(WAIT_TIMEOUT).is_err() {
            return fail(format!(
                "accept thread did not stop within {WAIT_TIMEOUT:?}"
            ));
        }
        let mut panics = Vec::new();
        if let Some(Err(p)) = self.accept.take().map(std::thread::JoinHandle::join) {
            panics.push(panic_message(&p));
        }
        let threads = std::mem::take(&mut lock(&sh.state).threads);
        let deadline = Instant::now() + WAIT_TIMEOUT;
        for _ in 0..threads.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.conn_done.recv_timeout(left) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return fail(format!(
                        "a connection thread did not stop within {WAIT_TIMEOUT:?} \
                         (handler blocked outside Responder::wait/hold?)"
                    ));
                }
            }
        }
        for h in threads {
            if let Err(p) = h.join() {
                panics.push(panic_message(&p));
            }
        }
        if !panics.is_empty() {
            fail(format!("server thread(s) panicked: {}", panics.join(" | ")));
        }
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".to_string()
    }
}

#[allow(clippy::needless_pass_by_value)] // a thread body: it owns what it is given
fn accept_loop(listener: TcpListener, shared: Arc<Shared>, conn_done: Sender<()>) {
    for incoming in listener.incoming() {
        if shared.stopping() {
            break;
        }
        let Ok(tcp) = incoming else { continue };
        let _ = tcp.set_nodelay(true);
        let _ = tcp.set_read_timeout(Some(WAIT_TIMEOUT));
        let _ = tcp.set_write_timeout(Some(WAIT_TIMEOUT));
        let Ok(clone) = tcp.try_clone() else { continue };
        let mut st = lock(&shared.state);
        if shared.stopping() {
            break;
        }
        let id = st.connections;
        st.connections += 1;
        st.open.insert(id, clone);
        let sh = shared.clone();
        let done = conn_done.clone();
        let handle = thread::Builder::new()
            .name(format!("test-server-conn-{id}"))
            .spawn(move || {
                let _done = DoneGuard(done);
                let _unregister = Unregister(&sh, id);
                serve_connection(&sh, id, tcp);
            })
            .expect("spawn connection thread");
        st.threads.push(handle);
        drop(st);
        shared.changed.notify_all();
    }
}

/// Drops the registry clone of the socket when the connection thread ends (even on
/// panic), so the client sees the socket close.
struct Unregister<'a>(&'a Shared, usize);
impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).open.remove(&self.1);
    }
}

// ---------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

struct Connection {
    id: usize,
    /// None after `Responder::reset`.
    stream: Option<Stream>,
    /// Bytes read but not consumed yet (pipelined requests).
    buf: Vec<u8>,
    half_closed: bool,
}

impl Connection {
    fn fill(&mut self) -> io::Result<usize> {
        let stream = self.stream.as_mut().expect("connection already reset");
        let mut tmp = [0u8; 8192];
        let n = stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Read more bytes of a request that has started; errors end the connection.
    fn fill_by(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            match self.fill() {
                Ok(0) => return Err("client closed the connection mid-request".into()),
                Ok(_) => return Ok(()),
                Err(e) if is_timeout(&e) && Instant::now() < deadline => continue,
                Err(e) if is_timeout(&e) => {
                    return Err(format!("incomplete request for {WAIT_TIMEOUT:?}"));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read error mid-request: {e}")),
            }
        }
    }

    fn line(&mut self, deadline: Instant) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).take(i).collect();
                return String::from_utf8(line).map_err(|_| "non-UTF-8 line".to_string());
            }
            if self.buf.len() > MAX_HEAD {
                return Err("request head too long".into());
            }
            self.fill_by(deadline)?;
        }
    }

    fn exact(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            self.fill_by(deadline)?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let s = self.stream.as_mut().expect("connection already reset");
        s.write_all(bytes)?;
        s.flush()
    }

    /// Ok(None): the connection ended (or the server is stopping) between requests.
    fn read_request(&mut self, shared: &Shared) -> Result<Option<ParsedHead>, String> {
        while self.buf.is_empty() {
            match self.fill() {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    if shared.stopping() {
                        return Ok(None);
                    }
                }
                // Reset by the client, TLS handshake failure, shut down by drop, ...
                Err(_) => return Ok(None),
            }
        }
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let request_line = self.line(deadline)?;
        let mut parts = request_line.split(' ');
        let (Some(method), Some(path), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("bad request line {request_line:?}"));
        };
        if !version.starts_with("HTTP/1.") {
            return Err(format!("bad HTTP version in {request_line:?}"));
        }
        let mut headers = Vec::new();
        loop {
            let line = self.line(deadline)?;
            if line.is_empty() {
                break;
            }
            let Some((k, v)) = line.split_once(':') else {
                return Err(format!("bad header line {line:?}"));
            };
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Some(ParsedHead {
            method: method.to_string(),
            path: path.to_string(),
            headers,
            deadline,
        }))
    }

    fn read_body(&mut self, head: &ParsedHead) -> Result<Vec<u8>, String> {
        let get = |name: &str| {
            head.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let deadline = head.deadline;
        let chunked =
            get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = match get("content-length") {
            Some(v) => Some(
                v.parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {v:?}"))?,
            ),
            None => None,
        };
        let has_body = chunked || length.is_some_and(|n| n > 0);
        if has_body && get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            self.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|e| format!("writing 100 Continue: {e}"))?;
        }
        if chunked {
            let mut body = Vec::new();
            loop {
                let line = self.line(deadline)?;
                let size = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| format!("bad chunk size line {line:?}"))?;
                if size == 0 {
                    // Trailers until the empty line.
                    while !self.line(deadline)?.is_empty() {}
                    return Ok(body);
                }
                body.extend(self.exact(size, deadline)?);
                if self.exact(2, deadline)? != b"\r\n" {
                    return Err("chunk not followed by CRLF".into());
                }
            }
        }
        match length {
            Some(n) => self.exact(n, deadline),
            None => Ok(Vec::new()),
        }
    }

    /// Half-close: TLS close_notify (if TLS), then FIN. Reading stays possible.
    fn half_close(&mut self) {
        if std::mem::replace(&mut self.half_closed, true) {
            return;
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if let Stream::Tls(s) = stream {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        let _ = stream.tcp().shutdown(Shutdown::Write);
    }

    /// After `half_close`: read and discard until the client closes (bounded, not an
    /// error if it does not), so the client deterministically sees EOF, never an RST
    /// caused by closing a socket with unread data.
    fn drain(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let tcp = stream.tcp().try_clone();
        let Ok(mut tcp) = tcp else { return };
        let mut tmp = [0u8; 8192];
        while Instant::now() < deadline {
            match tcp.read(&mut tmp) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

struct ParsedHead {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    deadline: Instant,
}

fn serve_connection(shared: &Shared, id: usize, tcp: TcpStream) {
    let stream = match &shared.tls {
        None => Stream::Plain(tcp),
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg.clone()).expect("rustls ServerConnection");
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        }
    };
    let mut conn = Connection {
        id,
        stream: Some(stream),
        buf: Vec::new(),
        half_closed: false,
    };
    loop {
        let head = match conn.read_request(shared) {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(_) if shared.stopping() => return,
            Err(e) => panic!("test server, connection {id}: {e}"),
        };
        let body = match conn.read_body(&head) {
            Ok(b) => b,
            Err(_) if shared.stopping() => return,
            Err(e) => panic!(
                "test server, connection {id}, {} {}: {e}",
                head.method, head.path
            ),
        };
        let request = {
            let mut st = lock(&shared.state);
            let req = Request {
                method: head.method,
                path: head.path,
                headers: head.headers,
                body,
                index: st.requests.len(),
                connection: id,
            };
            st.requests.push(req.clone());
            req
        };
        shared.changed.notify_all();

        let mut r = Responder {
            conn: &mut conn,
            shared,
            phase: Phase::Nothing,
            close_after: request.wants_close(),
            closed: false,
            client_gone: None,
        };
        (shared.handler)(&request, &mut r);
        let keep_alive = match r.phase {
            _ if r.conn.stream.is_none() => return, // reset
            _ if r.closed || r.client_gone.is_some() || shared.stopping() => false,
            Phase::Nothing => panic!(
                "handler for {} {} returned without responding \
                 (use Responder::hold/close/reset if that is intended)",
                request.method, request.path
            ),
            Phase::Complete => !r.close_after,
            Phase::Chunked | Phase::Unframed => false,
        };
        if !keep_alive {
            conn.half_close(); // idempotent: close() may have done it
            conn.drain();
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Responder
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Nothing written yet.
    Nothing,
    /// A complete, correctly framed response was written.
    Complete,
    /// Chunked body started, `end_chunked` not yet called.
    Chunked,
    /// Framing unknown (raw bytes, wrong Content-Length, close-delimited body):
    /// the connection is closed after the handler returns.
    Unframed,
}

/// Writes the response to one request. Every write is flushed immediately.
///
/// After the handler returns the connection is kept alive only if exactly one complete,
/// well-framed response was written and neither side asked for `Connection: close`;
/// otherwise the server half-closes it (FIN, TLS close_notify first).
/// Write errors (client went away) are recorded, not raised: see [`Responder::client_gone`].
pub struct Responder<'a> {
    conn: &'a mut Connection,
    shared: &'a Shared,
    phase: Phase,
    close_after: bool,
    closed: bool,
    client_gone: Option<io::Error>,
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn has(headers: &[(&str, &str)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

impl Responder<'_> {
    /// Id of the TCP connection (same as `Request::connection`).
    pub fn connection_id(&self) -> usize {
        self.conn.id
    }

    /// Some(error) once a write failed (client closed/reset the connection).
    pub fn client_gone(&self) -> Option<&io::Error> {
        self.client_gone.as_ref()
    }

    fn send(&mut self, bytes: &[u8]) {
        assert!(
            !self.closed && self.conn.stream.is_some(),
            "Responder: write after close()/reset()"
        );
        if self.client_gone.is_some() {
            return;
        }
        if let Err(e) = self.conn.write_all(bytes) {
            self.client_gone = Some(e);
        }
    }

    fn head(&self, status: u16, headers: &[(&str, &str)], extra: &[(&str, &str)]) -> Vec<u8> {
        let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (k, v) in extra.iter().filter(|(k, _)| !has(headers, k)) {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        for (k, v) in headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    }

    fn expect_nothing_yet(&self, what: &str) {
        assert_eq!(
            self.phase,
            Phase::Nothing,
            "Responder::{what}: a response was already started"
        );
    }

    fn note_connection_header(&mut self, headers: &[(&str, &str)]) {
        if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"))
        {
            self.close_after = true;
        }
    }

    /// Complete response with a Content-Length body; no default Content-Type.
    /// `headers` may override Content-Length (a wrong one makes the connection close
    /// after the handler, as the framing is then broken) or set `Connection: close`.
    pub fn respond(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        self.expect_nothing_yet("respond");
        let len = body.len().to_string();
        let mut bytes = self.head(status, headers, &[("Content-Length", &len)]);
        bytes.extend_from_slice(body);
        self.note_connection_header(headers);
        let framed = headers
            .iter()
            .filter(|(k, _)| {
                k.eq_ignore_ascii_case("content-length")
                    || k.eq_ignore_ascii_case("transfer-encoding")
            })
            .all(|(k, v)| k.eq_ignore_ascii_case("content-length") && v.trim() == len);
        self.send(&bytes);
        self.phase = if framed {
            Phase::Complete
        } else {
            Phase::Unframed
        };
    }

    /// `status` with `Content-Type: application/json` and Content-Length.
    pub fn json(&mut self, status: u16, body: &str) {
        self.json_with_headers(status, &[], body);
    }

    /// Like [`json`](Self::json) plus extra headers (which may override the defaults).
    pub fn json_with_headers(&mut self, status: u16, headers: &[(&str, &str)], body: &str) {
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 1);
        if !has(headers, "content-type") {
            all.push(("Content-Type", "application/json"));
        }
        all.extend_from_slice(headers);
        self.respond(status, &all, body.as_bytes());
    }

    /// Status line and headers with `Transfer-Encoding: chunked` (unless overridden).
    pub fn start_chunked(&mut self, status: u16, headers: &[(&str, &str)]) {
        self.expect_nothing_yet("start_chunked");
        let bytes = self.head(status, headers, &[("Transfer-Encoding", "chunked")]);
        self.note_connection_header(headers);
        self.send(&bytes);
        self.phase = Phase::Chunked;
    }

    /// 200, `text/event-stream`, `Cache-Control: no-cache`, chunked.
    pub fn start_sse(&mut self) {
        self.start_chunked(
            200,
            &[
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-cache"),
            ],
        );
    }

    /// Status and headers with neither Content-Length nor chunking: the body (written
    /// with [`raw`](Self::raw)) ends when the connection closes (after the handler).
    pub fn start_unframed(&mut self, status: u16, headers: &[(&str, &str)]) {
        self.expect_nothing_yet("start_unframed");
        let bytes = self.head(status, headers, &[]);
        self.send(&bytes);
        self.phase = Phase::Unframed;
    }

    /// One HTTP chunk, flushed at once. Empty input is skipped (an empty chunk would
    /// end the body; use `end_chunked` or `raw(b"0\r\n\r\n")`).
    pub fn chunk(&mut self, bytes: &[u8]) {
        assert_eq!(
            self.phase,
            Phase::Chunked,
            "Responder::chunk outside a chunked body"
        );
        if bytes.is_empty() {
            return;
        }
        let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
        self.send(&out);
    }

    /// One SSE event `data: {data}\n\n` as one chunk.
    pub fn sse_data(&mut self, data: &str) {
        self.chunk(format!("data: {data}\n\n").as_bytes());
    }

    /// Terminating `0\r\n\r\n`; the response is then complete (keep-alive possible).
    pub fn end_chunked(&mut self) {
        assert_eq!(
            self.phase,
            Phase::Chunked,
            "Responder::end_chunked outside a chunked body"
        );
        self.send(b"0\r\n\r\n");
        self.phase = Phase::Complete;
    }

    /// Whole SSE `body` as one chunk, then the terminator.
    pub fn sse(&mut self, body: &[u8]) {
        self.start_sse();
        self.chunk(body);
        self.end_chunked();
    }

    /// `start_sse`, then `body` split by `chunk_sizes` (one flush per chunk; sizes of 0
    /// are skipped; bytes left after the plan go in one last chunk), then the terminator.
    pub fn sse_in_chunks(&mut self, body: &[u8], chunk_sizes: &[usize]) {
        self.start_sse();
        let mut rest = body;
        for &n in chunk_sizes {
            let n = n.min(rest.len());
            let (now, later) = rest.split_at(n);
            self.chunk(now);
            rest = later;
        }
        self.chunk(rest);
        self.end_chunked();
    }

    /// `start_sse`, then each event as its own chunk; between events waits (bounded) on
    /// `next`, which the test sends once it has seen the previous event. Ends the body
    /// after the last event without waiting. Returns early if the server stops.
    pub fn sse_paced(&mut self, events: &[&[u8]], next: &Signal) {
        self.start_sse();
        for (i, ev) in events.iter().enumerate() {
            if i > 0 && !self.wait(next) {
                return;
            }
            self.chunk(ev);
        }
        self.end_chunked();
    }

    /// Arbitrary bytes, flushed (garbage, bad chunking, hand-written responses). Unless
    /// inside a chunked body, the connection is closed after the handler returns; call
    /// [`mark_complete`](Self::mark_complete) if the bytes were a full valid response.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.send(bytes);
        if self.phase != Phase::Chunked {
            self.phase = Phase::Unframed;
        }
    }

    /// Declare the response complete and well framed (keep-alive after `raw`).
    pub fn mark_complete(&mut self) {
        self.phase = Phase::Complete;
    }

    /// Write this response normally (no `Connection: close` header) but close the
    /// connection right after it: a server whose keep-alive timeout expired.
    pub fn close_after_response(&mut self) {
        self.close_after = true;
    }

    /// Close now: (TLS close_notify,) FIN. After the handler returns the server reads
    /// and discards until the client closes, so the client sees a clean EOF, not an RST.
    /// Nothing may be written afterwards.
    pub fn close(&mut self) {
        if self.closed || self.conn.stream.is_none() {
            return;
        }
        self.closed = true;
        self.conn.half_close();
    }

    /// Abort now with a TCP RST (SO_LINGER 0, then close). Nothing may be written afterwards.
    pub fn reset(&mut self) {
        let Some(stream) = self.conn.stream.take() else {
            return;
        };
        lock(&self.shared.state).open.remove(&self.conn.id);
        let _ = socket2::SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO));
        drop(stream);
    }

    /// Block until `signal` is sent (true) or the server is dropped (false);
    /// panics after [`WAIT_TIMEOUT`].
    #[track_caller]
    pub fn wait(&mut self, signal: &Signal) -> bool {
        let caller = std::panic::Location::caller();
        signal.wait_until(Some(self.shared), "Responder::wait", caller)
    }

    /// Never answer: block until the server is dropped (panics after [`WAIT_TIMEOUT`]).
    /// The connection is then closed. For client read-timeout tests.
    #[track_caller]
    pub fn hold(&mut self) {
        let caller = std::panic::Location::caller();
        let never = Signal::new();
        never.wait_until(
            Some(self.shared),
            "Responder::hold (server not dropped)",
            caller,
        );
    }

    /// Read and discard until the client closes the connection (EOF, reset or TLS
    /// error); panics if it does not within [`WAIT_TIMEOUT`]. For "dropping the stream
    /// closes the connection" tests. Returns early if the server stops.
    #[track_caller]
    pub fn wait_for_client_close(&mut self) {
        let caller = std::panic::Location::caller();
        let deadline = Instant::now() + WAIT_TIMEOUT;
        self.conn.buf.clear();
        loop {
            match self.conn.fill() {
                Ok(0) => return,
                Ok(_) => self.conn.buf.clear(),
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
            if self.shared.stopping() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "wait_for_client_close (at {caller}): client kept connection {} open \
                     for {WAIT_TIMEOUT:?}",
                    self.conn.id
                );
            }
        }
    }
}

/// Serve a recorded SSE body split into HTTP chunks by `chunk_sizes`, one flush per chunk.
pub fn serve_sse_in_chunks(r: &mut Responder, body: &[u8], chunk_sizes: &[usize]) {
    r.sse_in_chunks(body, chunk_sizes);
}
