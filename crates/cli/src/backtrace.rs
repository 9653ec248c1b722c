//! Backtraces in error values: off unless asked for by name.
//!
//! Wasmtime reports a guest's trap (a panic, an overflowed stack, a deadline) as an
//! `anyhow::Error`, and such an error walks the stack when it is made if `RUST_BACKTRACE` is
//! set: about 10 µs of CPU per failing request for a backtrace nobody prints (Tessera logs the
//! error's message and the guest's own backtrace, which Wasmtime records separately). This
//! machine's environment, like many developers', sets `RUST_BACKTRACE=1`; with it, a route whose
//! every request traps served ~10 % fewer requests (docs/performance.md).
//!
//! The standard library reads `RUST_LIB_BACKTRACE` before `RUST_BACKTRACE` for backtraces
//! captured in values, and only `RUST_BACKTRACE` for panics. Setting the former to `0` turns off
//! the first kind and keeps the second: a panic in the host still prints its backtrace. A user
//! who sets `RUST_LIB_BACKTRACE` themselves keeps their setting.

/// Turns off backtraces in error values unless `RUST_LIB_BACKTRACE` says otherwise.
///
/// Call it first thing in `main`, before any other thread exists.
#[allow(unsafe_code)]
pub fn quiet_error_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: setting a variable is unsound only while another thread reads or writes the
        // environment; `main` calls this before it starts any thread.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

#[cfg(test)]
mod tests {
    use std::backtrace::BacktraceStatus;
    use std::process::Command;

    /// The child half of the tests below: runs alone in a fresh process (so that nothing else
    /// touches the environment, and the standard library has not yet cached its decision),
    /// then prints whether an error value captured a backtrace.
    #[test]
    fn child_reports_capture() {
        if std::env::var_os("TESSERA_BACKTRACE_CHILD").is_none() {
            return;
        }
        super::quiet_error_backtraces();
        let error = anyhow::anyhow!("a guest trapped");
        let captured = error.backtrace().status() == BacktraceStatus::Captured;
        println!("captured={captured}");
    }

    /// Runs `child_reports_capture` in a new process with `env`, and returns what it printed.
    fn capture_in_child(env: &[(&str, &str)]) -> bool {
        let mut child = Command::new(std::env::current_exe().expect("the test binary's path"));
        child
            .args([
                "--exact",
                "backtrace::tests::child_reports_capture",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env("TESSERA_BACKTRACE_CHILD", "1")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
        for (name, value) in env {
            child.env(name, value);
        }
        let output = child.output().expect("the test binary runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {stdout}");
        if stdout.contains("captured=true") {
            true
        } else if stdout.contains("captured=false") {
            false
        } else {
            panic!("the child test did not run: {stdout}")
        }
    }

    #[test]
    fn rust_backtrace_no_longer_reaches_error_values() {
        assert!(!capture_in_child(&[("RUST_BACKTRACE", "1")]));
    }

    #[test]
    fn an_explicit_rust_lib_backtrace_is_kept() {
        assert!(capture_in_child(&[
            ("RUST_BACKTRACE", "1"),
            ("RUST_LIB_BACKTRACE", "1")
        ]));
    }
}
