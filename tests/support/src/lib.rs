//! Support for Tessera's end-to-end tests: the guest components (built by `build.rs`), a real
//! `tessera` server process on a free loopback port, and an HTTP/1.1 and HTTP/2 client that
//! keeps what tests look at (status, headers, body, trailers).

pub mod otlp;
pub mod services;
pub mod tls;

use std::convert::Infallible;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// The directory the guest components are built into.
pub const GUEST_DIR: &str = env!("TESSERA_GUEST_DIR");
/// The workspace root.
pub const WORKSPACE_ROOT: &str = env!("TESSERA_WORKSPACE_ROOT");

/// The socket address `text` starts with: it ends at the first character an address cannot
/// hold (a space, a `/`, the `"` closing a JSON string).
fn leading_addr(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(text.len());
    &text[..end]
}

/// The path of a built guest component, e.g. `guest("wasi_echo")`.
pub fn guest(file_stem: &str) -> PathBuf {
    let path = Path::new(GUEST_DIR).join(format!("{file_stem}.wasm"));
    assert!(path.exists(), "guest {} was not built", path.display());
    path
}

/// A compile cache shared by the tests of one build, so that each component is compiled once
/// rather than once per test.
pub fn shared_cache_dir() -> PathBuf {
    Path::new(WORKSPACE_ROOT).join("target/test-compile-cache")
}

/// A directory holding one test's `tessera.toml`; deleted when dropped.
pub struct AppDir {
    dir: tempfile::TempDir,
}

impl AppDir {
    /// Writes `manifest` as `tessera.toml` in a fresh directory.
    pub fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        std::fs::write(dir.path().join("tessera.toml"), manifest)
            .expect("cannot write the manifest");
        Self { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The manifest's path.
    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("tessera.toml")
    }
}

/// Copies examples/fastserve's SQL migrations into `dir` (created).
pub fn fastserve_migrations(dir: &Path) {
    std::fs::create_dir_all(dir).expect("cannot create the migrations directory");
    let source = Path::new(WORKSPACE_ROOT).join("examples/fastserve/migrations");
    for entry in std::fs::read_dir(source).expect("examples/fastserve/migrations") {
        let entry = entry.expect("a directory entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("cannot copy a migration");
    }
}

/// A `[component.<id>]` section serving a built guest, for building manifests in tests.
pub fn component_section(id: &str, file_stem: &str, extra: &str) -> String {
    format!(
        "[component.{id}]\nsource = {:?}\n{extra}\n",
        guest(file_stem).display().to_string()
    )
}

/// A running `tessera up`; killed when dropped.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// Set when the server's stderr is closed and every line of it is in `log`.
    log_ended: Arc<AtomicBool>,
}

/// How to start a [`Server`].
pub struct ServerOptions {
    args: Vec<String>,
    env: Vec<(String, String)>,
    cache_dir: PathBuf,
    listen: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            env: Vec::new(),
            cache_dir: shared_cache_dir(),
            listen: "127.0.0.1:0".into(),
        }
    }
}

impl ServerOptions {
    /// Adds command-line arguments after `tessera up`.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the server.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Listens on `addr` instead of a free port (to restart a server where it was).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr.to_string();
        self
    }

    /// Uses this compile cache directory instead of the shared one.
    pub fn cache_dir(mut self, dir: &Path) -> Self {
        self.cache_dir = dir.to_path_buf();
        self
    }
}

impl Server {
    /// Starts `tessera up --manifest <manifest>` on a free loopback port and waits until it
    /// serves. `bin` is the tessera binary (`env!("CARGO_BIN_EXE_tessera")`).
    pub fn start(bin: &str, manifest: &Path) -> Self {
        Self::start_with(bin, manifest, ServerOptions::default())
    }

