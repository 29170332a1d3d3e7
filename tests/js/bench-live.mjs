// plaza live benchmark driver (scripts/bench live): opens N websocket socket.io clients spread over one or more
// live servers, then measures how long a visitor change takes to reach every client.
// Usage: node bench-live.mjs URLS PATH N [ROUNDS]   (URLS comma-separated; clients are split round-robin)
// Prints human lines on stderr and one JSON summary line on stdout. Between phases it waits for a line on stdin,
// so the caller can sample the servers' RSS: "connected" is printed (stdout) once all N clients are connected.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [urlList, path, nText, roundsText = "5"] = process.argv.slice(2);
const urls = urlList.split(",");
const n = Number(nText);
const rounds = Number(roundsText);
const IN_FLIGHT = 200;
const log = (line) => process.stderr.write(line + "\n");
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function open(i) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
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
        socket.onTarget(process.hrtime.bigint());
      }
    });
    socket.once("connect", () => resolve({ socket, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    socket.once("connect_error", (err) => reject(err));
  });
}

// Phase 1: connect N clients, at most IN_FLIGHT handshakes at a time.
const sockets = [];
const connectMs = [];
const t0 = Date.now();
let next = 0;
let failures = 0;
async function worker() {
  while (next < n) {
    const i = next++;
    try {
      const { socket, ms } = await open(i);
      sockets.push(socket);
      connectMs.push(ms);
    } catch (err) {
      failures++;
      if (failures <= 3) log(`connect failed: ${err.message}`);
    }
  }
}
await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
const totalS = (Date.now() - t0) / 1000;
connectMs.sort((a, b) => a - b);
log(`connected ${sockets.length}/${n} in ${totalS.toFixed(1)} s (${(sockets.length / totalS).toFixed(0)}/s), ` +
  `handshake p50 ${pct(connectMs, 50).toFixed(1)} ms p99 ${pct(connectMs, 99).toFixed(1)} ms, ${failures} failed`);

// Wait until every client agrees on the count (the debounced broadcasts have settled).
const settled = Date.now();
while (sockets.some((s) => s.latest !== sockets.length) && Date.now() - settled < 60000) await sleep(100);
const agreeing = sockets.filter((s) => s.latest === sockets.length).length;
log(`${agreeing}/${sockets.length} clients see site-visitors = ${sockets.length}`);
process.stdout.write(JSON.stringify({ phase: "connected", clients: sockets.length }) + "\n");
await stdin.next();

// Phase 2: rounds of one visitor change (a probe client joins, then leaves); time until every client has it.
const delays = [];
let expected = sockets.length;
let incomplete = 0;
for (let round = 0; round < rounds * 2; round++) {
  await sleep(2500); // longer than the default debounce: each change is measured from a quiet start
  const joining = round % 2 === 0;
  expected += joining ? 1 : -1;
  const started = process.hrtime.bigint();
  const pending = sockets.map((s) => new Promise((resolve) => {
    s.waitFor = expected;
    s.onTarget = (at) => resolve(Number(at - started) / 1e6);
  }));
  if (joining) sockets.probe = (await open(round)).socket;
  else sockets.probe.close();
  const timeout = sleep(30000).then(() => null);
  const results = await Promise.all(pending.map((p) => Promise.race([p, timeout])));
  incomplete += results.filter((r) => r === null).length;
  const got = results.filter((r) => r !== null).sort((a, b) => a - b);
  delays.push(...got);
  log(`round ${round + 1}: ${joining ? "+1" : "-1"} reached ${got.length}/${sockets.length} clients, ` +
    `p50 ${pct(got, 50).toFixed(0)} ms, p99 ${pct(got, 99).toFixed(0)} ms, last ${got[got.length - 1].toFixed(0)} ms`);
}
delays.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({
  phase: "done",
  clients: sockets.length,
  failed: failures,
  connect_total_s: totalS,
  connect_p50_ms: pct(connectMs, 50),
  connect_p99_ms: pct(connectMs, 99),
  broadcast_p50_ms: pct(delays, 50),
  broadcast_p99_ms: pct(delays, 99),
  broadcast_max_ms: delays[delays.length - 1],
  missed: incomplete,
}) + "\n");
for (const s of sockets) s.close();
process.exit(0);
