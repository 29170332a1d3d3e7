import { afterEach, describe, expect, it } from 'vitest'
import NoticesPanel from '../NoticesPanel.vue'
import { auth } from '../../lib/auth'
import { notices, receiveChange, useNoticesOf } from '../../lib/notices'
import { flush, mountWithApp } from '../../test-utils'

const change = (version: number) => ({
  sessionId: 'ABC-1',
  changes: ['moved'],
  old: { start: '2026-06-03T10:00:00Z', room: { en: 'Main' }, title: { en: 'Open web' } },
  new: { start: '2026-06-03T11:00:00Z', room: { en: 'Main' }, title: { en: 'Open web' } },
  version,
})

describe('NoticesPanel', () => {
  afterEach(() => {
    auth.token = null
    useNoticesOf(null)
    localStorage.clear()
    document.body.innerHTML = ''
  })

  it('is absent when signed out', () => {
    const w = mountWithApp(NoticesPanel)
    expect(w.find('[data-test=notices-toggle]').exists()).toBe(false)
  })

  it('shows the unread count, lists notices and marks them read', async () => {
    auth.token = 'jwt'
    useNoticesOf('3')
    receiveChange(change(1))
    receiveChange(change(2))
    const w = mountWithApp(NoticesPanel)
    const toggle = w.get('[data-test=notices-toggle]')
    expect(w.get('[data-test=notices-unread]').text()).toBe('2')
    expect(toggle.text()).toContain('Notices, 2 unread')
    expect(toggle.attributes('aria-expanded')).toBe('false')
    await toggle.trigger('click')
    expect(toggle.attributes('aria-expanded')).toBe('true')
    const items = w.findAll('[data-test=notice]')
    expect(items).toHaveLength(2)
    expect(items[0].text()).toContain('“Open web” moved from')
    expect(items[0].find('a').attributes('href')).toBe('/session/ABC-1')
    await items[0].get('[data-test=notice-read]').trigger('click')
    expect(w.get('[data-test=notices-unread]').text()).toBe('1')
    await w.get('[data-test=notices-read-all]').trigger('click')
    await flush()
    expect(w.find('[data-test=notices-unread]').exists()).toBe(false)
    expect(notices.list.every((n) => n.read)).toBe(true)
  })
})
