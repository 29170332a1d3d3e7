// Browsing without an account: the schedule by day with its filters and time-zone toggle, a session page, the
// speakers and what's-on pages, page flags in the menu.
import assert from 'node:assert/strict'
import { newPage } from './harness.mjs'

const count = async (page) => Number((await page.locator('[data-test=count]').innerText()).match(/\d+/)?.[0] ?? 0)

export const tests = {
  async 'the schedule lists the demo event by day and filters it'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await page.goto('/schedule')
    await page.locator('.session-card').first().waitFor()
    const days = await page.locator('button.day').count()
    assert.equal(days, 3, 'three days of demo event')

    // Each day has sessions; switching day changes the list.
    const perDay = []
    for (let i = 0; i < days; i++) {
      await page.locator('button.day').nth(i).click()
      assert.equal(await page.locator('button.day').nth(i).getAttribute('aria-pressed'), 'true')
      perDay.push(await count(page))
    }
    assert.ok(perDay.every((n) => n > 0), `sessions every day: ${perDay}`)
    assert.equal(await page.locator('.session-card').count(), perDay[2])

    // Track filter: every card shown is on that track.
    await page.locator('[data-test=track]').selectOption({ label: 'Main Stage' })
    const onTrack = await count(page)
    assert.ok(onTrack > 0 && onTrack < perDay[2], `track filter narrows ${perDay[2]} → ${onTrack}`)
    for (const meta of await page.locator('.session-card .meta').allInnerTexts()) assert.match(meta, /Main Stage/)
    // The filtered view is in the URL: a reload (or a shared link) shows the same list.
    assert.match(page.url(), /track=301/)
    await page.reload()
    await page.locator('.session-card').first().waitFor()
    assert.equal(await count(page), onTrack)

    // Language incl. accessibility: ASL sessions carry the ASL badge.
    await page.locator('[data-test=track]').selectOption('')
    await page.locator('[data-test=language-filter]').selectOption('asl')
    const asl = await count(page)
    assert.ok(asl < perDay[2])
    for (const badges of await page.locator('.session-card .badges').allInnerTexts()) assert.match(badges, /ASL/)

    // Text search matches titles; a nonsense query empties the list and offers to clear.
    await page.locator('[data-test=language-filter]').selectOption('')
    const firstTitle = await page.locator('.session-card h4').first().innerText()
    await page.locator('[data-test=search]').fill(firstTitle)
    assert.ok((await count(page)) >= 1)
    assert.equal(await page.locator('.session-card h4').first().innerText(), firstTitle)
    await page.locator('[data-test=search]').fill('zzzz-no-such-session')
    assert.equal(await count(page), 0)
    await page.getByRole('button', { name: 'Clear filters' }).click()
    assert.equal(await count(page), perDay[2])

    // Time zone: local by default; the browser runs in Europe/Madrid (UTC+1 in November), and event time is the
    // settings' Europe/London (UTC+0 in November), one hour earlier.
    assert.equal(await page.locator('[data-test=zone]').inputValue(), 'local')
    const localTime = await page.locator('.slot-time').first().innerText()
    await page.locator('[data-test=zone]').selectOption('event')
    const utcTime = await page.locator('.slot-time').first().innerText()
    assert.match(await page.locator('[data-test=zone] option[value=event]').innerText(), /Europe\/London/)
    assert.notEqual(localTime, utcTime)
    assert.equal(Number(localTime.slice(0, 2)), (Number(utcTime.slice(0, 2)) + 1) % 24)
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'live now shows only sessions in progress, with the live badge'({ browser, plaza }) {
    const schedule = await (await fetch(`${plaza.base}/api/schedule`)).json()
    const slots = new Map(schedule.slots.map((s) => [s.id, s]))
    const liveAt = (now) =>
      schedule.sessions.filter((s) => {
        const slot = slots.get(s.slot)
        return slot && Date.parse(slot.start) <= now && now < Date.parse(slot.end)
      })
    // Freeze the page's clock ten minutes into the busiest slot, so "live" is known and never empty.
    const busiest = [...slots.values()].sort((a, b) => liveAt(Date.parse(b.start)).length - liveAt(Date.parse(a.start)).length)[0]
    const now = Date.parse(busiest.start) + 10 * 60_000
    const expected = liveAt(now)
    assert.ok(expected.length > 1)
    const page = await newPage(browser, plaza)
    await page.clock.setFixedTime(new Date(now))
    await page.goto('/schedule')
    await page.locator('.session-card').first().waitFor()
    await page.locator('[data-test=live-only]').check()
    assert.equal(await count(page), expected.length)
    assert.equal(await page.locator('.session-card .badge.live').count(), expected.length)
    const shownIds = await page.locator('.session-card').evaluateAll((els) => els.map((e) => e.dataset.session).sort())
    assert.deepEqual(shownIds, expected.map((s) => s.id).sort())
    // What's on lists the same sessions under "Live now".
    await page.getByRole('link', { name: "What's on" }).click()
    await page.getByRole('heading', { name: 'Live now' }).waitFor()
    assert.equal(await page.locator('.badge.live').count(), expected.length)
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'a session page shows speakers, calendar links and the share link'({ browser, plaza }) {
    const schedule = await (await fetch(`${plaza.base}/api/schedule`)).json()
    const session = schedule.sessions.find((s) => s.slot && s.speakers.length > 0)
    const speaker = schedule.speakers.find((sp) => sp.id === session.speakers[0])
    const page = await newPage(browser, plaza)
    await page.goto('/schedule')
    const start = schedule.slots.find((s) => s.id === session.slot).start
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Madrid' }).format(new Date(start))
    await page.locator(`button.day[data-day="${day}"]`).click()
    await page.locator(`[data-session="${session.id}"] a`).click()
    await page.waitForURL(`**/session/${session.id}`)
    await page.locator('h1', { hasText: session.title.en }).waitFor()
    assert.equal(await page.title(), `${session.title.en} · Plaza Demo Festival`)
    await page.locator('.speaker h3', { hasText: speaker.name }).waitFor()
    const ics = await page.getByRole('link', { name: 'Download .ics' }).getAttribute('href')
    assert.equal(ics, `${plaza.base}/api/calendar/ical/${session.id}`)
    const icsBody = await (await fetch(ics)).text()
    assert.match(icsBody, /BEGIN:VCALENDAR/)
    assert.equal(
      await page.getByRole('link', { name: 'Google Calendar' }).getAttribute('href'),
      `${plaza.base}/api/calendar/google/${session.id}`,
    )
    assert.equal(await page.locator('[data-test=share]').innerText(), `${plaza.base}/api/share/session/${session.id}`)
    await page.getByRole('link', { name: 'Sign in to add this session to your schedule.' }).waitFor()
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'speakers, what’s on and help pages render; hidden pages are not found'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await page.goto('/speakers')
    await page.locator('.speaker-grid .speaker').first().waitFor()
    assert.ok((await page.locator('.speaker-grid .speaker').count()) > 10)
    await page.goto('/whats-on')
    await page.getByRole('heading', { name: 'Live now' }).waitFor()
    await page.goto('/help')
    await page.locator('.content h2').first().waitFor()
    // Menu follows settings.json: fringe is "coming soon" in the demo content but has no route; social is hidden.
    const menu = await page.locator('#nav-list').innerText()
    assert.match(menu, /Schedule/)
    assert.match(menu, /Sign in/)
    assert.doesNotMatch(menu, /Profile|Admin/)
    await page.goto('/no-such-page')
    await page.getByRole('heading', { name: 'Page not found' }).waitFor()
    page.assertNoConsoleErrors()
    await page.closeContext()
  },

  async 'the skip link and the menu work with the keyboard'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    await page.goto('/schedule')
    await page.locator('.session-card').first().waitFor()
    await page.keyboard.press('Tab')
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content')
    await page.keyboard.press('Enter')
    assert.equal(await page.evaluate(() => location.hash), '#main')
    // Tab from the top reaches the schedule link, Enter follows it.
    await page.goto('/')
    let found = false
    for (let i = 0; i < 12 && !found; i++) {
      await page.keyboard.press('Tab')
      found = (await page.evaluate(() => document.activeElement?.textContent?.trim())) === 'Speakers'
    }
    assert.ok(found, 'Speakers link reachable by Tab')
    await page.keyboard.press('Enter')
    await page.waitForURL('**/speakers')
    // Focus moves to the page and the title names it.
    await page.waitForFunction(() => document.activeElement?.id === 'main')
    assert.equal(await page.title(), 'Speakers · Plaza Demo Festival')
    page.assertNoConsoleErrors()
    await page.closeContext()
  },
}