    /// [`Server::start`] with options.
    pub fn start_with(bin: &str, manifest: &Path, options: ServerOptions) -> Self {
        let mut command = Command::new(bin);
        command
            .arg("up")
            .arg("--manifest")
            .arg(manifest)
            .arg("--listen")
            .arg(&options.listen)
            .arg("--cache-dir")
            .arg(options.cache_dir)
            .args(options.args)
            .env("TESSERA_LOG", "info")
            .env_remove("TESSERA_LISTEN")
            .env_remove("TESSERA_MANIFEST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in options.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("cannot start tessera");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let log_ended = Arc::new(AtomicBool::new(false));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let log = log.clone();
            let log_ended = log_ended.clone();
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line
                        .split("serving http://")
                        .nth(1)
                        .or_else(|| line.split("serving https://").nth(1))
                    {
                        let _ = addr_tx.send(leading_addr(rest).parse::<SocketAddr>());
                    }
                    let mut log = log.lock().expect("log lock");
                    log.push_str(&line);
                    log.push('\n');
                }
                log_ended.store(true, Ordering::Release);
            }
        });
        match addr_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(addr)) => {
                let server = Self {
                    child,
                    addr,
                    log,
                    log_ended,
                };
                server.wait_for_the_pool();
                server
            }
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "tessera did not start ({outcome:?}); its log:\n{}",
                    log.lock().expect("log lock")
                );
            }
        }
    }

    /// A server whose components are in the compile cache answers before its instance pool
    /// is reserved, and moves them onto it moments later (`ComponentLoader` in
    /// tessera-runtime). Tests get the server as it serves from then on, so that what they
    /// measure (pool limits above all) does not depend on when their first request comes;
    /// `tests/lifecycle.rs` tests the start-up engine itself.
    fn wait_for_the_pool(&self) {
        // The move's last line says "moved N components onto the instance pool", or why they
        // stay "instead of moving onto the instance pool".
        if self
            .log()
            .contains("onto the start-up engine until the instance pool")
            && self
                .wait_for_log(&["onto the instance pool"], Duration::from_secs(20))
                .is_none()
        {
            panic!(
                "the components did not move onto the instance pool within 20 s:\n{}",
                self.log()
            );
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits up to `timeout` for a log line containing every one of `needles`; returns the line.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .log()
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
                .map(str::to_string);
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address the server logs after `marker` (such as `"admin endpoint: http://"`),
    /// waiting up to 10 s for the line.
    pub fn logged_addr(&self, marker: &str) -> SocketAddr {
        let line = self
            .wait_for_log(&[marker], Duration::from_secs(10))
            .unwrap_or_else(|| panic!("the server logs `{marker}`:\n{}", self.log()));
        line.split(marker)
            .nth(1)
            .and_then(|rest| leading_addr(rest).parse().ok())
            .unwrap_or_else(|| panic!("an address after `{marker}` in {line}"))
    }

    /// Sends `signal` (e.g. "TERM") to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `timeout` for the server to exit, and then for the last of its log to be
    /// read (its lines reach [`Server::log`] through a pipe and a thread, after the exit).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("cannot wait for tessera") {
                let read_by = Instant::now() + Duration::from_secs(5);
                while !self.log_ended.load(Ordering::Acquire) && Instant::now() < read_by {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CPU time the server has used so far, user and system (from /proc).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("cannot read /proc/<pid>/stat");
        // After the command name (in parentheses, which may hold spaces): fields 3 onwards;
        // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("a stat line")
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_millis(ticks * 10)
    }

    /// The server's resident set size, in bytes (from /proc).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("cannot read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmRSS in /proc/<pid>/status")
            * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request body as the client sends it.
pub type ClientBody = BoxBody<Bytes, Infallible>;

/// An empty body.
pub fn empty() -> ClientBody {
    Full::new(Bytes::new()).boxed()
}

/// A body of these bytes, sent at once.
pub fn full(bytes: impl Into<Bytes>) -> ClientBody {
    Full::new(bytes.into()).boxed()
}

/// A body sent as `chunks` chunks of `chunk_size` bytes of [`pattern`], then `trailers` if any.
pub fn streamed(chunks: usize, chunk_size: usize, trailers: Option<HeaderMap>) -> ClientBody {
    let chunk = Bytes::from(pattern(chunk_size));
    let data = (0..chunks).map(move |_| Ok(Frame::data(chunk.clone())));
    let trailers = trailers.map(|t| Ok(Frame::trailers(t)));
    StreamBody::new(futures_util::stream::iter(data.chain(trailers))).boxed()
}

/// The byte pattern the test guests stream: byte `i` is `i % 65536 % 251`.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i % 65536) % 251) as u8).collect()
}

/// A response with its whole body and trailers.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The trailers, if the response had any.
    pub trailers: Option<HeaderMap>,
    /// The HTTP version of the response.
    pub version: http::Version,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Reads a response to its end.
pub async fn collect(response: Response<Incoming>) -> Result<Reply, hyper::Error> {
    let (parts, body) = response.into_parts();
    let collected = body.collect().await?;
    let trailers = collected.trailers().cloned();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: collected.to_bytes(),
        trailers,
        version: parts.version,
    })
}

