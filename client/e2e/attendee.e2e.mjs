// Signed-in attendee: magic link from the embedded outbox, attend a capped session and find it in My Schedule
// with the calendar feed, language switch to Spanish, account deletion with confirmation.
import assert from 'node:assert/strict'
import { ATTENDEE_EMAIL, newPage, signIn } from './harness.mjs'

export const tests = {
  async 'signs in through the magic link, attends a session and sees it in My Schedule'({ browser, plaza }) {
    const schedule = await (await fetch(`${plaza.base}/api/schedule`)).json()
    const session = schedule.sessions.find((s) => s.slot && s.participantCap !== null)
    const page = await newPage(browser, plaza)
    await signIn(page, plaza, ATTENDEE_EMAIL, '/my-schedule')
    await page.locator('[data-test=my-sessions]').waitFor()
    assert.match(await page.locator('[data-test=my-sessions]').innerText(), /Your schedule is empty/)
    const feed = await page.locator('[data-test=feed-url]').inputValue()
    assert.ok(feed.startsWith(`${plaza.base}/api/calendar/me/`), feed)
    assert.match(await (await fetch(feed)).text(), /BEGIN:VCALENDAR/)
    assert.match(await page.locator('#nav-list').innerText(), /Profile/)

    await page.goto(`/session/${session.id}`)
    await page.locator('[data-test=attend]').waitFor()
    assert.equal(await page.locator('[data-test=places]').innerText(), `0 of ${session.participantCap} places taken`)
    await page.locator('[data-test=attend]').click()
    await page.getByText('This session is in your schedule.').waitFor()
    assert.equal(await page.locator('[data-test=places]').innerText(), `1 of ${session.participantCap} places taken`)
    assert.equal(await page.locator('[data-test=attend]').innerText(), 'Remove from My Schedule')

    await page.getByRole('link', { name: 'My Schedule', exact: true }).click()
    await page.locator(`[data-test=my-sessions] [data-session="${session.id}"]`).waitFor()
    assert.match(await page.locator(`[data-session="${session.id}"]`).innerText(), /In My Schedule/)
    // The private feed now carries the session.
    assert.match(await (await fetch(feed)).text(), new RegExp(session.title.en.slice(0, 20)))

    await page.goto(`/session/${session.id}`)
    await page.locator('[data-test=attend]', { hasText: 'Remove from My Schedule' }).click()
    await page.locator('[data-test=attend]', { hasText: 'Add to My Schedule' }).waitFor()
    await page.goto('/my-schedule')
    await page.getByText('Your schedule is empty').waitFor()
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'a capped session shows the places taken, counted by plaza'({ browser, plaza }) {
    const schedule = await (await fetch(`${plaza.base}/api/schedule`)).json()
    const session = schedule.sessions.find((s) => s.slot && s.participantCap !== null)
    const page = await newPage(browser, plaza)
    await signIn(page, plaza, 'attendee-3@example.org', `/session/${session.id}`)
    // The demo's smallest cap is 20, more than this suite's accounts, so "full" is covered by AttendButton's
    // component test; here the page must show plaza's own count against the cap.
    const token = await page.evaluate(() => localStorage.getItem('plaza.token'))
    const r = await fetch(`${plaza.base}/api/attendance/${session.id}`, { headers: { authorization: `Bearer ${token}` } })
    const { sessionCount } = await r.json()
    assert.equal(await page.locator('[data-test=places]').innerText(), `${sessionCount} of ${session.participantCap} places taken`)
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'the star on a schedule card adds the session to My Schedule and removes it'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await signIn(page, plaza, 'attendee-3@example.org', '/schedule')
    const card = page.locator('.session-card').first()
    const id = await card.getAttribute('data-session')
    await card.locator('[data-test=star]').click()
    await card.locator('.badge.ok', { hasText: 'In My Schedule' }).waitFor()
    assert.equal(await card.locator('[data-test=star]').getAttribute('aria-pressed'), 'true')
    await page.goto('/my-schedule')
    await page.locator(`[data-test=my-sessions] [data-session="${id}"]`).waitFor()
    await page.locator(`[data-session="${id}"] [data-test=star]`).click()
    await page.getByText('Your schedule is empty').waitFor()
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'join links appear once plaza releases them'({ browser, plaza }) {
    const schedule = await (await fetch(`${plaza.base}/api/schedule`)).json()
    const slots = new Map(schedule.slots.map((s) => [s.id, s]))
    const now = Date.now()
    const uncapped = schedule.sessions.filter((s) => s.slot && s.participantCap === null)
    const started = uncapped.find((s) => Date.parse(slots.get(s.slot).start) < now)
    const later = uncapped.find((s) => Date.parse(slots.get(s.slot).start) > now + 60 * 60_000)
    const page = await newPage(browser, plaza)
    await signIn(page, plaza, ATTENDEE_EMAIL, `/session/${started.id}`)
    await page.locator('.join a').first().waitFor()
    assert.ok((await page.locator('.join a').count()) >= 1)
    assert.match(await page.locator('.join a').first().getAttribute('href'), /^https:\/\//)
    const requests = []
    page.on('request', (r) => requests.push(new URL(r.url()).pathname))
    await page.goto(`/session/${later.id}`)
    await page.getByText('Links to join appear here 30 minutes before the start.').waitFor()
    assert.ok(!requests.some((p) => p.endsWith('/links')), 'no links request before their release')
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'switches to Spanish and keeps it after a reload'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await page.goto('/schedule')
    await page.locator('.session-card').first().waitFor()
    await page.locator('header [data-test=language]').selectOption('es')
    await page.getByRole('heading', { name: 'Programa', level: 1 }).waitFor()
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'es')
    assert.match(await page.locator('#nav-list').innerText(), /Ponentes/)
    // Schedule data is localised too: tracks have Spanish names in the demo event.
    assert.ok((await page.locator('[data-test=track] option').allInnerTexts()).includes('Escenario principal'))
    await page.reload()
    await page.getByRole('heading', { name: 'Programa', level: 1 }).waitFor()
    assert.match(await page.locator('[data-test=count]').innerText(), /sesi(ón|ones)/)
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'deletes the account only after confirmation'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await signIn(page, plaza, 'attendee-2@example.org', '/profile')
    await page.locator('[data-test=profile-email]', { hasText: 'attendee-2@example.org' }).waitFor()
    await page.locator('[data-test=delete]').click()
    await page.getByText('It cannot be undone.').waitFor()
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-test')), 'confirm-delete')
    await page.getByRole('button', { name: 'Cancel' }).click()
    await page.locator('[data-test=delete]').waitFor()
    const token = await page.evaluate(() => localStorage.getItem('plaza.token'))
    await page.locator('[data-test=delete]').click()
    await page.locator('[data-test=confirm-delete]').click()
    await page.getByText('Your account has been deleted.').waitFor()
    assert.equal(await page.evaluate(() => localStorage.getItem('plaza.token')), null)
    const me = await fetch(`${plaza.base}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(me.status, 401)
    assert.match(await page.locator('#nav-list').innerText(), /Sign in/)
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'an expired or used link lands on the error page'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await page.goto('/error/login_expired')
    await page.getByText('This sign-in link has expired or was already used.').waitFor()
    await page.goto('/_auth#token=not-a-jwt')
    await page.getByText('That sign-in link did not work.').waitFor()
    page.assertNoConsoleErrors()
    await page.closeContext()
  },
}
