// The web client on its own origin (issue #18), as the deconf / MozFest client is deployed: client/dist served by a
// static server on http://localhost:<port>, plaza on http://127.0.0.1:<other ports>, in three topologies —
// `--mode api` + `--mode live` as separate processes (the Kubernetes split), `all` with LIVE_ADDR, `all` on one port.
// In each: the schedule loads, sign-in through the emailed link completes, attend works, the live count arrives,
// and the deconf client's account deletion `GET /auth/unregister` (which plaza's own client does not call) is sent
// with fetch() from the page — with no console error, so no request was blocked by CORS.
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import { createServer as netServer } from 'node:net'
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { clientDir, newPage, signIn, repoDir } from './harness.mjs'

const plazaBin = process.env.PLAZA_BIN ?? join(repoDir, 'target/debug/plaza')
const EMAIL = 'attendee-2@example.org'
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2' }

function freePort() {
  return new Promise((ok, fail) => {
    const srv = netServer()
    srv.on('error', fail)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => ok(port))
    })
  })
}

async function until(check, what, ms = 60_000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** client/dist on its own origin, with a client-config.json pointing at plaza elsewhere; SPA fallback. */
async function serveClient(config) {
  const dist = join(clientDir, 'dist')
  const port = await freePort()
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    if (path === '/client-config.json') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify(config))
    }
    let file = join(dist, normalize(path).replace(/^(\.\.[/\\])+/, ''))
    if (!file.startsWith(dist) || !existsSync(file) || path === '/') file = join(dist, 'index.html')
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
    res.end(readFileSync(file))
  })
  await new Promise((r) => server.listen(port, '127.0.0.1', r))
  return { origin: `http://localhost:${port}`, close: () => new Promise((r) => server.close(r)) }
}

/** Starts plaza processes (`modes`: [mode, extra env]) in one working directory on the embedded tier. */
async function startTopology(name, clientOrigin, build) {
  const dir = mkdtempSync(join(tmpdir(), `plaza-cors-${name}-`))
  const [apiPort, livePort] = [await freePort(), await freePort()]
  const api = `http://127.0.0.1:${apiPort}`
  const base = {
    ...process.env,
    CLIENT_URL: `${clientOrigin}/`,
    SELF_URL: `${api}/api/`,
    JWT_ISSUER: 'mozfest-localhost',
    LOGIN_LIMIT_PER_IP: '1000',
    LOG_FORMAT: 'json',
  }
  const { processes, live, setup } = build({ apiPort, livePort, api })
  for (const args of setup) execFileSync(plazaBin, args, { cwd: dir, env: base, stdio: 'ignore' })
  const children = processes.map((env) => {
    const child = spawn(plazaBin, [], { cwd: dir, env: { ...base, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr.on('data', (d) => (child.log = ((child.log ?? '') + d).slice(-4000)))
    return child
  })
  const stop = async () => {
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null)))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await until(async () => {
      for (const c of children) if (c.exitCode !== null) throw new Error(`plaza exited: ${c.log}`)
      const r = await fetch(`${api}/api/schedule`)
      return r.ok && (await r.json()).sessions.length > 0
    }, `${name}: the schedule`)
    await until(async () => (await fetch(`${live}/api/socket.io/?EIO=4&transport=polling`)).ok, `${name}: socket.io`)
  } catch (e) {
    await stop()
    throw e
  }
  return { api, live, outbox: join(dir, 'data/outbox'), stop }
}

async function checkTopology(browser, name, build) {
  // The origin is known before plaza starts (CLIENT_URL); the config is filled in once plaza's ports are.
  const config = { apiBase: '', socketUrl: '', socketPath: '/api/socket.io' }
  const client = await serveClient(config)
  const plaza = await startTopology(name, client.origin, build)
  Object.assign(config, { apiBase: `${plaza.api}/api`, socketUrl: plaza.live })
  try {
    const site = { base: client.origin, liveServer: true, outbox: plaza.outbox }
    // The API origin serves no web client, so the sign-in confirm page (on that origin) has no favicon there.
    const favicon = (text, url) => url === `${plaza.api}/favicon.ico` && /status of 404/.test(text)
    const page = await newPage(browser, site, { tolerate: favicon })
    // The schedule loads from the API's origin.
    await page.goto('/schedule')
    await page.locator('.session-card').first().waitFor()
    // Sign-in: link requested from the client's origin, confirmed on plaza's, token captured back on the client's.
    await signIn(page, site, EMAIL, '/my-schedule')
    const schedule = await (await fetch(`${plaza.api}/api/schedule`)).json()
    const session = schedule.sessions.find((s) => s.slot && s.participantCap !== null)
    await page.goto(`/session/${session.id}`)
    await page.locator('[data-test=attend]', { hasText: 'Add to My Schedule' }).click()
    await page.getByText('This session is in your schedule.').waitFor()
    // The live count arrives over the socket on the live server's origin (the atrium's widget).
    await page.goto('/')
    await page.waitForFunction(() => /^\d+$/.test(document.querySelector('[data-test=visitors] .count')?.textContent?.trim() ?? ''))
    const token = await page.evaluate(() => localStorage.getItem('plaza.token'))
    const mine = await (await fetch(`${plaza.api}/api/attendance/me`, { headers: { authorization: `Bearer ${token}` } })).json()
    assert.deepEqual(mine.attendance.map((a) => a.session), [session.id], name)
    // The deconf client's "Delete account", from the page on the client's origin (preflighted: bearer header).
    const deleted = await page.evaluate(async (api) => {
      const r = await fetch(`${api}/api/auth/unregister`, { headers: { authorization: `Bearer ${localStorage.getItem('plaza.token')}` } })
      return { status: r.status, body: await r.json() }
    }, plaza.api)
    assert.deepEqual(deleted, { status: 200, body: { message: 'ok' } }, name)
    const me = await fetch(`${plaza.api}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(me.status, 401, `${name}: the account is gone`)
    page.assertNoConsoleErrors()
    await page.closeContext()
  } finally {
    await plaza.stop()
    await client.close()
  }
}

const setup = [['--mode', 'migrate'], ['fake-tito', '--count', '3']]

export const tests = {
  async 'on another origin against --mode api and --mode live on separate ports'({ browser }) {
    await checkTopology(browser, 'api+live', ({ apiPort, livePort, api }) => ({
      setup: [...setup, ['--mode', 'fetch-schedule']],
      processes: [
        { PLAZA_MODE: 'api', LISTEN_ADDR: `127.0.0.1:${apiPort}` },
        { PLAZA_MODE: 'live', LISTEN_ADDR: `127.0.0.1:${livePort}` },
      ],
      live: `http://127.0.0.1:${livePort}`,
      api,
    }))
  },

  async 'on another origin against all with LIVE_ADDR'({ browser }) {
    await checkTopology(browser, 'all+LIVE_ADDR', ({ apiPort, livePort }) => ({
      setup,
      processes: [{ PLAZA_MODE: 'all', LISTEN_ADDR: `127.0.0.1:${apiPort}`, LIVE_ADDR: `127.0.0.1:${livePort}` }],
      live: `http://127.0.0.1:${livePort}`,
    }))
  },

  async 'on another origin against all on one port'({ browser }) {
    await checkTopology(browser, 'all', ({ apiPort, api }) => ({
      setup,
      processes: [{ PLAZA_MODE: 'all', LISTEN_ADDR: `127.0.0.1:${apiPort}` }],
      live: api,
    }))
  },
}
