//! A private `redis-server` on a free port, which a test may kill and restart (outage tests). Never the shared one.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A redis-server child process; killed on drop.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts redis-server on a free port and waits until it answers.
    pub async fn start() -> Self {
        let mut this = Self::reserved();
        this.restart().await;
        this
    }

    /// A server not started yet (a dependency that is down when the system under test starts): its URL is known,
    /// [`RedisServer::restart`] starts it.
    pub fn reserved() -> Self {
        Self {
            port: crate::live::free_port(),
            child: None,
        }
    }

    /// Connections holding a pattern subscription (`psub` > 0 in `CLIENT LIST`): `PUBSUB NUMPAT` counts unique
    /// patterns, and every plaza process subscribes the same one (its prefix), so this counts the processes.
    pub async fn pattern_subscribers(&self) -> Option<usize> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut conn)
            .await
            .ok()?;
        Some(
            list.lines()
                .filter(|line| {
                    line.split(' ')
                        .any(|field| field.starts_with("psub=") && field != "psub=0")
                })
                .count(),
        )
    }

    /// Subscribers of `channel` (`PUBSUB NUMSUB`): how many processes listen on it.
    pub async fn numsub(&self, channel: &str) -> Option<u64> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let (_, count): (String, u64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query_async(&mut conn)
            .await
            .ok()?;
        Some(count)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (`kill -9`, no graceful shutdown: an outage).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("valid URL");
        for _ in 0..100 {
            let pong = client
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
