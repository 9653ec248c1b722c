//! A system's server as a child process: started on a free loopback port in a process group
//! of its own, waited for, measured (peak resident memory of its whole process tree) and
//! stopped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::client::Client;
use crate::systems::{App, Paths, System};

/// How long a server may take to answer its first request (Spring starts in seconds;
/// `wasmtime serve` compiles the component first).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// A running server.
pub struct Running {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    /// When the process was spawned.
    pub spawned: Instant,
}

/// A free loopback port. Another process could take it before the server binds it; the
/// server then fails to start and says so.
fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// What to start: a system's server for an app, with a scratch directory of its own (for
/// its state, caches and log) and any extra environment.
pub struct Launch<'a> {
    system: &'a System,
    app: App,
    paths: &'a Paths,
    scratch: &'a Path,
    env: Vec<(&'static str, String)>,
}

impl<'a> Launch<'a> {
    /// `system`'s server for `app`.
    pub fn new(system: &'a System, app: App, paths: &'a Paths, scratch: &'a Path) -> Self {
        Self {
            system,
            app,
            paths,
            scratch,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for the server.
    #[must_use]
    pub fn env(mut self, key: &'static str, value: String) -> Self {
        self.env.push((key, value));
        self
    }

    /// Spawns the server without waiting for it; its output goes to `<scratch>/server.log`.
    pub fn spawn(&self) -> anyhow::Result<Running> {
        std::fs::create_dir_all(self.scratch)?;
        let addr = free_addr()?;
        let log = self.scratch.join("server.log");
        let out = std::fs::File::create(&log)?;
        let mut command = self
            .system
            .command(self.paths, self.app, addr, self.scratch);
        use std::os::unix::process::CommandExt as _;
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .env_remove("RUST_BACKTRACE")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .process_group(0);
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command.spawn().with_context(|| {
            format!(
                "cannot start {} ({program}); did scripts/study.sh install it?",
                self.system.id
            )
        })?;
        Ok(Running {
            child,
            addr,
            log,
            spawned: Instant::now(),
        })
    }

    /// Spawns the server and waits until it answers 200.
    pub fn start(&self) -> anyhow::Result<Running> {
        let mut running = self.spawn()?;
        let ready = self.system.ready_path(self.app);
        running.wait_ready(&ready, START_TIMEOUT).with_context(|| {
            format!(
                "{} did not start; the end of its log ({}):\n{}",
                self.system.id,
                running.log.display(),
                running.log_tail()
            )
        })?;
        Ok(running)
    }
}

impl Running {
    /// Polls `path` every millisecond until it answers 200; the time since the spawn.
    pub fn wait_ready(&mut self, path: &str, timeout: Duration) -> anyhow::Result<Duration> {
        let client = Client::new(Duration::from_secs(5));
        loop {
            if let Ok(reply) = client.get(self.addr, path)
                && reply.status == 200
            {
                return Ok(self.spawned.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("it exited ({status})");
            }
            if self.spawned.elapsed() > timeout {
                bail!(
                    "{path} did not answer 200 within {}",
                    humantime::format_duration(timeout)
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The last lines of its output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The peak resident memory (`VmHWM`) of the server and every process below it, summed,
    /// in KiB. Worker processes or threads the runtime started are all counted.
    pub fn peak_rss_kb(&self) -> u64 {
        process_tree(self.child.id())
            .into_iter()
            .filter_map(|pid| status_field(pid, "VmHWM:"))
            .sum()
    }

    /// Stops the server's process group: SIGTERM, then SIGKILL after 5 s.
    pub fn stop(mut self) {
        let group = format!("-{}", self.child.id());
        let kill = |signal: &str| {
            let _ = std::process::Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill("-KILL");
        let _ = self.child.wait();
    }
}

/// `pid` and its descendants, from `/proc/<pid>/stat`'s parent field.
fn process_tree(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // The command name is in parentheses and may hold spaces; fields follow it.
            let parent = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((child, parent))
        })
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    tree
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_peak() {
        let me = std::process::id();
        assert!(process_tree(me).contains(&me));
        assert!(status_field(me, "VmHWM:").is_some_and(|kb| kb > 0));
    }
}
