// The notices panel's data: schedule changes (`myScheduleChanged`) and reminders (`sessionReminder`) received over
// the socket, kept per attendee in localStorage (`plaza.notices.<attendee id>`) so a reload keeps them and another
// account on the same browser never sees them. Newest first, at most MAX_NOTICES, one per change/reminder id (a
// reconnect that repeats an event does not add it twice). Also the pure formatting of a notice into sentences.
import { computed, reactive } from 'vue'
import type { Localised } from './types'
import { formatTime, localise } from './schedule'

export type ChangeKind = 'moved' | 'room' | 'title' | 'cancelled'

/** A session as it was or is served (plaza's `Placement`). */
export interface Placement {
  start?: string | null
  end?: string | null
  track?: string
  room?: Localised
  title?: Localised
}

/** `myScheduleChanged` payload (server/src/live/my_schedule.rs). */
export interface ScheduleChange {
  sessionId: string
  changes: ChangeKind[]
  old: Placement
  new: Placement | null
  version?: number
}

/** `sessionReminder` payload. */
export interface SessionReminder {
  sessionId: string
  title: string | Localised
  start: string
  minutes: number
}

export type Notice =
  | { id: string; kind: 'change'; received: string; read: boolean; change: ScheduleChange }
  | { id: string; kind: 'reminder'; received: string; read: boolean; reminder: SessionReminder }

export const MAX_NOTICES = 50
const KEY_PREFIX = 'plaza.notices.'
const KINDS: ChangeKind[] = ['moved', 'room', 'title', 'cancelled']

export const notices = reactive({
  owner: null as string | null,
  list: [] as Notice[],
})

export const unreadCount = computed(() => notices.list.filter((n) => !n.read).length)

/** Validates a socket payload; null when it is not a schedule change this client understands. */
export function parseChange(payload: unknown): ScheduleChange | null {
  const p = payload as Partial<ScheduleChange> | null
  if (!p || typeof p !== 'object' || typeof p.sessionId !== 'string' || !Array.isArray(p.changes)) return null
  const changes = p.changes.filter((c): c is ChangeKind => KINDS.includes(c as ChangeKind))
  if (!changes.length || !p.old || typeof p.old !== 'object') return null
  return {
    sessionId: p.sessionId,
    changes,
    old: p.old,
    new: p.new && typeof p.new === 'object' ? p.new : null,
    version: typeof p.version === 'number' ? p.version : undefined,
  }
}

export function parseReminder(payload: unknown): SessionReminder | null {
  const p = payload as Partial<SessionReminder> | null
  if (!p || typeof p !== 'object' || typeof p.sessionId !== 'string' || typeof p.start !== 'string') return null
  if (typeof p.minutes !== 'number' || Number.isNaN(Date.parse(p.start))) return null
  const title = typeof p.title === 'string' || (p.title && typeof p.title === 'object') ? p.title : ''
  return { sessionId: p.sessionId, title, start: p.start, minutes: p.minutes }
}

/** Stable ids: one notice per (release, session) and per (session, start) reminder. */
export function changeId(c: ScheduleChange): string {
  return `change:${c.version ?? `${c.old.start ?? ''}>${c.new?.start ?? ''}`}:${c.sessionId}`
}
export const reminderId = (r: SessionReminder): string => `reminder:${r.sessionId}:${r.start}`

function storageKey(owner: string) {
  return KEY_PREFIX + owner
}

function save(): void {
  if (!notices.owner) return
  try {
    localStorage.setItem(storageKey(notices.owner), JSON.stringify(notices.list))
  } catch {
    /* storage disabled or full: the notices last until reload */
  }
}

function isNotice(n: unknown): n is Notice {
  const v = n as Notice | null
  return !!v && typeof v.id === 'string' && (v.kind === 'change' || v.kind === 'reminder') && typeof v.read === 'boolean'
}

/** Switches to `owner`'s notices (the attendee id; null when signed out: an empty, unsaved list). */
export function useNoticesOf(owner: string | null): void {
  if (owner === notices.owner) return
  notices.owner = owner
  notices.list = []
  if (!owner) return
  try {
    const raw = JSON.parse(localStorage.getItem(storageKey(owner)) ?? '[]')
    if (Array.isArray(raw)) notices.list = raw.filter(isNotice).slice(0, MAX_NOTICES)
  } catch {
    notices.list = []
  }
}

/** Adds a notice unless one with its id is already kept; returns whether it was added. */
export function addNotice(notice: Notice): boolean {
  if (!notices.owner || notices.list.some((n) => n.id === notice.id)) return false
  notices.list = [notice, ...notices.list].slice(0, MAX_NOTICES)
  save()
  return true
}

export function receiveChange(payload: unknown, now = new Date()): boolean {
  const change = parseChange(payload)
  if (!change) return false
  return addNotice({ id: changeId(change), kind: 'change', received: now.toISOString(), read: false, change })
}

export function receiveReminder(payload: unknown, now = new Date()): boolean {
  const reminder = parseReminder(payload)
  if (!reminder) return false
  return addNotice({ id: reminderId(reminder), kind: 'reminder', received: now.toISOString(), read: false, reminder })
}

export function markRead(id: string): void {
  const n = notices.list.find((x) => x.id === id)
  if (n && !n.read) {
    n.read = true
    save()
  }
}

export function markAllRead(): void {
  if (!notices.list.some((n) => !n.read)) return
  notices.list.forEach((n) => (n.read = true))
  save()
}

export function clearNotices(): void {
  notices.list = []
  save()
}

type Translate = (key: string, named?: Record<string, unknown>) => string

/** When: "Wed 14:30" in the display zone (weekday too, since a move can cross days). */
export function formatWhen(iso: string | null | undefined, locale: string, timeZone?: string): string {
  if (!iso) return '—'
  const day = new Intl.DateTimeFormat(locale, { timeZone, weekday: 'short' }).format(new Date(iso))
  return `${day} ${formatTime(iso, locale, timeZone)}`
}

/** The session's title as the notice names it: the new title, else the old one. */
export function noticeTitle(n: Notice, locale: string): string {
  if (n.kind === 'reminder') {
    const t = n.reminder.title
    return typeof t === 'string' ? t : localise(t, locale)
  }
  return localise(n.change.new?.title ?? n.change.old.title, locale) || localise(n.change.old.title, locale)
}

/** The sentences of a notice, in `locale` and `timeZone` (undefined: the browser's). */
export function describeNotice(n: Notice, t: Translate, locale: string, timeZone?: string): string[] {
  const title = noticeTitle(n, locale)
  if (n.kind === 'reminder') {
    return [t('notices.reminder', { title, minutes: n.reminder.minutes, time: formatTime(n.reminder.start, locale, timeZone) })]
  }
  const { old, new: now } = n.change
  return n.change.changes.map((kind) => {
    switch (kind) {
      case 'moved':
        return t('notices.moved', { title, from: formatWhen(old.start, locale, timeZone), to: formatWhen(now?.start, locale, timeZone) })
      case 'room':
        return t('notices.room', { title, from: localise(old.room, locale) || '—', to: localise(now?.room, locale) || '—' })
      case 'title':
        return t('notices.renamed', { from: localise(old.title, locale), to: localise(now?.title, locale) })
      case 'cancelled':
        return t('notices.cancelled', { title })
    }
  })
}
