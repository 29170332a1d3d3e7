//! Live-server helpers: start the socket.io server in-process on port 0 (or as a real `plaza --mode live`
//! process), and drive it with the official JS `socket.io-client` through `tests/js/puppet.mjs` (one node process
//! per client, commands on stdin, events as JSON lines on stdout).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use plaza_server::AppState;
use plaza_server::live::LiveServer;
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
        let server = LiveServer::build(state.clone(), listener, shutdown.clone())
            .await
            .expect("live server builds");
        let address = format!(
            "http://127.0.0.1:{}",
            server.port().expect("its own listener")
        );
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

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100)
}

/// A websocket stream of tokio-tungstenite.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next engine.io text packet other than a ping, answering pings on the way (the server pings at once after
/// the handshake, often before the namespace is joined: a client that ignores that ping is dropped 20 s later).
pub async fn next_packet(ws: &mut Ws) -> Option<String> {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        if text.as_str() == "2" {
            ws.send(Message::text("3")).await.ok()?;
            continue;
        }
        return Some(text.as_str().to_owned());
    }
    None
}

/// Opens an engine.io v4 websocket to `url` (`ws://host/path/?EIO=4&transport=websocket`) and joins the default
/// socket.io namespace; returns the stream once socket.io acknowledged it.
pub async fn open_socket(url: &str) -> anyhow::Result<Ws> {
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    // tungstenite zero-fills its whole read buffer before every read (128 KiB by default, twice per message with
    // the read that finds the socket empty): at 10,000 clients that memset alone would dominate. 1 KiB, as plaza's
    // live server uses (longer messages take more reads).
    let config = WebSocketConfig::default().read_buffer_size(1024);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    join_namespace(ws).await
}

/// Like [`open_socket`], over a TCP connection whose receive buffer is `bytes` (the kernel's least is about 2 KiB):
/// a client that stops reading then closes its window after a few messages, and the server's sends back up.
pub async fn open_socket_with_receive_buffer(url: &str, bytes: u32) -> anyhow::Result<Ws> {
    let uri: tokio_tungstenite::tungstenite::http::Uri = url.parse()?;
    let host = uri.host().unwrap_or("127.0.0.1");
    let port = uri.port_u16().unwrap_or(80);
    let address = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} resolves to nothing"))?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(bytes)?;
    let stream = socket.connect(address).await?;
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await?;
    join_namespace(ws).await
}

/// The engine.io open packet, then the default socket.io namespace joined: the stream once socket.io acknowledged it.
async fn join_namespace(mut ws: Ws) -> anyhow::Result<Ws> {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    // engine.io open packet, then join the default namespace.
    loop {
        match next_packet(&mut ws).await {
            Some(text) if text.starts_with('0') => break,
            Some(_) => {}
            None => anyhow::bail!("closed before the engine.io open packet"),
        }
    }
    ws.send(Message::text("40")).await?;
    loop {
        match next_packet(&mut ws).await {
            Some(text) if text.starts_with("40") => break,
            Some(text) if text.starts_with("44") => anyhow::bail!("connect refused: {text}"),
            Some(_) => {}
            None => anyhow::bail!("closed before the socket.io connect"),
        }
    }
    Ok(ws)
}

/// A socket.io client speaking the protocol by hand over a raw websocket (tokio-tungstenite): for what the official
/// client would never send (floods, oversized frames).
pub struct RawSocket {
    ws: Ws,
}

impl RawSocket {
    /// Connects to the live server at `address` (`http://host:port`) on socket.io `path`.
    pub async fn connect(address: &str, path: &str) -> anyhow::Result<Self> {
        let host = address.trim_start_matches("http://");
        let url = format!("ws://{host}{path}/?EIO=4&transport=websocket");
        Ok(Self {
            ws: open_socket(&url).await?,
        })
    }

    /// Emits one event: `args` is the socket.io array `[event, ...arguments]`.
    pub async fn emit(&mut self, args: &Value) -> anyhow::Result<()> {
        self.send_text(format!("42{args}")).await
    }

    /// Sends one websocket text message as it is.
    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        use futures_util::SinkExt as _;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await?;
        Ok(())
    }

    /// Reads (answering pings) until the server disconnects the socket (a socket.io disconnect packet) or closes
    /// the connection; true if it did within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            while let Some(packet) = next_packet(&mut self.ws).await {
                if packet.starts_with("41") {
                    return;
                }
            }
        })
        .await
        .is_ok()
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

    /// The process id (for `/proc/<pid>/…` figures).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// CPU time (user + system) the process has used so far, from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc stat");
        // Fields after the command name (which may hold spaces) start at "state" (field 3): utime = 14, stime = 15.
        let after = stat.rsplit_once(')').expect("stat has a command name").1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
    }

    /// Resident memory of the process now, in bytes (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmRSS");
        kib * 1024
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

/// A tab of the official socket.io client at `address` + `path`, signed in as `token`; returns once `auth` is bound
/// (a socket's events are handled in order, so the `apiError` of the malformed metric sent after it proves it).
pub async fn signed_in_tab(address: &str, path: &str, token: &str) -> JsClient {
    let options = json!({"transports": ["websocket"], "reconnection": false});
    let mut tab = JsClient::connect(address, path, options).await;
    tab.emit("auth", json!([token])).await;
    tab.emit("trackMetric", json!(["nope/never", {}])).await;
    let reply = tab
        .event("apiError", Duration::from_secs(10))
        .await
        .expect("the metric is refused");
    assert_eq!(
        reply[0]["codes"],
        json!(["metrics.badEvent"]),
        "auth was accepted: {:?}",
        tab.seen
    );
    tab
}
