// Admin panel: reachable only with the admin role; triggers a schedule import and observes its state.
import assert from 'node:assert/strict'
import { ADMIN_EMAIL, newPage, signIn } from './harness.mjs'

export const tests = {
  async 'an admin triggers a schedule import and sees the stored versions'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await signIn(page, plaza, ADMIN_EMAIL, '/admin')
    await page.locator('[data-test=import-status]').waitFor()
    assert.match(await page.locator('[data-test=import-status]').innerText(), /No import running|An import is running/)
    assert.match(await page.locator('#nav-list').innerText(), /Admin/)
    await page.locator('[data-test=start-import]').click()
    await page.locator('[data-test=import-message]').waitFor()
    assert.match(await page.locator('[data-test=import-message]').innerText(), /Import started|already running/)
    // The demo import finishes quickly; the polled status returns to idle.
    await page.locator('[data-test=import-status]', { hasText: 'No import running.' }).waitFor({ timeout: 20_000 })
    assert.ok((await page.locator('table tbody tr').count()) >= 1)
    await page.getByRole('heading', { name: 'Live analytics' }).waitFor()
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'the admin page refuses attendees'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await page.goto('/admin')
    await page.getByText('Only admins can see this page.').waitFor()
    assert.doesNotMatch(await page.locator('#nav-list').innerText(), /Admin/)
    page.assertNoConsoleErrors()
    await page.closeContext()
  },
}
