// e2e harness: starts a real plaza (mode `all`, embedded tier) in a temporary working directory with the built
// client, drives Debian's chromium through playwright-core, and offers helpers the tests share — pages that
// record console errors, the magic link read from the embedded outbox, sign-in, axe scans and screenshots.
// Extra browser contexts (e.g. a second visitor for the live visitor-count test) come from `newPage()`.
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, mkdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
export const clientDir = resolve(here, '..')
export const repoDir = resolve(clientDir, '..')
export const artefacts = resolve(clientDir, 'test-results')
export const ADMIN_EMAIL = 'admin@example.org'
export const ATTENDEE_EMAIL = 'attendee-1@example.org'

/** Thrown by a test that cannot run in this set-up (reported as skipped, never as passed). */
export class Skip extends Error {}

const plazaBin = process.env.PLAZA_BIN ?? join(repoDir, 'target/debug/plaza')
const chromiumBin = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium'

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', fail)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => ok(port))
    })
  })
}

async function waitFor(check, what, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs
  let last
  while (Date.now() < end) {
    try {
      const v = await check()
      if (v) return v
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
}

/** Starts plaza (with `extraEnv` on top of the suite's); resolves once a schedule with sessions is served. */
export async function startPlaza(extraEnv = {}) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'plaza-e2e-'))
  const base = `http://127.0.0.1:${port}`
  const env = {
    ...process.env,
    LISTEN_ADDR: `127.0.0.1:${port}`,
    CLIENT_DIR: join(clientDir, 'dist'),
    ADMIN_EMAILS: ADMIN_EMAIL,
    CLIENT_URL: `${base}/`,
    SELF_URL: `${base}/api/`,
    LOG_FORMAT: 'json',
    LOGIN_LIMIT_PER_IP: '1000',
    ...extraEnv,
  }
  // Ticket holders attendee-1..3@example.org in this working directory's embedded database.
  execFileSync(plazaBin, ['fake-tito', '--count', '3'], { cwd: dir, env, stdio: 'ignore' })
  const child = spawn(plazaBin, [], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
  const exited = new Promise((r) => child.on('exit', r))
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`plaza exited: ${stderr}`)
      const r = await fetch(`${base}/api/schedule`)
      return r.ok && (await r.json()).sessions.length > 0
    }, 'plaza to serve the demo schedule', 60_000)
  } catch (e) {
    child.kill('SIGTERM')
    throw e
  }
  // Until the live server is merged, /api/socket.io answers 404 and chromium logs the failed handshake; the
  // console check tolerates exactly that line only while no live server answers.
  const liveServer = await fetch(`${base}/api/socket.io/?EIO=4&transport=polling`).then((r) => r.ok, () => false)
  return {
    base,
    dir,
    liveServer,
    outbox: join(dir, 'data/outbox'),
    async stop() {
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      if (child.exitCode === null) child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const fakePretalxBin = process.env.FAKE_PRETALX_BIN ?? join(repoDir, 'target/debug/fake-pretalx')

/**
 * Starts tests/src/bin/fake-pretalx (the demo event behind a real Pretalx v2 API over HTTP): `env` holds the
 * PRETALX_* variables for plaza, `move(sessionIds, minutes)` edits the served slots so the next import publishes
 * a release that moved them. Throws Skip when the binary is not built (`cargo build -p plaza-tests --bin
 * fake-pretalx`; scripts/test-client builds it).
 */
export async function startFakePretalx() {
  if (!existsSync(fakePretalxBin)) throw new Skip(`${fakePretalxBin} is not built`)
  const child = spawn(fakePretalxBin, [], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise((ok, fail) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('\n')) ok(out.split('\n')[0])
    })
    child.on('exit', (code) => fail(new Error(`fake-pretalx exited (${code})`)))
  })
  const { control, ...env } = JSON.parse(line)
  return {
    env,
    async move(sessions, minutes = 60) {
      const r = await fetch(`${control}/move`, { method: 'POST', body: JSON.stringify({ sessions, minutes }) })
      if (!r.ok) throw new Error(`fake-pretalx move: ${r.status} ${await r.text()}`)
      return (await r.json()).sessions
    },
    stop() {
      child.stdin.end()
      child.kill('SIGTERM')
    },
  }
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: chromiumBin, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
}