/// One client connection, HTTP/1.1 (keep-alive) or HTTP/2 over cleartext with prior knowledge.
pub enum Client {
    /// HTTP/1.1.
    Http1(hyper::client::conn::http1::SendRequest<ClientBody>),
    /// HTTP/2 (h2c).
    Http2(hyper::client::conn::http2::SendRequest<ClientBody>),
}

impl Client {
    /// Opens an HTTP/1.1 connection.
    pub async fn http1(addr: SocketAddr) -> Self {
        Self::try_http1(addr).await.expect("cannot connect")
    }

    /// Opens an HTTP/1.1 connection, or says why it could not (a server still starting).
    pub async fn try_http1(addr: SocketAddr) -> std::io::Result<Self> {
        Self::over(TcpStream::connect(addr).await?, false).await
    }

    /// Opens an HTTP/2 connection with prior knowledge.
    pub async fn http2(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("cannot connect");
        Self::over(stream, true).await.expect("HTTP/2 handshake")
    }

    /// HTTP/2 (`http2`) or HTTP/1.1 over a connection already open (TCP, TLS).
    pub async fn over<I>(io: I, http2: bool) -> std::io::Result<Self>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        if http2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(std::io::Error::other)?;
            tokio::spawn(connection);
            Ok(Self::Http2(sender))
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(connection);
            Ok(Self::Http1(sender))
        }
    }

    /// Sends a request; the response head.
    pub async fn send(
        &mut self,
        request: Request<ClientBody>,
    ) -> Result<Response<Incoming>, hyper::Error> {
        match self {
            Self::Http1(sender) => {
                sender.ready().await?;
                sender.send_request(request).await
            }
            Self::Http2(sender) => {
                sender.ready().await?;
                sender.send_request(request).await
            }
        }
    }

    /// Sends a request and reads the whole response.
    pub async fn fetch(&mut self, request: Request<ClientBody>) -> Reply {
        let response = self.send(request).await.expect("request failed");
        collect(response).await.expect("response body failed")
    }

    /// `GET path`, whole response.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.fetch(request("GET", path).body(empty()).expect("valid request"))
            .await
    }
}

/// A request builder with the method and path (and `Host: localhost`).
pub fn request(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
}

/// [`request`] with `headers` added.
pub fn request_with(method: &str, path: &str, headers: &[(&str, &str)]) -> http::request::Builder {
    headers
        .iter()
        .fold(request(method, path), |builder, (name, value)| {
            builder.header(*name, *value)
        })
}

/// `GET path` on a new HTTP/1.1 connection.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    Client::http1(addr).await.get(path).await
}

/// Sends only the head of a request (`line`, e.g. `POST /upload`, with `content_type` and a
/// `Content-Length` of `length`) on a new connection and reads the status of the answer: what
/// a server says about a body before it is sent.
pub async fn status_of_head(
    addr: SocketAddr,
    line: &str,
    content_type: &str,
    length: usize,
) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{line} HTTP/1.1\r\nhost: localhost\r\ncontent-type: {content_type}\r\n\
         content-length: {length}\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write the head");
    let mut answer = vec![0; 64];
    let read = stream.read(&mut answer).await.expect("read the answer");
    let text = String::from_utf8_lossy(&answer[..read]).into_owned();
    text.split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// The `versioned` test guest, patched to answer `tessera-version:NN` (two digits) instead of
/// `tessera-version:00`: a new version of a component, for live replacement.
pub fn versioned_guest(n: u32) -> Vec<u8> {
    const MARKER: &[u8] = b"tessera-version:00";
    let mut wasm = std::fs::read(guest("versioned")).expect("read the versioned guest");
    let at = wasm
        .windows(MARKER.len())
        .position(|w| w == MARKER)
        .expect("the guest holds its version marker");
    wasm[at + MARKER.len() - 2..at + MARKER.len()].copy_from_slice(format!("{n:02}").as_bytes());
    wasm
}

/// An HTTP/2 frame: its 9-byte header (length, `kind`, `flags`, `stream`) and `payload`.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a small frame");
    let mut bytes = len.to_be_bytes()[1..].to_vec();
    bytes.extend([kind, flags]);
    bytes.extend(stream.to_be_bytes());
    bytes.extend(payload);
    bytes
}
