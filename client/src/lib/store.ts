// Shared data: the schedule (with settings) loaded once, content pages cached by slug, and the signed-in user's
// attendance. Views read from here so navigating never refetches what is already known.
import { reactive } from 'vue'
import { api } from './api'
import { auth, setToken } from './auth'
import type { Schedule } from './types'
import { ApiError } from './api'
import { trackMetric } from './socket'

export const store = reactive({
  schedule: null as Schedule | null,
  scheduleError: false,
  attending: new Set<string>(),
})

let schedulePromise: Promise<void> | null = null

export function loadSchedule(): Promise<void> {
  schedulePromise ??= api
    .get<Schedule>('/schedule')
    .then((s) => {
      store.schedule = s
    })
    .catch(() => {
      store.scheduleError = true
      schedulePromise = null
    })
  return schedulePromise
}

let reloadTimer: ReturnType<typeof setTimeout> | null = null

/**
 * Fetches the schedule again shortly (one fetch for a burst of calls): a release announced over the socket
 * (`myScheduleChanged`) moved sessions this page may show. The old schedule stays shown if the fetch fails.
 */
export function reloadScheduleSoon(delayMs = 1000): void {
  if (reloadTimer) return
  reloadTimer = setTimeout(() => {
    reloadTimer = null
    api
      .get<Schedule>('/schedule')
      .then((s) => (store.schedule = s))
      .catch(() => undefined)
  }, delayMs)
}

const content = new Map<string, Promise<Record<string, string> | null>>()

/** A content page's HTML per locale; null when the page does not exist. */
export function loadContent(slug: string): Promise<Record<string, string> | null> {
  let p = content.get(slug)
  if (!p) {
    p = api
      .get<{ content: Record<string, string> }>(`/content/${encodeURIComponent(slug)}`)
      .then((r) => r.content)
      .catch(() => {
        content.delete(slug)
        return null
      })
    content.set(slug, p)
  }
  return p
}

/** Loads the registration and attendance of the stored token; signs out if plaza refuses the token. */
export async function loadMe(): Promise<void> {
  if (!auth.token) return
  try {
    const me = await api.get<{ registration: typeof auth.registration }>('/auth/me')
    auth.registration = me.registration
    await loadAttendance()
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) setToken(null)
  }
}

export async function loadAttendance(): Promise<void> {
  if (!auth.token) {
    store.attending = new Set()
    return
  }
  const r = await api.get<{ attendance: { session: string }[] }>('/attendance/me')
  store.attending = new Set(r.attendance.map((a) => a.session))
}

/** Attends or leaves a session; 'full' when plaza refuses the last place (400). Sends the attendance metric. */
export async function setAttending(sessionId: string, attend: boolean): Promise<'ok' | 'full' | 'error'> {
  const action = attend ? 'attend' : 'unattend'
  try {
    await api.post(`/attendance/${encodeURIComponent(sessionId)}/${action}`)
  } catch (e) {
    return e instanceof ApiError && e.status === 400 ? 'full' : 'error'
  }
  trackMetric(`attendance/${action}`, { sessionId })
  const next = new Set(store.attending)
  if (attend) next.add(sessionId)
  else next.delete(sessionId)
  store.attending = next
  return 'ok'
}
