//! `all` on one port (issue #19): the HTTP API owns the port and serves socket.io itself, so an API request takes no
//! second HTTP hop — the process listens on exactly one TCP port — while the official socket.io client connects
//! over long-polling, over websocket, and upgrading from one to the other, and a websocket upgrade works on a
//! keep-alive connection that first served an API request.

use std::time::Duration;

use futures_util::SinkExt as _;
use plaza_tests::live::{JsClient, PlazaProcess, WAIT, Ws, next_packet};
use plaza_tests::storage::TempDir;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;

/// The TCP ports `pid` listens on (its sockets in state LISTEN in `/proc/net/tcp{,6}`).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc fd")
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address = fields[1] ("ADDR:PORT" in hex), st = fields[3] (0A: LISTEN), inode = fields[9].
            if fields.len() > 9 && fields[3] == "0A" && inodes.iter().any(|i| i == fields[9]) {
                let port = fields[1].rsplit(':').next().expect("port");
                ports.push(u16::from_str_radix(port, 16).expect("hex port"));
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn socket_path() -> &'static str {
    "/api/socket.io"
}

/// Reads one HTTP/1.1 response with a `Content-Length` from `stream`, exactly (nothing of what follows); returns
/// its head and body.
async fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.expect("read head");
        assert_eq!(n, 1, "closed mid-head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("utf-8 head");
    let length = plaza_tests::content_length(&head);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("read body");
    (head, body)
}

/// Joins socket.io's default namespace over an engine.io websocket that is already open.
async fn join(ws: &mut Ws) {
    loop {
        match next_packet(ws).await {
            Some(text) if text.starts_with('0') => break,
            Some(_) => {}
            None => panic!("closed before the engine.io open packet"),
        }
    }
    ws.send(Message::text("40")).await.expect("send connect");
    loop {
        match next_packet(ws).await {
            Some(text) if text.starts_with("40") => return,
            Some(text) if text.starts_with("44") => panic!("connect refused: {text}"),
            Some(_) => {}
            None => panic!("closed before the socket.io connect"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_on_one_port_serves_the_api_without_a_hop_and_socket_io_on_every_transport() {
    let dir = TempDir::new();
    let db = format!("sqlite://{}/plaza.db", dir.path.display());
    let plaza = PlazaProcess::start("all", &dir.path, &[("DATABASE_URL", &db)]).await;
    let port: u16 = plaza
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");

    // No internal port for a second hop: the public one is the only one listening.
    assert_eq!(listening_ports(plaza.pid()), vec![port]);

    // The official client over each transport, on that port.
    let mut polling = JsClient::connect(
        &plaza.address,
        socket_path(),
        json!({"transports": ["polling"]}),
    )
    .await;
    let mut websocket = JsClient::connect(
        &plaza.address,
        socket_path(),
        json!({"transports": ["websocket"]}),
    )
    .await;
    let mut upgrading = JsClient::connect(&plaza.address, socket_path(), json!({})).await;
    for client in [&mut polling, &mut websocket, &mut upgrading] {
        assert!(client.sees_visitors(3, WAIT).await, "{:?}", client.seen);
    }
    // (The puppet exits at once on close: a websocket client's close reaches the server, a polling one's not.)
    websocket.close().await;
    assert!(polling.sees_visitors(2, WAIT).await, "{:?}", polling.seen);

    // A polling answer goes through the API's middleware: security headers and CORS.
    let handshake = reqwest::Client::new()
        .get(format!(
            "{}{}/?EIO=4&transport=polling",
            plaza.address,
            socket_path()
        ))
        .send()
        .await
        .expect("polling handshake");
    assert_eq!(handshake.status(), 200);
    assert!(
        handshake.headers().contains_key("content-security-policy"),
        "{:?}",
        handshake.headers()
    );
    assert!(handshake.headers().contains_key("vary"));
    assert!(handshake.text().await.expect("body").starts_with('0'));

    // One keep-alive connection: an API request, then a websocket upgrade on the same connection.
    let mut stream = TcpStream::connect(plaza.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /api/ HTTP/1.1\r\nHost: plaza\r\n\r\n")
        .await
        .expect("api request");
    let (head, _) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let url = format!(
        "ws://127.0.0.1:{port}{}/?EIO=4&transport=websocket",
        socket_path()
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .expect("websocket upgrade on the API's keep-alive connection");
    join(&mut ws).await;
    assert!(polling.sees_visitors(3, WAIT).await, "{:?}", polling.seen);
    ws.send(Message::Close(None)).await.expect("close");
    assert!(polling.sees_visitors(2, WAIT).await, "{:?}", polling.seen);

    // An upgrade pipelined right behind an API request on a fresh connection: both answered, in order.
    let mut stream = TcpStream::connect(plaza.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    let upgrade = format!(
        "GET {}/?EIO=4&transport=websocket HTTP/1.1\r\nHost: plaza\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        socket_path()
    );
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: plaza\r\n\r\n{upgrade}").as_bytes())
        .await
        .expect("pipelined requests");
    let (head, _) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut switching = Vec::new();
    let mut byte = [0u8; 1];
    while !switching.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("the upgrade is answered")
            .expect("read");
        assert_eq!(n, 1, "closed: {}", String::from_utf8_lossy(&switching));
        switching.push(byte[0]);
    }
    let switching = String::from_utf8_lossy(&switching);
    assert!(switching.starts_with("HTTP/1.1 101"), "{switching}");
    assert!(
        switching
            .to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{switching}"
    );

    polling.close().await;
    upgrading.close().await;
}
