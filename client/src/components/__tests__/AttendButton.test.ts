import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import AttendButton from '../AttendButton.vue'
import { auth } from '../../lib/auth'
import { store } from '../../lib/store'
import { flush, mountWithApp, stubFetch } from '../../test-utils'
import type { Session } from '../../lib/types'

const session = { id: 'S1', participantCap: 2, title: { en: 'S' } } as unknown as Session

describe('AttendButton', () => {
  beforeEach(() => {
    auth.token = 'token'
    store.attending = new Set()
  })
  afterEach(() => {
    auth.token = null
    vi.unstubAllGlobals()
    document.body.innerHTML = ''
  })

  it('attends and shows the places taken against the cap', async () => {
    let attending = false
    const calls = stubFetch({
      'GET /api/attendance/S1': () => ({ body: { isAttending: attending, sessionCount: attending ? 1 : 0 } }),
      'POST /api/attendance/S1/attend': () => ((attending = true), { body: { message: 'ok' } }),
    })
    const w = mountWithApp(AttendButton, { session })
    await flush()
    expect(w.get('[data-test=places]').text()).toBe('0 of 2 places taken')
    await w.get('[data-test=attend]').trigger('click')
    await flush()
    await flush()
    expect(calls).toContain('POST /api/attendance/S1/attend')
    expect(w.get('[data-test=places]').text()).toBe('1 of 2 places taken')
    expect(w.text()).toContain('This session is in your schedule.')
    expect(store.attending.has('S1')).toBe(true)
  })

  it('disables the button and says so when the session is full', async () => {
    stubFetch({ 'GET /api/attendance/S1': { body: { isAttending: false, sessionCount: 2 } } })
    const w = mountWithApp(AttendButton, { session })
    await flush()
    expect(w.text()).toContain('This session is full.')
    expect(w.get('[data-test=attend]').attributes('disabled')).toBeDefined()
  })

  it('reports "full" when plaza refuses the last place to someone else first', async () => {
    stubFetch({
      'GET /api/attendance/S1': { body: { isAttending: false, sessionCount: 1 } },
      'POST /api/attendance/S1/attend': { status: 400, body: { codes: ['general.badRequest'] } },
    })
    const w = mountWithApp(AttendButton, { session })
    await flush()
    await w.get('[data-test=attend]').trigger('click')
    await flush()
    await flush()
    expect(w.get('[role=alert]').text()).toBe('This session is full.')
  })

  it('asks visitors to sign in and calls no API', async () => {
    auth.token = null
    const calls = stubFetch({})
    const w = mountWithApp(AttendButton, { session })
    await flush()
    expect(w.text()).toContain('Sign in to add this session to your schedule.')
    expect(calls).toEqual([])
  })
})
