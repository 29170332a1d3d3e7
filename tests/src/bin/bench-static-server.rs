//! `bench-static-server DIR ADDR`: the benchmark's yardstick — a minimal actix-web server that serves the files of
//! `DIR` at `/` on `ADDR` with actix-files, nothing else. Same number of workers as plaza (actix's default, one per
//! CPU), Nagle off, and no compression middleware, so it sends identity bytes as plaza does to a client without
//! `Accept-Encoding` (wrk). `scripts/bench` compares plaza's `GET /api/schedule` with the same bytes served here.

use anyhow::Context as _;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench-static-server DIR ADDR (e.g. ./static 127.0.0.1:8080)";
    let dir = args.next().context(usage)?;
    let addr = args.next().context(usage)?;
    anyhow::ensure!(
        std::path::Path::new(&dir).is_dir(),
        "{dir} is not a directory"
    );
    actix_web::HttpServer::new(move || {
        actix_web::App::new().service(actix_files::Files::new("/", &dir))
    })
    // actix-files streams a file in 64 KiB chunks; with Nagle on (actix keeps the OS default) the last short
    // segment of each response waits for the client's delayed ACK, ~40 ms per request on a keep-alive connection.
    // Static servers turn Nagle off (nginx's `tcp_nodelay on`); plaza writes each body in one piece, so it doesn't
    // need to.
    .tcp_nodelay(true)
    .bind(&addr)
    .with_context(|| format!("cannot listen on {addr}"))?
    .run()
    .await
    .context("the server failed")?;
    Ok(())
}
