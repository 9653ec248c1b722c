//! Real Redis and PostgreSQL servers on loopback for the tests, each started from the Debian
//! packages (`apt-get install -y redis-server postgresql`, which scripts/test.sh runs) in a
//! temporary directory on a free port, and stopped when dropped. A server that cannot start
//! fails the test with the reason; nothing is skipped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "scripts/test.sh installs it (apt-get install -y redis-server postgresql)";

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited at start-up ({status}):\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not accept connections on port {port} within 30s");
}

/// A Redis server.
pub struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts `redis-server` with persistence off on a free port.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Self::spawn(dir.path(), port);
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    /// Kills the server (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port (after [`Redis::kill`]); its data is gone.
    pub fn restart(&mut self) {
        self.child = Self::spawn(self._dir.path(), self.port);
    }

    fn spawn(dir: &Path, port: u16) -> Child {
        let log = dir.join("redis.log");
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--logfile"])
            .arg(&log)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server ({e}); {INSTALL}"));
        wait_for_port(port, &mut child, "redis-server", &log);
        child
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs a command with `redis-cli` (e.g. `["KEYS", "app:*"]`); its output.
    pub fn command(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}); {INSTALL}"));
        assert!(output.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL server with a `tessera` superuser and trust authentication on loopback.
pub struct Postgres {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// Runs `initdb` in a temporary directory and starts `postgres` on a free port. As root
    /// (PostgreSQL refuses to run as root) both run as the `postgres` user.
    pub fn start() -> Self {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let user = run_as();
        if let Some((uid, _)) = user {
            let status = Command::new("chown")
                .arg("-R")
                .arg(uid.to_string())
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown of {} failed", dir.path().display());
        }
        let as_user = |command: &mut Command| {
            if let Some((uid, gid)) = user {
                command.uid(uid).gid(gid);
            }
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "tessera", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_user(&mut initdb);
        let out = initdb
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb ({e}); {INSTALL}"));
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = Self::spawn(dir.path(), port);
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    /// Stops the server at once (SIGQUIT: PostgreSQL's immediate shutdown, which ends every
    /// session without a checkpoint, as a crash would).
    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data (after [`Postgres::kill`]); it
    /// recovers from its write-ahead log, so committed data is kept.
    pub fn restart(&mut self) {
        self.child = Self::spawn(self._dir.path(), self.port);
    }

    fn spawn(dir: &Path, port: u16) -> Child {
        let log = dir.join("postgres.log");
        let user = run_as();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("postgres log");
        if let Some((uid, _)) = user {
            let _ = Command::new("chown")
                .arg(uid.to_string())
                .arg(&log)
                .status();
        }
        let mut server = Command::new(postgres_bin().join("postgres"));
        server
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(log_file);
        if let Some((uid, gid)) = user {
            server.uid(uid).gid(gid);
        }
        let mut child = server
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run postgres ({e}); {INSTALL}"));
        wait_for_port(port, &mut child, "postgres", &log);
        child
    }

    /// `postgres://tessera@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://tessera@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `<dir>/runtime.toml`, a runtime configuration that serves the `default` key-value
/// store from `redis` and the `default` SQL database from `postgres` (each one given; the
/// other stays embedded), and returns its path.
pub fn runtime_config(dir: &Path, redis: Option<&Redis>, postgres: Option<&Postgres>) -> PathBuf {
    let mut text = String::new();
    if let Some(redis) = redis {
        text.push_str(&format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\n",
            redis.url()
        ));
    }
    if let Some(postgres) = postgres {
        text.push_str(&format!(
            "[sql_database.default]\ntype = \"postgres\"\nurl = \"{}\"\n",
            postgres.url()
        ));
    }
    let file = dir.join("runtime.toml");
    std::fs::write(&file, text).expect("write runtime.toml");
    file
}

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap_or_else(|e| {
            panic!("PostgreSQL is not installed (/usr/lib/postgresql: {e}); {INSTALL}")
        })
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| panic!("no PostgreSQL version under /usr/lib/postgresql; {INSTALL}"))
}

/// The `postgres` user's uid and gid when running as root.
fn run_as() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if id("-u")? != 0 {
        return None;
    }
    let out = Command::new("id").args(["-u", "postgres"]).output().ok()?;
    let uid = String::from_utf8(out.stdout).ok()?.trim().parse().ok()?;
    let out = Command::new("id").args(["-g", "postgres"]).output().ok()?;
    let gid = String::from_utf8(out.stdout).ok()?.trim().parse().ok()?;
    Some((uid, gid))
}
