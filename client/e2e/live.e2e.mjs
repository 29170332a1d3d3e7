// Live features over socket.io against plaza's own live server (mode `all`), and the UI's behaviour when the
// socket cannot connect at all (a client-config pointing at a closed port): "—" and no errors.
import assert from 'node:assert/strict'
import { newPage } from './harness.mjs'

const visitors = async (page) => (await page.locator('[data-test=visitors] .count').innerText()).trim()

export const tests = {
  async 'without a reachable live server the visitor count shows a dash and nothing breaks'({ browser, plaza }) {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    const page = await newPage(browser, plaza, { socketUrl: 'http://127.0.0.1:9', unreachableSocket: true })
    await page.goto('/')
    await page.locator('[data-test=visitors]').waitFor()
    assert.equal(await visitors(page), '—')
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'the visitor count rises when a second browser connects and falls when it leaves'({ browser, plaza }) {
    assert.ok(plaza.liveServer, 'plaza in mode all serves socket.io on its own port')
    const first = await newPage(browser, plaza)
    await first.goto('/')
    await first.waitForFunction(() => /^\d+$/.test(document.querySelector('[data-test=visitors] .count')?.textContent?.trim() ?? ''))
    const before = Number(await visitors(first))
    const second = await newPage(browser, plaza)
    await second.goto('/')
    // The server debounces broadcasts (about 5 s, reference §5.4).
    await first.waitForFunction((n) => Number(document.querySelector('[data-test=visitors] .count')?.textContent) === n + 1, before, { timeout: 15_000 })
    await second.closeContext()
    await first.waitForFunction((n) => Number(document.querySelector('[data-test=visitors] .count')?.textContent) === n, before, { timeout: 15_000 })
    first.assertNoConsoleErrors()
    await first.closeContext()
  },
}
