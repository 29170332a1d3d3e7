// The client's side of the socket.io contract (reference §5), against a stub live server on another origin
// (e2e/stub-live.mjs) named by /client-config.json: visitor count across two browsers, `auth` after sign-in,
// page-view and attendance metrics with the reference payloads, and the admin analytics stream.
import assert from 'node:assert/strict'
import { ADMIN_EMAIL, newPage, signIn } from './harness.mjs'
import { startStubLive } from './stub-live.mjs'

const countText = (page) => page.locator('[data-test=visitors] .count')

export const tests = {
  async 'the visitor count follows a second browser (stub live server on another origin)'({ browser, plaza }) {
    const live = await startStubLive(plaza.base)
    try {
      const first = await newPage(browser, plaza, { socketUrl: live.url })
      await first.goto('/')
      await countText(first).filter({ hasText: /^1$/ }).waitFor()
      const second = await newPage(browser, plaza, { socketUrl: live.url })
      await second.goto('/')
      await countText(first).filter({ hasText: /^2$/ }).waitFor()
      await second.closeContext()
      await countText(first).filter({ hasText: /^1$/ }).waitFor()
      const views = live.received.filter((r) => r.event === 'trackMetric' && r.eventName === 'general/pageView')
      assert.deepEqual(views[0].payload, { routeName: 'atrium', params: {} })
      first.assertNoConsoleErrors()
      await first.closeContext()
    } finally {
      await live.stop()
    }
  },

  async 'a signed-in admin authenticates the socket, sends metrics and sees them live'({ browser, plaza }) {
    const live = await startStubLive(plaza.base)
    try {
      const admin = await newPage(browser, plaza, { socketUrl: live.url })
      await signIn(admin, plaza, ADMIN_EMAIL, '/admin')
      const token = await admin.evaluate(() => localStorage.getItem('plaza.token'))
      await admin.waitForFunction(() => document.querySelector('[data-test=import-status]'))
      const waitFor = async (pred, what) => {
        for (let i = 0; i < 100 && !live.received.some(pred); i++) await new Promise((r) => setTimeout(r, 50))
        assert.ok(live.received.some(pred), `stub received ${what}: ${JSON.stringify(live.received)}`)
      }
      await waitFor((r) => r.event === 'auth' && r.token === token, 'auth with the token')
      await waitFor((r) => r.eventName === 'login/finish', 'login/finish')
      await waitFor((r) => r.event === 'startAnalyse', 'startAnalyse')
      assert.ok(!live.received.some((r) => r.eventName === 'general/pageView' && JSON.stringify(r.payload).includes(token)), 'token never in a metric')

      // Another visitor browses a session; the admin's stream shows the page view.
      const schedule = await (await fetch(`${plaza.base}/api/schedule`)).json()
      const session = schedule.sessions.find((s) => s.slot)
      const visitor = await newPage(browser, plaza, { socketUrl: live.url })
      await visitor.goto(`/session/${session.id}`)
      await admin.locator('.events li', { hasText: session.id }).first().waitFor()
      await waitFor(
        (r) => r.eventName === 'general/pageView' && r.payload.routeName === 'session' && r.payload.params.id === session.id,
        'the session page view',
      )
      // Downloading the ICS is tracked with the reference payload.
      await visitor.getByRole('link', { name: 'Download .ics' }).click()
      await waitFor((r) => r.eventName === 'session/ical' && r.payload.sessionId === session.id, 'session/ical')
      await visitor.closeContext()

      await admin.getByRole('link', { name: 'Atrium' }).click()
      await waitFor((r) => r.event === 'stopAnalyse', 'stopAnalyse on leaving the admin page')
      await admin.getByRole('link', { name: 'Profile' }).click()
      await admin.locator('[data-test=sign-out]').click()
      await waitFor((r) => r.eventName === 'login/logout', 'login/logout')
      await waitFor((r) => r.event === 'deauth', 'deauth')
      admin.assertNoConsoleErrors()
      await admin.closeContext()
    } finally {
      await live.stop()
    }
  },
}