/**
 * A page in a fresh browser context (own storage: a separate visitor) that records console errors and page
 * errors; `page.assertNoConsoleErrors()` fails the test on any. `socketUrl` serves a client-config that points
 * the socket at another server; `unreachableSocket` tolerates the browser's own log line about the failed
 * websocket handshake (the app cannot suppress it), for tests of a socket that cannot connect. `tolerate(text,
 * url)` accepts other console errors a test expects and that are no fault of the app.
 */
export async function newPage(
  browser,
  plaza,
  { viewport = { width: 1280, height: 900 }, locale = 'en-GB', timezoneId = 'Europe/Madrid', socketUrl, unreachableSocket = false, tolerate } = {},
) {
  // A faked client-config names a socket origin plaza was not configured with (SOCKET_URL), so the page's
  // Content-Security-Policy (connect-src, derived from plaza's own configuration) would rightly block it: only those
  // pages bypass CSP. Every other page runs under plaza's real policy, and a violation is a console error.
  const context = await browser.newContext({
    baseURL: plaza.base,
    viewport,
    locale,
    timezoneId,
    bypassCSP: Boolean(socketUrl),
  })
  if (socketUrl) {
    // Point the client at another live server, as an ingress would through /client-config.json.
    await context.route('**/client-config.json', (route) =>
      route.fulfill({ json: { apiBase: '/api', socketUrl, socketPath: '/api/socket.io' } }),
    )
  }
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const errors = []
  const tolerated = (text, url) =>
    ((unreachableSocket || !plaza.liveServer) && /\/api\/socket\.io\/.*failed/.test(text)) || (tolerate?.(text, url) ?? false)
  page.on('console', (m) => {
    if (m.type() === 'error' && !tolerated(m.text(), m.location().url)) errors.push(`console: ${m.text()} (${m.location().url} on ${page.url()})`)
  })
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  page.assertNoConsoleErrors = () => {
    if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`)
  }
  page.closeContext = () => context.close()
  return page
}

/** How the outbox names a recipient in its file names. */
const mailSlug = (email) => email.replace(/[^A-Za-z0-9.]/g, '_')

/** The newest sign-in link emailed to `email`, from the embedded outbox (.eml, quoted-printable). */
export async function magicLink(plaza, email, after = 0) {
  return waitFor(() => {
    let files = []
    try {
      files = readdirSync(plaza.outbox)
    } catch {
      return null
    }
    const slug = mailSlug(email)
    const mine = files.filter((f) => f.endsWith(`-login-${slug}.eml`)).sort()
    if (mine.length <= after) return null
    const raw = readFileSync(join(plaza.outbox, mine[mine.length - 1]), 'utf8')
    const text = raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=')
    const m = text.match(/https?:\/\/[^\s"<>)]+\/auth\/login\/[A-Za-z0-9._-]+/)
    return m ? m[0] : null
  }, `a sign-in email to ${email}`)
}

export function countMails(plaza, email) {
  try {
    return readdirSync(plaza.outbox).filter((f) => f.endsWith(`-login-${mailSlug(email)}.eml`)).length
  } catch {
    return 0
  }
}

/** Signs in through the UI: request the link, open it, confirm, land back in the app at `redirect`. */
export async function signIn(page, plaza, email, redirect = '/my-schedule') {
  const before = countMails(plaza, email)
  await page.goto(`/login?redirect=${encodeURIComponent(redirect)}`)
  await page.locator('[data-test=email]').fill(email)
  await page.locator('[data-test=send-link]').click()
  await page.locator('[data-test=sent]').waitFor()
  const link = await magicLink(plaza, email, before)
  await page.goto(link)
  await page.locator('button[type=submit]').click()
  await page.waitForURL((url) => url.pathname === redirect)
}

/** Runs axe-core in the page; returns violations of impact serious or critical. */
export async function axeSerious(page) {
  const source = readFileSync(join(clientDir, 'node_modules/axe-core/axe.min.js'), 'utf8')
  // Through the DevTools protocol, not an inline <script>: plaza's Content-Security-Policy blocks inline scripts.
  await page.evaluate(source)
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    if (r.passes.length === 0) throw new Error('axe checked no rule: is the page empty?')
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }))
  })
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical')
}

export async function screenshot(page, name) {
  mkdirSync(artefacts, { recursive: true })
  await page.screenshot({ path: join(artefacts, `${name}.png`), fullPage: true })
}
