//! [`ClientBuilder`]: a [`Client`]'s settings, their defaults and the environment variables
//! that preset them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{Client, DEFAULT_BASE_URL};
use crate::error::Error;
use crate::http::{ProxySetting, Settings, Transport};
use crate::sse;
use crate::stream::StreamLimits;

/// Configures a [`Client`]; start with [`Client::builder`] or
/// [`ClientBuilder::from_env`].
///
/// ```
/// use std::time::Duration;
/// use chatstream::Client;
///
/// // A local llama.cpp or Ollama server needs no key.
/// let client = Client::builder()
///     .base_url("http://127.0.0.1:8080/v1")
///     .stream_idle_timeout(Duration::from_secs(60))
///     .max_retries(0)
///     .build()?;
/// # let _ = client; Ok::<(), chatstream::Error>(())
/// ```
///
/// Azure OpenAI uses an `api-key` header and an `api-version` query
/// parameter instead of a bearer token:
///
/// ```
/// let client = chatstream::Client::builder()
///     .base_url("https://my-resource.openai.azure.com/openai/deployments/my-gpt4o")
///     .header("api-key", "AZURE-KEY")
///     .query("api-version", "2024-10-21")
///     .build()?;
/// # let _ = client; Ok::<(), chatstream::Error>(())
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub struct ClientBuilder {
    settings: Settings,
    limits: StreamLimits,
    include_usage: bool,
    split_think_tags: bool,
    base_url_from_default: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.settings.base_url)
            .field(
                "api_key",
                &self.settings.api_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            settings: Settings {
                base_url: DEFAULT_BASE_URL.to_string(),
                api_key: None,
                organization: None,
                project: None,
                headers: Vec::new(),
                query: Vec::new(),
                connect_timeout: Some(Duration::from_secs(10)),
                response_timeout: None,
                request_timeout: Some(Duration::from_secs(600)),
                stream_first_event_timeout: None,
                max_retries: 2,
                retry_response_timeout: false,
                on_retry: None,
                initial_backoff: Duration::from_millis(500),
                max_backoff: Duration::from_secs(8),
                proxy: ProxySetting::FromEnv,
                root_certificates_pem: None,
                added_root_certificates_pem: Vec::new(),
                client_certificate_pem: None,
                allow_insecure_http: false,
                pool_idle_timeout: Duration::from_secs(4),
                max_response_size: 64 * 1024 * 1024,
            },
            limits: StreamLimits {
                first_event: None,
                idle: Some(Duration::from_secs(300)),
                total: None,
                max_event_size: sse::Parser::DEFAULT_MAX_EVENT_SIZE,
            },
            include_usage: true,
            split_think_tags: false,
            base_url_from_default: true,
        }
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl ClientBuilder {
    /// A builder preset from the environment; see [`Client::from_env`].
    #[must_use]
    pub fn from_env() -> Self {
        let mut b = Self::default();
        if let Some(url) = env_var("OPENAI_BASE_URL") {
            b = b.base_url(url);
        }
        b.settings.api_key = env_var("OPENAI_API_KEY");
        b.settings.organization = env_var("OPENAI_ORG_ID");
        b.settings.project = env_var("OPENAI_PROJECT_ID");
        b
    }

    /// The API's base URL, up to and including `/v1` (a query string, as
    /// Azure uses, is kept and sent with every request).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.settings.base_url = url.into();
        self.base_url_from_default = false;
        self
    }

    /// The API key, sent as `Authorization: Bearer <key>`. It never appears
    /// in `Debug` output or error messages.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.settings.api_key = Some(key.into());
        self
    }

    /// The `OpenAI-Organization` header.
    #[must_use]
    pub fn organization(mut self, org: impl Into<String>) -> Self {
        self.settings.organization = Some(org.into());
        self
    }

    /// The `OpenAI-Project` header.
    #[must_use]
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.settings.project = Some(project.into());
        self
    }

    /// One more header on every request (e.g. Azure's `api-key`).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.headers.push((name.into(), value.into()));
        self
    }

    /// One more query parameter on every request (e.g. Azure's
    /// `api-version`).
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.query.push((name.into(), value.into()));
        self
    }

    /// Limit for connecting, TLS included (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = Some(timeout);
        self
    }

    /// Limit for receiving the response headers once the request is sent
    /// (default: none of its own; plain calls are bounded by the request
    /// timeout, streams by the idle timeout).
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.settings.response_timeout = Some(timeout);
        self
    }

    /// Total limit for a non-streaming call, body included (default 10 min;
    /// `None` for none).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// Limit between two stream *events* (default 5 min). SSE comments,
    /// which some servers send as keep-alives, do not reset it, so a server
    /// that pings but never answers is caught. `None` for none.
    #[must_use]
    pub fn stream_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.idle = timeout.into();
        self
    }

    /// Limit for a stream's first *event*, counted from when the request
    /// is sent (response headers included, unless
    /// [`response_timeout`](Self::response_timeout) bounds those), separate
    /// from the limit between events. Default: the
    /// [idle limit](Self::stream_idle_timeout) (5 min). A local server may
    /// process a long prompt for minutes before its first token and then
    /// never pause for more than seconds: give it a long first-event limit
    /// and a short idle one. `None` for none.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = chatstream::Client::builder()
    ///     .base_url("http://127.0.0.1:8080/v1")
    ///     .stream_first_event_timeout(Duration::from_secs(30 * 60))
    ///     .stream_idle_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// # let _ = client; Ok::<(), chatstream::Error>(())
    /// ```
    #[must_use]
    pub fn stream_first_event_timeout(
        mut self,
        timeout: impl Into<Option<Duration>>,
    ) -> ClientBuilder {
        self.limits.first_event = Some(timeout.into());
        self
    }

    /// Total limit for a stream, from the response headers on (default:
    /// none, so a healthy long stream is never cut).
    #[must_use]
    pub fn stream_total_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.total = timeout.into();
        self
    }

    /// Largest single stream event, in bytes (default 16 MiB).
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.limits.max_event_size = bytes;
        self
    }

    /// How many times a failed request is retried (default 2; 0 turns
    /// retries off). Retried: connection failures before the request was
    /// sent, 408, 409, 429 (except `insufficient_quota`) and 5xx, or
    /// whatever the server's `x-should-retry` header says; and a chat stream
    /// whose *first* event is a rate-limit (except `insufficient_quota`),
    /// overload or server error, before any chunk reached the caller. Never
    /// retried: a stream that delivered a chunk, and (unless
    /// [`retry_response_timeout`](Self::retry_response_timeout)) a request
    /// sent whole whose response headers did not come in time.
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.settings.max_retries = retries;
        self
    }

    /// Whether a request sent whole whose response headers did not arrive
    /// within [`response_timeout`](Self::response_timeout) (or, for
    /// streams, the first-event limit) is sent again (default false: the
    /// server may still be working on it, and a second copy doubles the
    /// work, or the bill). `true` restores the official SDKs' behaviour.
    #[must_use]
    pub fn retry_response_timeout(mut self, retry: bool) -> ClientBuilder {
        self.settings.retry_response_timeout = retry;
        self
    }

    /// Called before each retry's wait with the retry's number (1 for the
    /// first), the delay, and the error that caused it, so a UI can say
    /// "rate limited, retrying in 2 s" and a log can record it. Runs on the
    /// calling thread; keep it short.
    ///
    /// ```
    /// let client = chatstream::Client::builder()
    ///     .base_url("http://127.0.0.1:8080/v1")
    ///     .on_retry(|attempt, delay, error| {
    ///         eprintln!("retry {attempt} in {delay:?} after: {error}");
    ///     })
    ///     .build()?;
    /// # let _ = client; Ok::<(), chatstream::Error>(())
    /// ```
    #[must_use]
    pub fn on_retry(
        mut self,
        hook: impl Fn(u32, Duration, &Error) + Send + Sync + 'static,
    ) -> ClientBuilder {
        self.settings.on_retry = Some(Arc::new(hook));
        self
    }

    /// Exponential backoff between retries: `initial · 2^n`, at most `max`,
    /// minus up to 25 % jitter (default 0.5 s and 8 s). A server's
    /// `retry-after-ms` or `Retry-After` of at most 60 s is used instead.
    #[must_use]
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.settings.initial_backoff = initial;
        self.settings.max_backoff = max;
        self
    }

    /// Sends every request through this HTTP proxy (`http://host:port`),
    /// except to loopback base URLs.
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.settings.proxy = ProxySetting::Url(url.into());
        self
    }

    /// Ignores `HTTPS_PROXY` and friends: connect directly.
    #[must_use]
    pub fn no_proxy(mut self) -> Self {
        self.settings.proxy = ProxySetting::Off;
        self
    }

    /// Trusts exactly the root certificates in this PEM text (and those given
    /// to [`add_root_certificates_pem`](Self::add_root_certificates_pem)):
    /// not the bundled Mozilla roots, nor `SSL_CERT_FILE` / `SSL_CERT_DIR`.
    /// For a client that must talk to one private CA's servers only. To
    /// trust a corporate TLS proxy or a self-hosted server's CA *as well as*
    /// the public ones, use [`add_root_certificates_pem`](Self::add_root_certificates_pem).
    /// Certificate verification is never turned off.
    #[must_use]
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.settings.root_certificates_pem = Some(pem.into());
        self
    }

    /// Trusts the root certificates in this PEM text in addition to the
    /// others: a corporate TLS proxy's CA, a self-hosted server's CA. May be
    /// called several times.
    ///
    /// By default the client trusts the bundled Mozilla roots plus every
    /// certificate in the PEM file named by `SSL_CERT_FILE` and in the files
    /// of the directories named by `SSL_CERT_DIR` (separated like `PATH`),
    /// as OpenSSL-based tools do; a path there that cannot be read fails
    /// [`build`](Self::build). Those files are read by the first build in the
    /// process and again only when either variable's value changes, so a
    /// program pays for parsing a system bundle once however many clients it
    /// builds. The operating system's own trust store is not
    /// read: point `SSL_CERT_FILE` at its bundle (e.g.
    /// `/etc/ssl/certs/ca-certificates.crt`) to trust it.
    ///
    /// ```no_run
    /// let company_ca = std::fs::read("/etc/ssl/company-ca.pem")?;
    /// let client = chatstream::Client::builder()
    ///     .base_url("https://llm.internal.example/v1")
    ///     .add_root_certificates_pem(company_ca)
    ///     .build()?;
    /// # let _ = client; Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.settings.added_root_certificates_pem.push(pem.into());
        self
    }

    /// Presents this client certificate when the server asks for one
    /// (mutual TLS, as some gateways require): `chain` is the PEM of the
    /// certificate, then any intermediates; `key` the PEM of its private key
    /// (PKCS#8, PKCS#1 or SEC1). Both may be the same text. A key that is not
    /// the certificate's fails [`build`](Self::build) with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config)(crate::ErrorKind::Config).
    #[must_use]
    pub fn client_certificate_pem(
        mut self,
        chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.settings.client_certificate_pem = Some((chain.into(), key.into()));
        self
    }

    /// Allows sending the API key over plain `http://` to a host that is not
    /// loopback (refused by default). The environment variable
    /// `CHATSTREAM_ALLOW_INSECURE_HTTP=1` does the same.
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.settings.allow_insecure_http = allow;
        self
    }

    /// Ask for a final usage chunk on streams (`stream_options.include_usage`,
    /// default true).
    ///
    /// A server that refuses the option (a 400 or 422 whose message or
    /// `param` names `stream_options`, as strict FastAPI servers and some
    /// gateways answer) is asked once more without it, and the client (with
    /// all its clones) remembers: later streams go without it straight away.
    /// Such a stream has no usage unless the server sends it on its own.
    /// Turning this off saves that first refused request.
    #[must_use]
    pub fn stream_usage(mut self, include: bool) -> Self {
        self.include_usage = include;
        self
    }

    /// Moves `<think>…</think>` from the content of streamed chunks into their
    /// `reasoning_content` as they arrive (default off), for reasoning models
    /// served without a reasoning parser; see [`ThinkSplitter`](crate::ThinkSplitter).
    /// The chunks a stream hands out and its accumulated completion both
    /// have the reasoning apart. Plain (non-streamed) calls are not changed.
    #[must_use]
    pub fn split_think_tags(mut self, split: bool) -> Self {
        self.split_think_tags = split;
        self
    }

    /// Pooled connections idle longer than this are not reused (default
    /// 4 s, below the 5 s keep-alive of common servers).
    #[must_use]
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings.pool_idle_timeout = timeout;
        self
    }

    /// Builds the client. Fails with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config)(crate::ErrorKind::Config) for an invalid base
    /// URL, a missing key for OpenAI's own endpoint, or a key that would
    /// travel in clear text.
    pub fn build(mut self) -> Result<Client, Error> {
        if self.base_url_from_default && self.settings.api_key.is_none() {
            return Err(Error::config(
                "no API key: set OPENAI_API_KEY (or ClientBuilder::api_key), \
                 or point OPENAI_BASE_URL at a server that needs none",
            ));
        }
        if env_var("CHATSTREAM_ALLOW_INSECURE_HTTP").as_deref() == Some("1") {
            self.settings.allow_insecure_http = true;
        }
        if self.limits.max_event_size == 0 {
            return Err(Error::config("max_event_size must be positive"));
        }
        self.settings.stream_first_event_timeout =
            self.limits.first_event.unwrap_or(self.limits.idle);
        let transport = Transport::new(self.settings)?;
        Ok(Client {
            transport: Arc::new(transport),
            limits: self.limits,
            include_usage: self.include_usage,
            stream_options_refused: Arc::new(AtomicBool::new(false)),
            split_think_tags: self.split_think_tags,
            extra_headers: Arc::new(Vec::new()),
            cancel: None,
        })
    }
}

#[cfg(test)]
impl ClientBuilder {
    /// The settings this builder would give the transport (for the transport's unit tests).
    pub(crate) fn settings_for_tests(self) -> Settings {
        self.settings
    }
}
