// The live connection (socket.io, reference §5): connects once with the path from client-config, re-sends `auth`
// on every connect, exposes the site-visitor count, sends trackMetric events and relays admin analytics. When the
// live server is unreachable the state stays 'offline' and every caller degrades (counts show "—"); nothing throws.
import { reactive } from 'vue'
import type { Socket } from 'socket.io-client'
import { config } from './config'
import { auth } from './auth'

export type MetricName =
  | 'session/ical' | 'attendance/attend' | 'attendance/unattend' | 'login/start' | 'login/finish' | 'login/logout'
  | 'register/start' | 'login/unregister' | 'general/pageView' | 'session/link' | 'atrium/widget'
  | 'session/recommendation' | 'profile/userCalendar'

export interface LiveEvent {
  created?: string
  eventName?: string
  payload?: unknown
}

export const live = reactive({
  status: 'connecting' as 'connecting' | 'online' | 'offline',
  visitors: null as number | null,
})

let socket: Socket | null = null
const pending: [MetricName, Record<string, unknown>][] = []
const MAX_PENDING = 20
const analyticsListeners = new Set<(e: LiveEvent, isError: boolean) => void>()
let analysing = false

let connecting = false

/** plaza's extensions of the deconf protocol that the client listens to (README "Live protocol"). */
export type PlazaEvent = 'myScheduleChanged' | 'sessionReminder'
const plazaHandlers = new Map<PlazaEvent, Set<(payload: unknown) => void>>()

/** Calls `handler` with every `event` the live server sends this tab; returns the unsubscribe function. */
export function onPlazaEvent(event: PlazaEvent, handler: (payload: unknown) => void): () => void {
  let set = plazaHandlers.get(event)
  if (!set) plazaHandlers.set(event, (set = new Set()))
  set.add(handler)
  return () => set.delete(handler)
}

/** Loads socket.io-client on demand (off the first page's critical path) and connects once. */
export async function connectLive(): Promise<void> {
  if (socket || connecting) return
  connecting = true
  try {
    const { io } = await import('socket.io-client')
    const { socketUrl, socketPath } = config()
    const opts = { path: socketPath, transports: ['websocket'], reconnectionDelayMax: 30_000 }
    socket = socketUrl ? io(socketUrl, opts) : io(opts)
  } catch {
    live.status = 'offline'
    return
  }
  socket.on('connect', () => {
    live.status = 'online'
    if (auth.token) socket?.emit('auth', auth.token)
    if (analysing) socket?.emit('startAnalyse')
    for (const [name, payload] of pending.splice(0)) socket?.emit('trackMetric', name, payload)
  })
  socket.on('connect_error', () => {
    live.status = 'offline'
    live.visitors = null
  })
  socket.on('disconnect', () => {
    live.status = 'offline'
    live.visitors = null
  })
  socket.on('site-visitors', (count: unknown) => {
    if (typeof count === 'number' && Number.isFinite(count)) live.visitors = count
  })
  socket.on('liveEvent', (e: LiveEvent) => analyticsListeners.forEach((l) => l(e, false)))
  socket.on('liveError', (e: LiveEvent) => analyticsListeners.forEach((l) => l(e, true)))
  for (const event of ['myScheduleChanged', 'sessionReminder'] as PlazaEvent[]) {
    socket.on(event, (payload: unknown) => plazaHandlers.get(event)?.forEach((h) => h(payload)))
  }
  // apiError answers a rejected event (e.g. an expired token on `auth`); the UI has nothing to show for it.
  socket.on('apiError', () => undefined)
}

/** Sends a reference metric; queued (bounded) while disconnected, dropped beyond that. */
export function trackMetric(name: MetricName, payload: Record<string, unknown> = {}): void {
  if (socket?.connected) socket.emit('trackMetric', name, payload)
  else if (pending.length < MAX_PENDING) pending.push([name, payload])
}

/** Reports an uncaught client error (`trackError`: name, message, stack, info) instead of logging it. */
export function trackError(error: unknown, info = ''): void {
  const e = error instanceof Error ? error : new Error(String(error))
  if (socket?.connected) socket.emit('trackError', { name: e.name, message: e.message, stack: e.stack ?? '', info })
}

export function sendAuth(): void {
  if (socket?.connected && auth.token) socket.emit('auth', auth.token)
}

export function sendDeauth(): void {
  if (socket?.connected) socket.emit('deauth')
}

/** Admin analytics: joins the metrics room while a listener is registered; returns the unsubscribe function. */
export function watchAnalytics(listener: (e: LiveEvent, isError: boolean) => void): () => void {
  analyticsListeners.add(listener)
  analysing = true
  if (socket?.connected) socket.emit('startAnalyse')
  return () => {
    analyticsListeners.delete(listener)
    if (analyticsListeners.size === 0) {
      analysing = false
      if (socket?.connected) socket.emit('stopAnalyse')
    }
  }
}
