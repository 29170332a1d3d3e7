// plaza's service worker: shows a Web Push reminder (payload `{"type": "sessionReminder", "sessionId", "title",
// "start", "minutes", "url"}`) as a notification and, on click, focuses a plaza tab already showing `url` (or any
// plaza tab, navigated there) or opens it. It caches nothing: the app works exactly as without it.
/* eslint-env serviceworker */

const TEXT = {
  en: (m) => `Starts in ${m} minutes`,
  es: (m) => `Empieza en ${m} minutos`,
}

self.addEventListener('install', () => self.skipWaiting())
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()))

self.addEventListener('push', (event) => {
  let data = {}
  try {
    data = event.data ? event.data.json() : {}
  } catch {
    data = { title: event.data ? event.data.text() : '' }
  }
  const lang = (self.navigator.language || 'en').slice(0, 2)
  const minutes = Number(data.minutes) || 0
  const body = minutes ? (TEXT[lang] || TEXT.en)(minutes) : ''
  const url = new URL(typeof data.url === 'string' ? data.url : '/my-schedule', self.location.origin)
  // Only this origin's pages: a payload cannot send the attendee elsewhere.
  const target = url.origin === self.location.origin ? url.href : self.location.origin + '/my-schedule'
  event.waitUntil(
    self.registration.showNotification(String(data.title || 'plaza'), {
      body,
      tag: data.sessionId ? `reminder:${data.sessionId}:${data.start || ''}` : undefined,
      data: { url: target },
    }),
  )
})

self.addEventListener('notificationclick', (event) => {
  event.notification.close()
  const url = event.notification.data?.url || self.location.origin + '/'
  event.waitUntil(
    (async () => {
      const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
      const same = tabs.find((c) => c.url === url)
      if (same) return same.focus()
      const any = tabs.find((c) => new URL(c.url).origin === self.location.origin)
      if (any) {
        await any.focus()
        return any.navigate(url).catch(() => self.clients.openWindow(url))
      }
      return self.clients.openWindow(url)
    })(),
  )
})
