import { afterEach, describe, expect, it, vi } from 'vitest'
import ProfileSettings from '../ProfileSettings.vue'
import { auth } from '../../lib/auth'
import { setConfig } from '../../lib/config'
import { flush, mountWithApp, stubFetch } from '../../test-utils'

const registration = { id: 3, name: 'Ana', email: 'ana@example.org', language: 'en', scheduleEmails: true }

describe('ProfileSettings', () => {
  afterEach(() => {
    auth.token = null
    auth.registration = null
    vi.unstubAllGlobals()
    document.body.innerHTML = ''
  })

  it('saves the email opt-in with PATCH /auth/me and hides reminders when plaza has none', async () => {
    setConfig({ apiBase: '/api', socketUrl: '', socketPath: '/api/socket.io' })
    auth.token = 'jwt'
    auth.registration = { ...registration }
    const sent: unknown[] = []
    const calls = stubFetch({
      'PATCH /api/auth/me': (body) => {
        sent.push(body)
        return { body: { registration: { ...registration, ...(body as object) } } }
      },
    })
    const w = mountWithApp(ProfileSettings)
    expect(w.find('[data-test=reminder-minutes]').exists()).toBe(false)
    const box = w.get('[data-test=schedule-emails]')
    expect((box.element as HTMLInputElement).checked).toBe(true)
    ;(box.element as HTMLInputElement).checked = false
    await box.trigger('change')
    await flush()
    expect(sent).toEqual([{ scheduleEmails: false }])
    expect(auth.registration?.scheduleEmails).toBe(false)
    expect(w.get('[data-test=settings-status]').text()).toBe('Settings saved.')
    expect(calls).toEqual(['PATCH /api/auth/me'])
  })

  it('offers off/5/10/15 when plaza has reminders; picking one saves it and only then tries push', async () => {
    setConfig({ apiBase: '/api', socketUrl: '', socketPath: '/api/socket.io' })
    auth.token = 'jwt'
    auth.registration = { ...registration, reminderMinutes: 0 }
    const calls = stubFetch({
      'PATCH /api/auth/me': (body) => ({ body: { registration: { ...registration, ...(body as object) } } }),
    })
    const w = mountWithApp(ProfileSettings)
    await flush()
    expect(calls).toEqual([]) // nothing asked on load
    const select = w.get('[data-test=reminder-minutes]')
    expect(select.findAll('option').map((o) => o.text())).toEqual(['Off', '5 minutes before', '10 minutes before', '15 minutes before'])
    await select.setValue('10')
    await flush()
    await flush()
    expect(calls).toContain('PATCH /api/auth/me')
    expect(auth.registration?.reminderMinutes).toBe(10)
    // jsdom has no service workers: push is reported unavailable, reminders stay live-only.
    expect(w.get('[data-test=push-state]').text()).toBe('Reminders appear while plaza is open in a tab.')
  })
})
