//! End-to-end: the developer workflow. The README's "Your first component" word for word
//! (`tessera new rust`, `tessera build`, `tessera up`, curl), then `tessera build` skipping an
//! unchanged component and `tessera up --watch` swapping in an edited one; the Python and
//! JavaScript templates built and answering.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tessera_test_support::{Server, ServerOptions, WORKSPACE_ROOT, get};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

/// The README's walkthrough: the commands to run, then `(curl command, expected output)`.
fn walkthrough() -> (Vec<String>, Vec<(String, String)>) {
    let readme = std::fs::read_to_string(Path::new(WORKSPACE_ROOT).join("README.md"))
        .expect("read README.md");
    let start = readme
        .find("<!-- first-component:start -->")
        .expect("README has the first-component walkthrough");
    let end = readme[start..]
        .find("<!-- first-component:end -->")
        .expect("the walkthrough ends")
        + start;
    let (mut commands, mut curls) = (Vec::new(), Vec::new());
    for line in readme[start..end].lines() {
        let (command, comment) = match line.split_once("  #") {
            Some((command, comment)) => (command.trim(), comment.trim()),
            None => (line.trim(), ""),
        };
        if command.starts_with("curl ") {
            curls.push((command.to_string(), comment.to_string()));
        } else if command.starts_with("tessera ") || command.starts_with("mkdir ") {
            commands.push(command.to_string());
        }
    }
    assert!(
        commands.len() >= 3 && !curls.is_empty(),
        "walkthrough: {commands:?} {curls:?}"
    );
    (commands, curls)
}

/// Runs `tessera <args>` in `dir`; its stderr, after asserting success.
fn tessera(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(TESSERA)
        .args(args)
        .current_dir(dir)
        .env("TESSERA_LOG", "info")
        .env_remove("TESSERA_MANIFEST")
        .output()
        .expect("run tessera");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "tessera {args:?} failed:\n{stderr}"
    );
    stderr
}

