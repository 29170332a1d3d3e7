//! A local SMTP server that accepts every message and keeps it, so tests hold a real SMTP conversation with plaza
//! (lettre) and read what was sent. Plain SMTP on 127.0.0.1, no TLS, no auth.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The raw message (headers and body), with quoted-printable soft breaks undone.
    pub data: String,
}

/// A running sink.
#[derive(Clone)]
pub struct SmtpSink {
    /// Its port.
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    /// Starts the sink on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().expect("addr").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, store.clone()));
            }
        });
        Self { port, messages }
    }

    /// `SMTP_URL` for plaza.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Received> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many messages were received so far (cheap: no copy).
    pub fn count(&self) -> usize {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The login-link token in the `count`-th email to `to` (waits up to 10 s for it).
    pub async fn login_token(&self, to: &str, count: usize) -> String {
        let messages = self.wait_for(to, count, Duration::from_secs(10)).await;
        assert!(
            messages.len() >= count,
            "expected {count} email(s) to {to}, got {}",
            messages.len()
        );
        let data = &messages[count - 1].data;
        let start = data.find("/auth/login/").expect("a login link") + "/auth/login/".len();
        data[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect()
    }

    /// Messages to `to` (waits up to `within` for at least `count`).
    pub async fn wait_for(&self, to: &str, count: usize, within: Duration) -> Vec<Received> {
        let started = std::time::Instant::now();
        loop {
            let found: Vec<Received> = self
                .messages()
                .into_iter()
                .filter(|m| m.to.iter().any(|t| t == to))
                .collect();
            if found.len() >= count || started.elapsed() > within {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn session(stream: tokio::net::TcpStream, store: Arc<Mutex<Vec<Received>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    let mut to = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(
                line[8..]
                    .trim()
                    .trim_matches(|c| c == '<' || c == '>')
                    .to_owned(),
            );
            b"250 ok\r\n"
        } else if upper.starts_with("DATA") {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                data.push_str(&line);
                data.push('\n');
            }
            let data = data.replace("=\n", "").replace("=3D", "=");
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Received {
                    to: std::mem::take(&mut to),
                    data,
                });
            b"250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
