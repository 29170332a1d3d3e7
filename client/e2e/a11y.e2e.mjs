// Accessibility and layout: axe-core (WCAG 2.1 A/AA rules) finds no serious or critical violation on the main
// pages, signed out and signed in; no page scrolls sideways at 360 px; screenshots go to test-results/.
import assert from 'node:assert/strict'
import { ADMIN_EMAIL, axeSerious, newPage, screenshot, signIn } from './harness.mjs'

const slug = (path) => (path === '/' ? 'atrium' : path.slice(1).replace(/\//g, '-'))

const ready = {
  '/': '.content',
  '/schedule': '.session-card',
  '/whats-on': 'h2',
  '/speakers': '.speaker',
  '/help': '.content',
  '/login': '[data-test=email]',
}

async function scan(page, path, name) {
  await page.goto(path)
  await page.locator(ready[path] ?? 'h1').first().waitFor()
  await page.waitForLoadState('networkidle').catch(() => undefined)
  const violations = await axeSerious(page)
  assert.deepEqual(violations, [], `${path}: ${JSON.stringify(violations, null, 2)}`)
  await screenshot(page, name)
}

export const tests = {
  async 'main pages have no serious axe violations (desktop, signed out)'({ browser, plaza }) {
    const schedule = await (await fetch(`${plaza.base}/api/schedule`)).json()
    const session = schedule.sessions.find((s) => s.slot && s.speakers.length)
    const page = await newPage(browser, plaza)
    for (const path of Object.keys(ready)) await scan(page, path, `desktop-${slug(path)}`)
    await page.goto(`/session/${session.id}`)
    await page.locator('h1').waitFor()
    assert.deepEqual(await axeSerious(page), [])
    await screenshot(page, 'desktop-session')
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'signed-in pages have no serious axe violations'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await signIn(page, plaza, ADMIN_EMAIL, '/my-schedule')
    await page.locator('[data-test=feed-url]').waitFor()
    assert.deepEqual(await axeSerious(page), [])
    await screenshot(page, 'desktop-my-schedule')
    for (const [path, sel] of [['/profile', '[data-test=delete]'], ['/admin', '[data-test=import-status]'], ['/', '.content']]) {
      await page.goto(path)
      await page.locator(sel).waitFor()
      assert.deepEqual(await axeSerious(page), [], path)
      await screenshot(page, `desktop-signed-in-${slug(path)}`)
    }
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'pages fit a 360 px screen and the menu opens from its button'({ browser, plaza }) {
    const page = await newPage(browser, plaza, { viewport: { width: 360, height: 740 } })
    for (const path of Object.keys(ready)) {
      await page.goto(path)
      await page.locator(ready[path]).first().waitFor()
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px at 360 px`)
      await screenshot(page, `mobile-${slug(path)}`)
    }
    assert.equal(await page.locator('#nav-list').isVisible(), false)
    await page.getByRole('button', { name: 'Menu' }).click()
    await page.getByRole('link', { name: 'Speakers' }).click()
    await page.waitForURL('**/speakers')
    assert.equal(await page.locator('#nav-list').isVisible(), false, 'menu closes after navigating')
    assert.deepEqual(await axeSerious(page), [])
    page.assertNoConsoleErrors()
    await page.closeContext()
  },
}
