import { describe, expect, it } from 'vitest'
import { dayKey, emptyFilters, filterSessions, filtersFromQuery, filtersToQuery, formatDay, groupByDay, isLive, linksReleased, liveAndSoon, localise, pageState } from './schedule'
import type { Schedule, Session } from './types'

const session = (id: string, over: Partial<Session> = {}): Session => ({
  id, type: 't1', slot: 's1', track: 'tr1', themes: [], title: { en: `Title ${id}` }, content: { en: '' }, links: [],
  hostLanguages: ['en'], enableInterpretation: false, speakers: [], hostOrganisation: {}, isRecorded: false,
  isOfficial: false, isFeatured: false, visibility: 'public', state: 'confirmed', participantCap: null, ...over,
})
const schedule = (sessions: Session[]): Schedule => ({
  sessions,
  slots: [
    { id: 's1', start: '2026-06-01T23:30:00.000Z', end: '2026-06-02T00:30:00.000Z' },
    { id: 's2', start: '2026-06-02T10:00:00.000Z', end: '2026-06-02T11:00:00.000Z' },
  ],
  speakers: [{ id: 'sp1', name: 'Ada Lovelace', role: {}, bio: {} }],
  themes: [], tracks: [], types: [], settings: {},
})

describe('pageState', () => {
  it('maps enabled/visible to active, coming soon and hidden', () => {
    const settings = { atrium: { enabled: true, visible: true }, schedule: { enabled: false, visible: true }, arts: { enabled: true, visible: false } }
    expect(pageState(settings, 'atrium')).toBe('active')
    expect(pageState(settings, 'schedule')).toBe('soon')
    expect(pageState(settings, 'arts')).toBe('hidden')
    expect(pageState(settings, 'fringe')).toBe('hidden')
    expect(pageState(undefined, 'atrium')).toBe('hidden')
  })
})

describe('localise', () => {
  it('prefers the locale, then English, then any text', () => {
    expect(localise({ en: 'Hi', es: 'Hola' }, 'es')).toBe('Hola')
    expect(localise({ en: 'Hi' }, 'es')).toBe('Hi')
    expect(localise({ fr: 'Salut' }, 'es')).toBe('Salut')
    expect(localise(undefined, 'en')).toBe('')
  })
})

describe('filterSessions', () => {
  const s = schedule([
    session('a', { track: 'tr1', themes: ['x'], hostLanguages: ['en', 'asl'], speakers: ['sp1'] }),
    session('b', { track: 'tr2', type: 't2', hostLanguages: ['es', 'cc'], slot: 's2', title: { en: 'Data rights', es: 'Derechos' } }),
  ])
  const ids = (f: Partial<ReturnType<typeof emptyFilters>>, now = 0) =>
    filterSessions(s, { ...emptyFilters(), ...f }, now).map((x) => x.id)
  it('filters by track, theme, type and language including ASL/CC', () => {
    expect(ids({})).toEqual(['a', 'b'])
    expect(ids({ track: 'tr2' })).toEqual(['b'])
    expect(ids({ theme: 'x' })).toEqual(['a'])
    expect(ids({ type: 't2' })).toEqual(['b'])
    expect(ids({ language: 'asl' })).toEqual(['a'])
    expect(ids({ language: 'cc' })).toEqual(['b'])
  })
  it('searches every word in titles of every locale and speaker names', () => {
    expect(ids({ query: 'derechos' })).toEqual(['b'])
    expect(ids({ query: 'ada title' })).toEqual(['a'])
    expect(ids({ query: 'ada rights' })).toEqual([])
  })
  it('keeps only running sessions with liveOnly', () => {
    expect(ids({ liveOnly: true }, Date.parse('2026-06-02T10:30:00Z'))).toEqual(['b'])
  })
})

describe('days and time zones', () => {
  it('puts a slot on its day in the chosen zone', () => {
    expect(dayKey('2026-06-01T23:30:00.000Z', 'UTC')).toBe('2026-06-01')
    expect(dayKey('2026-06-01T23:30:00.000Z', 'Europe/Madrid')).toBe('2026-06-02')
  })
  it('groups by day then slot in start order', () => {
    const s = schedule([session('late', { slot: 's2' }), session('b', { slot: 's1' }), session('a', { slot: 's1' }), session('none', { slot: undefined })])
    const utc = groupByDay(s.sessions, s.slots, 'en', 'UTC')
    expect(utc.map((d) => d.day)).toEqual(['2026-06-01', '2026-06-02'])
    expect(utc[0].slots[0].sessions.map((x) => x.id)).toEqual(['a', 'b'])
    const madrid = groupByDay(s.sessions, s.slots, 'en', 'Europe/Madrid')
    expect(madrid.map((d) => d.day)).toEqual(['2026-06-02'])
    expect(madrid[0].slots.map((g) => g.slot.id)).toEqual(['s1', 's2'])
  })
  it('formats a calendar day without shifting it', () => {
    expect(formatDay('2026-06-01', 'en')).toBe('Monday, June 1')
    expect(formatDay('2026-06-01', 'es')).toBe('lunes, 1 de junio')
  })
})

describe('live, soon and link release', () => {
  const slot = { id: 's', start: '2026-06-02T10:00:00Z', end: '2026-06-02T11:00:00Z' }
  it('is live from the start until before the end', () => {
    expect(isLive(slot, Date.parse('2026-06-02T09:59:59Z'))).toBe(false)
    expect(isLive(slot, Date.parse('2026-06-02T10:00:00Z'))).toBe(true)
    expect(isLive(slot, Date.parse('2026-06-02T11:00:00Z'))).toBe(false)
  })
  it('splits live sessions from those starting within the hour', () => {
    const s = schedule([session('now', { slot: 's1' }), session('next', { slot: 's2' })])
    const r = liveAndSoon(s, Date.parse('2026-06-02T09:15:00Z'))
    expect(r.live).toEqual([])
    expect(r.soon.map((x) => x.id)).toEqual(['next'])
    expect(liveAndSoon(s, Date.parse('2026-06-02T00:00:00Z')).live.map((x) => x.id)).toEqual(['now'])
  })
  it('releases links 30 minutes before the start', () => {
    expect(linksReleased(slot, Date.parse('2026-06-02T09:29:00Z'))).toBe(false)
    expect(linksReleased(slot, Date.parse('2026-06-02T09:30:00Z'))).toBe(true)
    expect(linksReleased(undefined, Date.now())).toBe(false)
  })
})

describe('filters in the URL', () => {
  it('round-trips through query parameters and ignores junk', () => {
    const f = { ...emptyFilters(), query: 'data', track: '301', language: 'asl', liveOnly: true }
    const q = filtersToQuery(f, '2026-06-02')
    expect(q).toEqual({ q: 'data', track: '301', lang: 'asl', live: '1', day: '2026-06-02' })
    expect(filtersFromQuery(q)).toEqual({ filters: f, day: '2026-06-02' })
    expect(filtersFromQuery({ day: 'tomorrow', track: ['a', 'b'] })).toEqual({ filters: emptyFilters(), day: '' })
  })
})
