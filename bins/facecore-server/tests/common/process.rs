//! The real `facecore-server` binary as a child process.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `facecore-server` child process.
pub struct Running {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Its stdout, line by line.
    pub lines: mpsc::Receiver<String>,
    /// The key printed on a first start.
    pub first_key: Option<String>,
    /// What it printed before it said it was listening.
    pub startup: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Never leave a server behind when a test fails.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server binary: `FACECORE_SERVER_BIN` when set (the xtasks point it
/// at the release build), else the one cargo built for these tests.
pub fn server_exe() -> std::path::PathBuf {
    std::env::var_os("FACECORE_SERVER_BIN")
        .filter(|p| !p.is_empty())
        .map_or_else(
            || env!("CARGO_BIN_EXE_facecore-server").into(),
            std::path::PathBuf::from,
        )
}

/// Starts the binary on 127.0.0.1:0 with `data_dir`, waits for "listening".
/// The returned guard kills and waits for the child when dropped.
pub fn start(data_dir: &Path) -> Running {
    start_with(data_dir, &[], &[])
}

/// As [`start`], with more command-line settings and environment variables.
pub fn start_with(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(server_exe());
    command
        .args([
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .envs(env.iter().copied())
        .env_remove("FACECORE_CONFIG")
        .env_remove("FACECORE_BIND");
    spawn(command)
}

/// Spawns `command` (which runs the server, perhaps through a wrapper),
/// reads its stdout and waits for "listening"; picks up a first-start key.
#[allow(clippy::zombie_processes)]
pub fn spawn(mut command: Command) -> Running {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn facecore-server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut first_key = None;
    let mut startup = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(120))
            .expect("server did not say it was listening");
        startup.push(line.clone());
        let trimmed = line.trim();
        if trimmed.starts_with("fc_") {
            first_key = Some(trimmed.to_string());
        }
        if let Some(rest) = line.strip_prefix("facecore-server: listening on ") {
            let base = rest.split_whitespace().next().expect("address").to_string();
            return Running {
                child,
                base,
                lines,
                first_key,
                startup,
            };
        }
    }
}

/// Sends SIGTERM.
pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// One request on the admin socket of a running server.
pub fn admin(data_dir: &Path, request: &serde_json::Value) -> serde_json::Value {
    let mut stream =
        std::os::unix::net::UnixStream::connect(data_dir.join("admin.sock")).expect("admin socket");
    writeln!(stream, "{request}").expect("write");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("read");
    serde_json::from_str(&line).expect("json")
}

/// The value of `field` (`VmRSS`, `Uid`, ...) in `/proc/<pid>/status`, where
/// `pid` is a number or `self`; `None` when the process or field is not there.
pub fn proc_status(pid: &str, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// A memory field of `/proc/<pid>/status` (given there in kB), in bytes.
pub fn proc_status_bytes(pid: &str, field: &str) -> Option<u64> {
    let kb: u64 = proc_status(pid, field)?
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
