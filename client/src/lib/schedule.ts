// Pure schedule logic (no Vue, no I/O), unit-tested: page-flag states, localisation fallback, session filters,
// grouping by day in a chosen time zone, and "live now". The views only render what these functions return.
import type { Localised, PageFlag, Schedule, Session, Settings, Slot, PageFlagName } from './types'

export type PageState = 'active' | 'soon' | 'hidden'

/** enabled+visible → active; visible only → coming soon; anything else (or missing) → hidden. */
export function pageState(settings: Settings | undefined, flag: PageFlagName): PageState {
  const f: PageFlag | undefined = settings?.[flag]
  if (!f || !f.visible) return 'hidden'
  return f.enabled ? 'active' : 'soon'
}

/** The text in `locale`, else English, else any non-empty value, else "". */
export function localise(text: Localised | undefined, locale: string): string {
  if (!text) return ''
  return text[locale] || text.en || Object.values(text).find((v) => !!v) || ''
}

export interface Filters {
  query: string
  track: string
  theme: string
  type: string
  /** a host language code (`en`, `es`) or an accessibility tag (`asl`, `cc`) */
  language: string
  liveOnly: boolean
}

export const emptyFilters = (): Filters => ({ query: '', track: '', theme: '', type: '', language: '', liveOnly: false })

/** Filters (and the chosen day) as URL query parameters, so a filtered schedule can be shared and revisited. */
export function filtersToQuery(f: Filters, day: string): Record<string, string> {
  const q: Record<string, string> = {}
  if (f.query) q.q = f.query
  if (f.track) q.track = f.track
  if (f.theme) q.theme = f.theme
  if (f.type) q.type = f.type
  if (f.language) q.lang = f.language
  if (f.liveOnly) q.live = '1'
  if (day) q.day = day
  return q
}

export function filtersFromQuery(query: Record<string, unknown>): { filters: Filters; day: string } {
  const str = (v: unknown) => (typeof v === 'string' ? v : '')
  return {
    filters: {
      query: str(query.q),
      track: str(query.track),
      theme: str(query.theme),
      type: str(query.type),
      language: str(query.lang),
      liveOnly: query.live === '1',
    },
    day: /^\d{4}-\d{2}-\d{2}$/.test(str(query.day)) ? str(query.day) : '',
  }
}

export function slotMap(slots: Slot[]): Map<string, Slot> {
  return new Map(slots.map((s) => [s.id, s]))
}

export function isLive(slot: Slot | undefined, now: number): boolean {
  if (!slot) return false
  return Date.parse(slot.start) <= now && now < Date.parse(slot.end)
}

/** Lowercased text a query is matched against: titles and descriptions in every locale, and speaker names. */
function haystack(session: Session, speakerNames: Map<string, string>): string {
  return [
    ...Object.values(session.title),
    ...Object.values(session.content),
    ...session.speakers.map((id) => speakerNames.get(id) ?? ''),
  ]
    .join(' ')
    .toLowerCase()
}

export function filterSessions(schedule: Schedule, filters: Filters, now: number): Session[] {
  const slots = slotMap(schedule.slots)
  const names = new Map(schedule.speakers.map((s) => [s.id, s.name]))
  const words = filters.query.toLowerCase().split(/\s+/).filter(Boolean)
  return schedule.sessions.filter((s) => {
    if (filters.track && s.track !== filters.track) return false
    if (filters.theme && !s.themes.includes(filters.theme)) return false
    if (filters.type && s.type !== filters.type) return false
    if (filters.language && !s.hostLanguages.includes(filters.language)) return false
    if (filters.liveOnly && !isLive(s.slot ? slots.get(s.slot) : undefined, now)) return false
    if (words.length) {
      const text = haystack(s, names)
      if (!words.every((w) => text.includes(w))) return false
    }
    return true
  })
}

/** `YYYY-MM-DD` of an instant in a time zone (undefined = the browser's). */
export function dayKey(iso: string, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(new Date(iso))
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? ''
  return `${get('year')}-${get('month')}-${get('day')}`
}

export interface SlotGroup {
  slot: Slot
  sessions: Session[]
}
export interface DayGroup {
  day: string
  slots: SlotGroup[]
}

/** Scheduled sessions grouped by day, then by slot, both in start order; titles sorted inside a slot. */
export function groupByDay(sessions: Session[], slots: Slot[], locale: string, timeZone?: string): DayGroup[] {
  const bySlot = slotMap(slots)
  const groups = new Map<string, SlotGroup>()
  for (const s of sessions) {
    const slot = s.slot ? bySlot.get(s.slot) : undefined
    if (!slot) continue
    let g = groups.get(slot.id)
    if (!g) groups.set(slot.id, (g = { slot, sessions: [] }))
    g.sessions.push(s)
  }
  const ordered = [...groups.values()].sort(
    (a, b) => Date.parse(a.slot.start) - Date.parse(b.slot.start) || Date.parse(a.slot.end) - Date.parse(b.slot.end),
  )
  const days: DayGroup[] = []
  for (const g of ordered) {
    g.sessions.sort((a, b) => localise(a.title, locale).localeCompare(localise(b.title, locale)))
    const day = dayKey(g.slot.start, timeZone)
    const last = days[days.length - 1]
    if (last && last.day === day) last.slots.push(g)
    else days.push({ day, slots: [g] })
  }
  return days
}

/** Sessions running at `now`, and those starting within `soonMinutes` after it. */
export function liveAndSoon(schedule: Schedule, now: number, soonMinutes = 60): { live: Session[]; soon: Session[] } {
  const slots = slotMap(schedule.slots)
  const live: Session[] = []
  const soon: Session[] = []
  for (const s of schedule.sessions) {
    const slot = s.slot ? slots.get(s.slot) : undefined
    if (!slot) continue
    const start = Date.parse(slot.start)
    if (isLive(slot, now)) live.push(s)
    else if (start > now && start - now <= soonMinutes * 60_000) soon.push(s)
  }
  return { live, soon }
}

export function formatTime(iso: string, locale: string, timeZone?: string): string {
  return new Intl.DateTimeFormat(locale, { timeZone, hour: '2-digit', minute: '2-digit' }).format(new Date(iso))
}

export function formatDay(day: string, locale: string): string {
  // `day` is a calendar date; format it at noon UTC so no zone shifts it to a neighbouring day.
  return new Intl.DateTimeFormat(locale, { timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long' }).format(
    new Date(`${day}T12:00:00Z`),
  )
}

/** Join links are released 30 minutes before the start (reference LINKS_GRACE_MS); asking earlier is a 401. */
export function linksReleased(slot: Slot | undefined, now: number): boolean {
  return !!slot && Date.parse(slot.start) - 30 * 60_000 <= now
}