/// Components built by these tests share one Cargo target directory, so the SDK and its
/// dependencies compile once per machine rather than once per test run.
fn share_cargo_target(component_dir: &Path) {
    let shared = Path::new(WORKSPACE_ROOT).join("target/template-tests");
    std::fs::create_dir_all(&shared).expect("create the shared target dir");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&shared, component_dir.join("target")).expect("symlink target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_then_build_skips_and_watch_swaps() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut dir = root.path().to_path_buf();
    let (commands, curls) = walkthrough();
    let mut server = None;
    for command in &commands {
        if let Some(rest) = command.strip_prefix("mkdir ") {
            let name = rest.split_whitespace().next().expect("a directory");
            std::fs::create_dir(dir.join(name)).expect("mkdir");
            assert!(rest.contains(&format!("cd {name}")), "{command}");
            dir = dir.join(name);
            continue;
        }
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        if args[0] == "up" {
            // The walkthrough's `tessera up`, on a free port instead of 3000.
            server = Some(Server::start_with(
                TESSERA,
                &dir.join("tessera.toml"),
                ServerOptions::default().args(args[1..].iter().copied()),
            ));
            continue;
        }
        tessera(&dir, &args);
        if args[0] == "new" {
            share_cargo_target(&dir.join(args[2]));
        }
    }
    let server = server.expect("the walkthrough starts the server");
    for (curl, expected) in &curls {
        let curl = curl.replace("127.0.0.1:3000", &server.addr().to_string());
        let output = Command::new("sh")
            .args(["-c", &format!("{curl} --silent --show-error")])
            .output()
            .expect("curl is installed (scripts/test.sh installs it)");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            expected,
            "{curl}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    drop(server);

    // Nothing changed: the second build runs nothing.
    let again = tessera(&dir, &["build"]);
    assert!(again.contains("build greeter: up to date"), "{again}");

    // --watch: an edit is rebuilt and served; a broken edit leaves the old version serving.
    // The manifest is named by a relative path, as a user in a shell would (file events name
    // absolute paths; the watcher must match them anyway).
    let server = Server::start_with(
        TESSERA,
        &relative_to_cwd(&dir.join("tessera.toml")),
        ServerOptions::default().args(["--watch"]),
    );
    server
        .wait_for_log(&["watching 1 component(s)"], Duration::from_secs(10))
        .expect("the server watches");
    let source = dir.join("greeter/src/lib.rs");
    let code = std::fs::read_to_string(&source).expect("read lib.rs");
    let saved = Instant::now();
    std::fs::write(
        &source,
        code.replace("Hello from greeter!", "Hello again from greeter!"),
    )
    .expect("edit lib.rs");
    let mut answer = String::new();
    while saved.elapsed() < Duration::from_secs(300) {
        answer = get(server.addr(), "/greeter").await.text();
        if answer.contains("again") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        answer.trim(),
        "Hello again from greeter!",
        "{}",
        server.log()
    );
    eprintln!(
        "save to new version serving: {:.2} s",
        saved.elapsed().as_secs_f64()
    );

    std::fs::write(&source, code.replace("fn handle", "fn handle(")).expect("break lib.rs");
    server
        .wait_for_log(
            &["build failed, the running version keeps serving"],
            Duration::from_secs(300),
        )
        .unwrap_or_else(|| panic!("the broken build is reported:\n{}", server.log()));
    assert_eq!(
        get(server.addr(), "/greeter").await.text().trim(),
        "Hello again from greeter!"
    );
}

/// `path` (absolute) relative to this process's working directory, which the server inherits.
fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().expect("a working directory");
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.join(path.strip_prefix("/").expect("an absolute path"))
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_templates_build_and_answer() {
    assert!(
        on_path("componentize-py"),
        "componentize-py is not on PATH: run the tests with scripts/test.sh, which installs it"
    );
    assert!(
        on_path("npm"),
        "npm is not installed: scripts/test.sh installs it"
    );
    let app = tempfile::tempdir().expect("tempdir");
    let dir: PathBuf = app.path().to_path_buf();
    tessera(&dir, &["new", "python", "pyhello"]);
    tessera(&dir, &["new", "js", "jshello"]);
    let built = tessera(&dir, &["build"]);
    assert!(built.contains("built 2, up to date 0, failed 0"), "{built}");

    let server = Server::start(TESSERA, &dir.join("tessera.toml"));
    let python = get(server.addr(), "/pyhello/x?y=1").await;
    assert_eq!(python.status, 200, "{}", python.text());
    assert_eq!(
        python.text(),
        "Hello from pyhello (Python)! You asked for /pyhello/x?y=1\n"
    );
    let js = get(server.addr(), "/jshello/abc").await;
    assert_eq!(js.status, 200, "{}", js.text());
    assert_eq!(
        js.text(),
        "Hello from jshello (JavaScript)! You asked for /jshello/abc\n"
    );

    // A second component with a taken name is refused, and the manifest is left alone.
    let manifest = std::fs::read_to_string(dir.join("tessera.toml")).expect("manifest");
    let output = Command::new(TESSERA)
        .args(["new", "rust", "pyhello"])
        .current_dir(&dir)
        .output()
        .expect("run tessera");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.join("tessera.toml")).expect("manifest"),
        manifest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_template_on_wasi_0_3_builds_and_answers() {
    let app = tempfile::tempdir().expect("tempdir");
    let dir: PathBuf = app.path().to_path_buf();
    tessera(&dir, &["new", "rust", "asynchello", "--wasi", "0.3"]);
    share_cargo_target(&dir.join("asynchello"));
    let built = tessera(&dir, &["build"]);
    assert!(built.contains("built 1, up to date 0, failed 0"), "{built}");

    let server = Server::start(TESSERA, &dir.join("tessera.toml"));
    let reply = get(server.addr(), "/asynchello").await;
    assert_eq!(
        (reply.status.as_u16(), reply.text().as_str()),
        (200, "Hello from asynchello!\n")
    );
    let reply = get(server.addr(), "/asynchello/hello/ada").await;
    assert_eq!(reply.text(), "Hello, ada!\n");
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--data", r#"{"message":"hi"}"#])
        .arg(format!("http://{}/asynchello/echo", server.addr()))
        .output()
        .expect("curl is installed (scripts/test.sh installs it)");
    assert_eq!(String::from_utf8_lossy(&output.stdout), r#"{"echo":"hi"}"#);

    // Only the rust template has a 0.3 variant.
    let output = Command::new(TESSERA)
        .args(["new", "python", "other", "--wasi", "0.3"])
        .current_dir(&dir)
        .output()
        .expect("run tessera");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("only the rust template"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
