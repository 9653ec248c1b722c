//! The systems the study compares, and how to start each one's server.
//!
//! Every system serves `GET /api/matmul?n=` with the study's matrices, the naive i-k-j kernel
//! (unless its row says otherwise), the checksum and the JSON of `examples/matmul`, and the
//! FastServe `/api/health` and `/api/compute`. Their sources are under `bench/study/peers/`;
//! `scripts/study.sh` installs and builds them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where things are: the repository, the Rust binaries, the installed tools.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The repository root.
    pub root: PathBuf,
    /// Where `tessera` and `study-axum` are (`target/release` unless told).
    pub bin_dir: PathBuf,
    /// Where `scripts/study.sh` installed wasmtime, Bun, the Go binary and oha.
    pub tools_dir: PathBuf,
}

impl Paths {
    fn peer(&self, name: &str) -> PathBuf {
        self.root.join("bench/study/peers").join(name)
    }

    /// The matmul component, as `examples/matmul/tessera.toml` builds it.
    pub fn matmul_wasm(&self) -> PathBuf {
        self.root
            .join("target/wasm-simd/wasm32-wasip2/release/matmul.wasm")
    }

    /// A FastServe component, as `examples/fastserve/tessera.toml` builds it.
    pub fn fastserve_wasm(&self, component: &str) -> PathBuf {
        self.root.join(format!(
            "target/wasm/wasm32-wasip2/release/fastserve_{component}.wasm"
        ))
    }

    /// `wasmtime`, installed by the script with `cargo install wasmtime-cli`.
    pub fn wasmtime(&self) -> PathBuf {
        self.tools_dir.join("wasmtime/bin/wasmtime")
    }

    /// `oha`, installed by the script with `cargo install oha`.
    pub fn oha(&self) -> PathBuf {
        self.tools_dir.join("oha/bin/oha")
    }

    /// `bun`, installed by the script from the `bun` npm package.
    pub fn bun(&self) -> PathBuf {
        self.tools_dir.join("bun/node_modules/.bin/bun")
    }

    /// The Gin peer, built by the script.
    pub fn gin(&self) -> PathBuf {
        self.tools_dir.join("gin/study-gin")
    }

    /// The FastAPI peer's virtual environment.
    pub fn fastapi_venv(&self) -> PathBuf {
        self.peer("fastapi").join(".venv")
    }
}

/// Which server program a system runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// `tessera up`.
    Tessera,
    /// `wasmtime serve` 48 on the same component.
    Wasmtime,
    /// The axum peer (`study-axum`).
    Axum,
    /// The Gin peer.
    Gin,
    /// The Express peer on Node.js.
    Express,
    /// The same Express peer on Bun.
    Bun,
    /// The Spring MVC peer on Tomcat.
    Spring,
    /// The FastAPI peer on uvicorn.
    Fastapi,
}

/// What a server is started to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// `/api/matmul` (and, for the peers, the FastServe routes).
    Matmul,
    /// One FastServe route: `wasmtime serve` runs one component per process, so it gets the
    /// component that answers this path; every other server answers it with its usual app.
    FastServe(&'static str),
    /// Tessera's FastServe app with the `compression` middleware on every route.
    FastServeGzip,
}

/// One row of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct System {
    /// Its id, as `--systems` names it.
    pub id: &'static str,
    /// What it is, for the report.
    pub label: &'static str,
    /// The algorithm, for the report: every row but two runs the same naive loop.
    pub algorithm: &'static str,
    /// The server it runs.
    pub server: Server,
    /// The `kernel` query parameter its matmul requests carry, if any.
    pub kernel: Option<&'static str>,
}

/// Every system, in the order tables and plots list them.
pub const ALL: &[System] = &[
    System {
        id: "tessera",
        label: "Tessera (examples/matmul, Wasm)",
        algorithm: "naive i-k-j",
        server: Server::Tessera,
        kernel: None,
    },
    System {
        id: "tessera-fast",
        label: "Tessera, kernel=fast (Wasm)",
        algorithm: "cache-blocked, 128-bit SIMD (a different algorithm)",
        server: Server::Tessera,
        kernel: Some("fast"),
    },
    System {
        id: "wasmtime",
        label: "wasmtime serve 48 (same component)",
        algorithm: "naive i-k-j",
        server: Server::Wasmtime,
        kernel: None,
    },
    System {
        id: "axum",
        label: "axum (native Rust)",
        algorithm: "naive i-k-j",
        server: Server::Axum,
        kernel: None,
    },
    System {
        id: "gin",
        label: "Gin (Go)",
        algorithm: "naive i-k-j",
        server: Server::Gin,
        kernel: None,
    },
    System {
        id: "express",
        label: "Express 5 (Node.js)",
        algorithm: "naive i-k-j",
        server: Server::Express,
        kernel: None,
    },
    System {
        id: "bun",
        label: "Express 5 on Bun",
        algorithm: "naive i-k-j",
        server: Server::Bun,
        kernel: None,
    },
    System {
        id: "spring",
        label: "Spring MVC on Tomcat (Java)",
        algorithm: "naive i-k-j",
        server: Server::Spring,
        kernel: None,
    },
    System {
        id: "fastapi",
        label: "FastAPI on uvicorn (pure Python)",
        algorithm: "naive i-k-j",
        server: Server::Fastapi,
        kernel: None,
    },
    System {
        id: "fastapi-numpy",
        label: "FastAPI with NumPy",
        algorithm: "NumPy's BLAS (a different algorithm)",
        server: Server::Fastapi,
        kernel: Some("numpy"),
    },
];

