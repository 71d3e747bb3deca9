//! The crate's examples, built for the tests that run them as processes.

use std::path::PathBuf;
use std::process::Command;

/// Builds the example `name` (same target directory, profile and TLS feature as this test
/// binary) and returns its path. Cargo has released its lock by the time tests run.
pub fn build(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    // `target/debug`, or `target/<triple>/debug` when cross-compiling (no example then).
    let target_dir = profile_dir.parent().unwrap();
    assert!(
        target_dir.join("CACHEDIR.TAG").exists(),
        "{} is not a Cargo target directory",
        target_dir.display()
    );
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--example", name, "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // The variables Cargo sets for a test run would look like changed build inputs to
    // build scripts (ring reruns on CARGO_MANIFEST_DIR), so that this build and the
    // next `cargo test` would each rebuild half the tree.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        if var.starts_with("CARGO_PKG_")
            || var.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&var.as_ref())
        {
            cargo.env_remove(var.as_ref());
        }
    }
    if release {
        cargo.arg("--release");
    }
    if !cfg!(feature = "tls") {
        // The same library this test links: the client without TLS.
        cargo.args(["--no-default-features", "--features", "client"]);
    }
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("run cargo build --example {name}: {e}"));
    assert!(status.success(), "cargo build --example {name} failed");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} not found", path.display());
    path
}

/// What an example run printed, and how it ended.
pub struct Run {
    /// The exit code (`None` when a signal ended the process).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

/// Builds and runs example `name` with `args`, `stdin` as its whole input, and the client's
/// environment variables replaced by `env` (none of the caller's `OPENAI_*` settings leak in).
pub fn run(name: &str, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut command = Command::new(build(name));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "CHATSTREAM_ALLOW_INSECURE_HTTP",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("run the {name} example: {e}"));
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_bytes())
        .expect("write the example's stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait for the example");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
