//! The machine the study ran on and the version of every runtime and framework, for the
//! report. Anything that cannot be asked is reported as such, not guessed.

use std::process::Command;

use crate::systems::Paths;

/// What the report says about the set-up.
#[derive(Debug, Clone)]
pub struct Machine {
    /// When (UTC).
    pub date: String,
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cores: usize,
    /// Total memory.
    pub memory: String,
    /// Kernel release.
    pub kernel: String,
    /// Component and version, e.g. ("Node.js", "v20.20.2").
    pub versions: Vec<(String, String)>,
}

/// The first line of a command's output (stdout, else stderr), if it ran.
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = if output.stdout.is_empty() {
        output.stderr
    } else {
        output.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|line| line.trim().to_string())
        .filter(|line| !line.is_empty())
}

/// A Debian package's installed version.
fn debian(package: &str) -> Option<String> {
    first_line("dpkg-query", &["-W", "-f=${Version}", package])
}

/// The `version` of an npm package installed under `dir`.
fn npm_version(dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("package.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["version"].as_str().map(str::to_string)
}

/// Describes this machine and what is installed.
pub fn describe(paths: &Paths) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0),
        );
    let root = paths.root.to_string_lossy();
    let commit = first_line("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let dirty = Command::new("git")
        .args(["-C", &root, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    let venv_python = paths.fastapi_venv().join("bin/python");
    let python_packages = first_line(
        &venv_python.to_string_lossy(),
        &[
            "-c",
            "import fastapi, uvicorn, numpy; print(f'FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, NumPy {numpy.__version__}')",
        ],
    );
    let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    let versions = [
        (
            "Tessera",
            commit.map(|c| {
                format!(
                    "commit {c}{}",
                    if dirty { " with local changes" } else { "" }
                )
            }),
        ),
        (
            "tessera binary",
            first_line(&path(paths.bin_dir.join("tessera")), &["--version"]),
        ),
        ("Rust", first_line("rustc", &["--version"])),
        (
            "wasmtime serve",
            first_line(&path(paths.wasmtime()), &["--version"]),
        ),
        ("Go", first_line("go", &["version"])),
        (
            "Gin",
            debian("golang-github-gin-gonic-gin-dev").map(|v| format!("{v} (Debian)")),
        ),
        ("Node.js", first_line("node", &["--version"])),
        (
            "Express",
            npm_version(
                &paths
                    .root
                    .join("bench/study/peers/express/node_modules/express"),
            ),
        ),
        ("Bun", first_line(&path(paths.bun()), &["--version"])),
        ("Java", first_line("java", &["-version"])),
        (
            "Spring",
            debian("libspring-web-servlet-java").map(|v| format!("{v} (Debian)")),
        ),
        (
            "Tomcat",
            debian("libtomcat9-java").map(|v| format!("{v} (Debian)")),
        ),
        ("Python", first_line(&path(venv_python), &["--version"])),
        ("Python packages", python_packages),
        ("oha", first_line(&path(paths.oha()), &["--version"])),
    ]
    .into_iter()
    .map(|(name, version)| {
        (
            name.to_string(),
            version.unwrap_or_else(|| "not installed".into()),
        )
    })
    .collect();
    Machine {
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        cpu,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        memory,
        kernel: first_line("uname", &["-r"]).unwrap_or_else(|| "unknown".into()),
        versions,
    }
}
