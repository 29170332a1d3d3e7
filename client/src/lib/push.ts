// Web Push for reminders: asked for only once the attendee picks a reminder value on the profile page (never on
// page load). Reads the VAPID key (`GET /api/push/key`; 404 = push is off on this plaza), asks the browser's
// permission, registers the service worker (`/sw.js`, public/sw.js), subscribes and hands the subscription to
// plaza (`POST /api/push/subscriptions`); turning reminders off deletes it (`DELETE …` with its endpoint).
import { api, ApiError } from './api'

export type PushState = 'on' | 'denied' | 'unavailable'

/** Whether this browser can do Web Push at all (secure context, service workers, PushManager, Notification). */
export function pushSupported(): boolean {
  return (
    typeof window !== 'undefined' &&
    window.isSecureContext &&
    'serviceWorker' in navigator &&
    'PushManager' in window &&
    'Notification' in window
  )
}

/** The base64url VAPID public key as the bytes `applicationServerKey` takes. */
export function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(base64url.length / 4) * 4, '=')
  const raw = atob(b64)
  const out = new Uint8Array(new ArrayBuffer(raw.length))
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i)
  return out
}

/** plaza's VAPID key; null when push is off (404) or unreachable. */
export async function pushKey(): Promise<string | null> {
  try {
    const r = await api.get<{ publicKey?: unknown }>('/push/key')
    return typeof r?.publicKey === 'string' && r.publicKey ? r.publicKey : null
  } catch (e) {
    if (e instanceof ApiError) return null
    return null
  }
}

async function registration(): Promise<ServiceWorkerRegistration> {
  await navigator.serviceWorker.register('/sw.js', { scope: '/' })
  return navigator.serviceWorker.ready
}

/** Asks for permission and subscribes this browser; what the attendee gets. Never throws. */
export async function enablePush(): Promise<PushState> {
  if (!pushSupported()) return 'unavailable'
  const key = await pushKey()
  if (!key) return 'unavailable'
  try {
    const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission
    if (permission !== 'granted') return 'denied'
    const reg = await registration()
    const sub =
      (await reg.pushManager.getSubscription()) ??
      (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }))
    await api.post('/push/subscriptions', sub.toJSON())
    return 'on'
  } catch {
    return 'unavailable'
  }
}

/** Unsubscribes this browser (reminders off); best effort, never throws. */
export async function disablePush(): Promise<void> {
  if (!pushSupported()) return
  try {
    const reg = await navigator.serviceWorker.getRegistration('/')
    const sub = await reg?.pushManager.getSubscription()
    if (!sub) return
    await api.del('/push/subscriptions', { endpoint: sub.endpoint }).catch(() => undefined)
    await sub.unsubscribe()
  } catch {
    /* nothing to undo */
  }
}
