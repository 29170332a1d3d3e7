//! Live-server helpers: start the socket.io server in-process on port 0 (or as a real `plaza --mode live`
//! process), and drive it with the official JS `socket.io-client` through `tests/js/puppet.mjs` (one node process
//! per client, commands on stdin, events as JSON lines on stdout).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use plaza_server::AppState;
use plaza_server::live::LiveServer;
use plaza_server::live::fallback::Fallback;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A live server running in this process. Stops (closing its sockets) when dropped.
pub struct TestLive {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The socket.io path.
    pub path: String,
    shutdown: CancellationToken,
}

impl TestLive {
    /// Starts a live server over `state` (a separate process as far as the visitor count is concerned: each
    /// server is its own node).
    pub async fn start(state: &AppState) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let shutdown = CancellationToken::new();
        let server = LiveServer::build(
            state.clone(),
            listener,
            Fallback::Probes(Box::new(state.clone())),
            shutdown.clone(),
        )
        .await
        .expect("live server builds");
        let address = format!("http://127.0.0.1:{}", server.port());
        tokio::spawn(server.run());
        Self {
            address,
            path: state.config.socket_path.clone(),
            shutdown,
        }
    }

    /// A websocket client of this server.
    pub async fn client(&self) -> JsClient {
        JsClient::connect(
            &self.address,
            &self.path,
            json!({"transports": ["websocket"]}),
        )
        .await
    }

    /// Stops the server gracefully (sockets closed, its visitor share removed).
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for TestLive {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `tests/js`, where `npm ci` installed socket.io-client (scripts/test does it).
pub fn js_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/js"))
}

/// One socket.io-client (in a node process) and the events it received.
pub struct JsClient {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Every message received so far, in order.
    pub seen: Vec<Value>,
}

/// How long a test waits for an expected event.
pub const WAIT: Duration = Duration::from_secs(10);

impl JsClient {
    /// Starts a client for `url` + `path` with socket.io-client `options` and waits until it is connected.
    pub async fn connect(url: &str, path: &str, options: Value) -> Self {
        let mut client = Self::start(url, path, options);
        client
            .next(WAIT, |m| m["type"] == "connect")
            .await
            .unwrap_or_else(|| panic!("no connect to {url}{path}; got {:?}", client.seen));
        client
    }

    /// Starts a client without waiting for anything.
    pub fn start(url: &str, path: &str, options: Value) -> Self {
        let mut child = Command::new("node")
            .arg(js_dir().join("puppet.mjs"))
            .args([url, path, &options.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node is installed (Node 20+)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                match serde_json::from_str::<Value>(&line) {
                    Ok(value) => {
                        if tx.send(value).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("puppet: {line}"),
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Emits `event` with `args` (a JSON array).
    pub async fn emit(&mut self, event: &str, args: Value) {
        let line = json!({"op": "emit", "event": event, "args": args}).to_string() + "\n";
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("puppet stdin");
    }

    /// The next message (after those already consumed) matching `predicate`, within `within`.
    pub async fn next(
        &mut self,
        within: Duration,
        mut predicate: impl FnMut(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(message)) => {
                    self.seen.push(message.clone());
                    if predicate(&message) {
                        return Some(message);
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The arguments of the next `event` received within `within`.
    pub async fn event(&mut self, event: &str, within: Duration) -> Option<Value> {
        self.next(within, |m| m["type"] == "event" && m["event"] == event)
            .await
            .map(|m| m["args"].clone())
    }

    /// Waits until a `site-visitors` event carries `count`; true if it came within `within`.
    pub async fn sees_visitors(&mut self, count: i64, within: Duration) -> bool {
        self.next(within, |m| {
            m["type"] == "event" && m["event"] == "site-visitors" && m["args"][0] == count
        })
        .await
        .is_some()
    }

    /// Closes the client (a clean socket.io disconnect).
    pub async fn close(mut self) {
        let _ = self.stdin.write_all(b"{\"op\":\"close\"}\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// A free TCP port on 127.0.0.1 (released before returning; fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A real `plaza` process (built binary) in some mode; killed (SIGKILL, a crash) on drop or by [`PlazaProcess::kill`].
/// Its stderr (the logs) goes to a file beside it, read by [`PlazaProcess::logs`].
pub struct PlazaProcess {
    /// `http://127.0.0.1:<port>` of its listener.
    pub address: String,
    child: Option<std::process::Child>,
    log: tempfile::NamedTempFile,
}

impl PlazaProcess {
    /// Starts `plaza --mode <mode>` listening on a free port (`LISTEN_ADDR`) with `vars`, in `dir`; waits until
    /// `/healthz` answers.
    pub async fn start(mode: &str, dir: &std::path::Path, vars: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut cmd = std::process::Command::new(crate::plaza_bin());
        cmd.args(["--mode", mode])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "RUST_LOG",
                if std::env::var_os("TEST_LOG").is_some() {
                    "info"
                } else {
                    "warn"
                },
            )
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log file"));
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("plaza starts");
        let this = Self {
            address: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            log,
        };
        let client = reqwest::Client::new();
        let url = format!("{}/healthz", this.address);
        let up = crate::eventually(Duration::from_secs(20), || async {
            client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(
            up.is_some(),
            "plaza --mode {mode} did not answer {url}: {}",
            this.logs()
        );
        this
    }

    /// What the process logged so far (stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Sends SIGTERM (a normal stop) and waits up to `within` for the exit; returns how long it took (`None`: it
    /// had not exited, and was killed).
    pub fn terminate(&mut self, within: Duration) -> Option<Duration> {
        let mut child = self.child.take()?;
        let started = std::time::Instant::now();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < within {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kills the process without warning (no clean shutdown: a crashed pod).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PlazaProcess {
    fn drop(&mut self) {
        self.kill();
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!("--- plaza {} ---\n{}", self.address, self.logs());
        }
    }
}