/// The system called `id`.
pub fn find(id: &str) -> Option<&'static System> {
    ALL.iter().find(|s| s.id == id)
}

impl System {
    /// Whether this is one of Tessera's rows, which the t-tests compare with the others.
    pub fn is_tessera(&self) -> bool {
        self.server == Server::Tessera
    }

    /// The matmul request for size `n`.
    pub fn matmul_path(&self, n: usize) -> String {
        match self.kernel {
            Some(kernel) => format!("/api/matmul?n={n}&kernel={kernel}"),
            None => format!("/api/matmul?n={n}"),
        }
    }

    /// The command that starts this system's server for `app` on `addr`; `scratch` is a
    /// directory of its own for state and caches.
    pub fn command(&self, paths: &Paths, app: App, addr: SocketAddr, scratch: &Path) -> Command {
        let listen = addr.to_string();
        match self.server {
            Server::Tessera => {
                let manifest = match app {
                    App::Matmul => paths.root.join("examples/matmul/tessera.toml"),
                    App::FastServe(_) => paths.root.join("examples/fastserve/tessera.toml"),
                    App::FastServeGzip => scratch.join("fastserve-gzip.toml"),
                };
                let mut command = Command::new(paths.bin_dir.join("tessera"));
                command
                    .arg("up")
                    .arg("--manifest")
                    .arg(manifest)
                    .args(["--listen", &listen, "--cache-dir"])
                    .arg(scratch.join("compile-cache"))
                    .arg("--state-dir")
                    .arg(scratch.join("state"))
                    .env("TESSERA_LOG", "warn");
                command
            }
            Server::Wasmtime => {
                let component = match app {
                    App::Matmul => paths.matmul_wasm(),
                    App::FastServe(path) => paths.fastserve_wasm(
                        path.trim_start_matches("/api/")
                            .split('?')
                            .next()
                            .unwrap_or_default(),
                    ),
                    App::FastServeGzip => unreachable!("only Tessera serves the gzip variant"),
                };
                let mut command = Command::new(paths.wasmtime());
                // -S cli: the components' std imports wasi:cli; the default limits (no
                // timeout, so no epoch checks; 4 GiB of memory) are wasmtime serve's own.
                command
                    .args(["serve", "-S", "cli", "--addr", &listen])
                    .arg(component);
                command
            }
            Server::Axum => {
                let mut command = Command::new(paths.bin_dir.join("study-axum"));
                command.arg(&listen);
                command
            }
            Server::Gin => {
                let mut command = Command::new(paths.gin());
                command.arg(&listen).env("GIN_MODE", "release");
                command
            }
            Server::Express | Server::Bun => {
                let program = if self.server == Server::Express {
                    PathBuf::from("node")
                } else {
                    paths.bun()
                };
                let mut command = Command::new(program);
                command
                    .arg(paths.peer("express").join("server.js"))
                    .arg(&listen)
                    .env("NODE_ENV", "production");
                command
            }
            Server::Spring => {
                let classpath = std::fs::read_to_string(paths.peer("spring").join("classpath"))
                    .unwrap_or_default();
                let mut command = Command::new("java");
                command
                    .args(["-cp", classpath.trim(), "StudySpring", &listen])
                    .current_dir(scratch);
                command
            }
            Server::Fastapi => {
                let mut command = Command::new(paths.fastapi_venv().join("bin/uvicorn"));
                command
                    .args(["--host", &addr.ip().to_string(), "--port"])
                    .arg(addr.port().to_string())
                    .args(["--log-level", "warning", "--no-access-log", "main:app"])
                    .current_dir(paths.peer("fastapi"));
                command
            }
        }
    }

    /// The request that says the server is up (200) for `app`.
    pub fn ready_path(&self, app: App) -> String {
        match (self.server, app) {
            // wasmtime serve answers every path with its one component.
            (Server::Wasmtime, App::FastServe(path)) => path.to_string(),
            (Server::Tessera | Server::Wasmtime, App::Matmul) => self.matmul_path(1),
            _ => "/api/health".into(),
        }
    }
}

/// The first system of each server among `systems`: rows that share a server
/// (`tessera-fast`, `fastapi-numpy`) start and answer FastServe's routes the same way.
pub fn one_per_server<'a>(systems: &[&'a System]) -> Vec<&'a System> {
    let mut seen: Vec<Server> = Vec::new();
    systems
        .iter()
        .filter(|s| {
            let first = !seen.contains(&s.server);
            seen.push(s.server);
            first
        })
        .copied()
        .collect()
}

/// Parses `--systems`: ids separated by commas, or `all`.
pub fn parse_list(list: &str) -> Result<Vec<&'static System>, String> {
    if list == "all" {
        return Ok(ALL.iter().collect());
    }
    list.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            find(id).ok_or_else(|| {
                let known: Vec<&str> = ALL.iter().map(|s| s.id).collect();
                format!("unknown system {id:?}: use some of {}", known.join(","))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_the_given_order() {
        let ids: Vec<&str> = parse_list("axum, tessera")
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["axum", "tessera"]);
        assert_eq!(parse_list("all").unwrap().len(), ALL.len());
        assert!(
            parse_list("tessera,django")
                .unwrap_err()
                .contains("\"django\"")
        );
    }

    #[test]
    fn kernels_go_in_the_query() {
        assert_eq!(find("tessera").unwrap().matmul_path(5), "/api/matmul?n=5");
        assert_eq!(
            find("tessera-fast").unwrap().matmul_path(5),
            "/api/matmul?n=5&kernel=fast"
        );
    }
}
