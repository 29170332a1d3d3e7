// plaza live benchmark driver (scripts/bench live): opens N websocket socket.io clients spread over one or more
// live servers, then measures how long a visitor change takes to reach every client.
// Usage: node bench-live.mjs URLS PATH N [ROUNDS] [WORKERS]   (URLS comma-separated; clients split round-robin)
// The clients live in WORKERS child processes (default 4), so one JavaScript thread decoding 10,000 messages in
// turn does not dominate the delay being measured; receive times are absolute (performance.timeOrigin + now()).
// Prints human lines on stderr and JSON lines on stdout: {"phase":"connected"} once all clients are connected (then
// it waits for a line on stdin, so the caller can sample the servers' RSS) and the {"phase":"done", …} summary.
import { fork } from "node:child_process";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [urlList, path, nText, roundsText = "5", workersText = "4"] = process.argv.slice(2);
const urls = urlList.split(",");
const now = () => performance.timeOrigin + performance.now();
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) => process.stderr.write(line + "\n");

function open(i) {
  return new Promise((resolve, reject) => {
    const started = now();
    const socket = io(urls[i % urls.length], {
      path,
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: 60000,
    });
    socket.latest = -1;
    socket.on("site-visitors", (count) => {
      socket.latest = count;
      if (socket.waitFor === count) {
        socket.waitFor = undefined;
        socket.receivedAt = now();
      }
    });
    socket.once("connect", () => resolve({ socket, ms: now() - started }));
    socket.once("connect_error", (err) => reject(err));
  });
}

if (process.env.BENCH_WORKER) {
  // A worker: clients [first, first + count), steered by the parent over IPC.
  const first = Number(process.env.FIRST);
  const count = Number(process.env.COUNT);
  const sockets = [];
  const connectMs = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = first + next++;
      try {
        const { socket, ms } = await open(i);
        sockets.push(socket);
        connectMs.push(ms);
      } catch {
        failed++;
      }
    }
  };
  process.on("message", async (msg) => {
    if (msg.type === "connect") {
      await Promise.all(Array.from({ length: 50 }, worker));
      process.send({ type: "connected", connectMs, failed });
    } else if (msg.type === "latest") {
      process.send({ type: "latest", counts: sockets.map((s) => s.latest) });
    } else if (msg.type === "expect") {
      for (const s of sockets) {
        s.waitFor = msg.count;
        s.receivedAt = undefined;
      }
      process.send({ type: "expecting" });
    } else if (msg.type === "collect") {
      const deadline = now() + 30000;
      while (sockets.some((s) => s.receivedAt === undefined) && now() < deadline) await sleep(5);
      process.send({ type: "delays", delays: sockets.map((s) => (s.receivedAt === undefined ? null : s.receivedAt - msg.t0)) });
    } else if (msg.type === "exit") {
      for (const s of sockets) s.close();
      process.exit(0);
    }
  });
} else {
  const n = Number(nText);
  const rounds = Number(roundsText);
  const workerCount = Math.max(1, Number(workersText));
  const share = Math.ceil(n / workerCount);
  const workers = Array.from({ length: workerCount }, (_, w) => fork(process.argv[1], process.argv.slice(2), {
    env: { ...process.env, BENCH_WORKER: "1", FIRST: String(w * share), COUNT: String(Math.max(0, Math.min(share, n - w * share))) },
  }));
  const ask = (msg, reply) => Promise.all(workers.map((w) => new Promise((resolve) => {
    const handler = (m) => { if (m.type === reply) { w.off("message", handler); resolve(m); } };
    w.on("message", handler);
    w.send(msg);
  })));
  const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

  const t0 = now();
  const connected = await ask({ type: "connect" }, "connected");
  const totalS = (now() - t0) / 1000;
  const connectMs = connected.flatMap((c) => c.connectMs).sort((a, b) => a - b);
  const failed = connected.reduce((sum, c) => sum + c.failed, 0);
  const clients = connectMs.length;
  log(`connected ${clients}/${n} in ${totalS.toFixed(1)} s (${(clients / totalS).toFixed(0)}/s), ` +
    `handshake p50 ${pct(connectMs, 50).toFixed(1)} ms p99 ${pct(connectMs, 99).toFixed(1)} ms, ${failed} failed`);
  const settled = now();
  let agreeing = 0;
  while (now() - settled < 60000) {
    const latest = (await ask({ type: "latest" }, "latest")).flatMap((m) => m.counts);
    agreeing = latest.filter((c) => c === clients).length;
    if (agreeing === clients) break;
    await sleep(200);
  }
  log(`${agreeing}/${clients} clients see site-visitors = ${clients}`);
  process.stdout.write(JSON.stringify({ phase: "connected", clients }) + "\n");
  await stdin.next();

  // Rounds of one visitor change (a probe client joins, then leaves): time until every client has the new count.
  const delays = [];
  let expected = clients;
  let missed = 0;
  let probe;
  for (let round = 0; round < rounds * 2; round++) {
    await sleep(2500); // longer than the default debounce: each change starts from a quiet state
    const joining = round % 2 === 0;
    expected += joining ? 1 : -1;
    await ask({ type: "expect", count: expected }, "expecting");
    const start = now();
    if (joining) probe = (await open(round)).socket;
    else probe.close();
    const got = (await ask({ type: "collect", t0: start }, "delays")).flatMap((m) => m.delays);
    missed += got.filter((d) => d === null).length;
    const ok = got.filter((d) => d !== null).sort((a, b) => a - b);
    delays.push(...ok);
    log(`round ${round + 1}: ${joining ? "+1" : "-1"} reached ${ok.length}/${clients} clients, ` +
      `p50 ${pct(ok, 50).toFixed(0)} ms, p99 ${pct(ok, 99).toFixed(0)} ms, last ${ok[ok.length - 1].toFixed(0)} ms`);
  }
  delays.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({
    phase: "done",
    clients,
    failed,
    connect_total_s: totalS,
    connect_p50_ms: pct(connectMs, 50),
    connect_p99_ms: pct(connectMs, 99),
    broadcast_p50_ms: pct(delays, 50),
    broadcast_p99_ms: pct(delays, 99),
    broadcast_max_ms: delays[delays.length - 1],
    missed,
    changes: rounds * 2,
  }) + "\n");
  for (const w of workers) w.send({ type: "exit" });
  if (probe) probe.close();
  process.exit(0);
}
