import { beforeEach, describe, expect, it } from 'vitest'
import { i18n } from './i18n'
import {
  MAX_NOTICES, describeNotice, markAllRead, markRead, notices, parseChange, receiveChange, receiveReminder,
  unreadCount, useNoticesOf, type Notice,
} from './notices'

const t = (key: string, named?: Record<string, unknown>) => i18n.global.t(key, named ?? {})
const tEs = (key: string, named?: Record<string, unknown>) => i18n.global.t(key, named ?? {}, { locale: 'es' })

const place = (start: string, room: string, title: string) => ({
  start,
  end: start.replace(':00:00', ':45:00'),
  track: room.toLowerCase(),
  room: { en: room, es: `Sala ${room}` },
  title: { en: title, es: `${title} (es)` },
})
const moved = {
  sessionId: 'ABC-1',
  changes: ['moved', 'room'],
  old: place('2026-06-03T10:00:00Z', 'Main', 'Open web'),
  new: place('2026-06-03T14:00:00Z', 'Garden', 'Open web'),
  version: 7,
}

beforeEach(() => {
  localStorage.clear()
  useNoticesOf(null)
})

describe('notices store', () => {
  it('keeps one notice per release and session, newest first, with an unread count', () => {
    useNoticesOf('12')
    expect(receiveChange(moved)).toBe(true)
    expect(receiveChange(moved)).toBe(false) // a repeated event (reconnect) is not a second notice
    expect(receiveChange({ ...moved, version: 8, changes: ['cancelled'], new: null })).toBe(true)
    expect(notices.list.map((n) => n.id)).toEqual(['change:8:ABC-1', 'change:7:ABC-1'])
    expect(unreadCount.value).toBe(2)
    markRead('change:7:ABC-1')
    expect(unreadCount.value).toBe(1)
    markAllRead()
    expect(unreadCount.value).toBe(0)
  })

  it('persists per attendee in localStorage, so a reload keeps them and another account does not see them', () => {
    useNoticesOf('12')
    receiveChange(moved)
    receiveReminder({ sessionId: 'ABC-1', title: 'Open web', start: '2026-06-03T14:00:00Z', minutes: 10 })
    markRead('change:7:ABC-1')
    useNoticesOf('99')
    expect(notices.list).toEqual([])
    useNoticesOf(null)
    useNoticesOf('12')
    expect(notices.list.map((n) => [n.kind, n.read])).toEqual([['reminder', false], ['change', true]])
    expect(JSON.parse(localStorage.getItem('plaza.notices.12')!)).toHaveLength(2)
  })

  it('ignores events while signed out, malformed payloads and unknown change kinds; keeps at most MAX_NOTICES', () => {
    expect(receiveChange(moved)).toBe(false)
    useNoticesOf('1')
    expect(receiveChange({ sessionId: 'X', changes: ['teleported'], old: {} })).toBe(false)
    expect(receiveChange('nope')).toBe(false)
    expect(receiveReminder({ sessionId: 'X', start: 'not a date', minutes: 5 })).toBe(false)
    expect(parseChange({ ...moved, changes: ['moved', 'weird'] })?.changes).toEqual(['moved'])
    for (let v = 0; v < MAX_NOTICES + 5; v++) receiveChange({ ...moved, version: v })
    expect(notices.list).toHaveLength(MAX_NOTICES)
    expect(notices.list[0].id).toBe(`change:${MAX_NOTICES + 4}:ABC-1`)
  })

  it('survives corrupt storage', () => {
    localStorage.setItem('plaza.notices.5', '{not json')
    useNoticesOf('5')
    expect(notices.list).toEqual([])
    localStorage.setItem('plaza.notices.6', JSON.stringify([{ id: 1 }, { id: 'ok', kind: 'reminder', read: true, received: '', reminder: {} }]))
    useNoticesOf('6')
    expect(notices.list.map((n) => n.id)).toEqual(['ok'])
  })
})

describe('describeNotice', () => {
  const notice = (change: object): Notice => ({ id: 'x', kind: 'change', received: '', read: false, change: parseChange(change)! })

  it('says what moved, from when to when, and the room change, in the display zone', () => {
    expect(describeNotice(notice(moved), t, 'en', 'UTC')).toEqual([
      '“Open web” moved from Wed 10:00 AM to Wed 02:00 PM.',
      '“Open web” changed room from Main to Garden.',
    ])
    expect(describeNotice(notice(moved), t, 'en', 'Europe/Madrid')[0]).toBe('“Open web” moved from Wed 12:00 PM to Wed 04:00 PM.')
  })

  it('localises sentences and session texts (Spanish)', () => {
    expect(describeNotice(notice(moved), tEs, 'es', 'UTC')).toEqual([
      '«Open web (es)» se ha movido de mié 10:00 a mié 14:00.',
      '«Open web (es)» cambia de sala: de Sala Main a Sala Garden.',
    ])
  })

  it('describes cancellations, renames and reminders', () => {
    expect(describeNotice(notice({ ...moved, changes: ['cancelled'], new: null }), t, 'en', 'UTC')).toEqual(['“Open web” was cancelled.'])
    const renamed = { ...moved, changes: ['title'], new: { ...moved.old, title: { en: 'Open web, revisited' } } }
    expect(describeNotice(notice(renamed), t, 'en', 'UTC')).toEqual(['Session renamed from “Open web” to “Open web, revisited”.'])
    const reminder: Notice = {
      id: 'r', kind: 'reminder', received: '', read: false,
      reminder: { sessionId: 'ABC-1', title: 'Open web', start: '2026-06-03T14:00:00Z', minutes: 10 },
    }
    expect(describeNotice(reminder, t, 'en', 'UTC')).toEqual(['“Open web” starts in 10 minutes (02:00 PM).'])
    expect(describeNotice(reminder, tEs, 'es', 'UTC')).toEqual(['«Open web» empieza en 10 minutos (14:00).'])
  })
})
