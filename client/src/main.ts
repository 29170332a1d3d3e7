// Start-up: read /client-config.json, restore the session, mount the app, then load the schedule and the user
// and open the live connection in the background.
import { createApp, watch } from 'vue'
import App from './App.vue'
import { loadConfig } from './lib/config'
import { auth, restoreToken } from './lib/auth'
import { i18n } from './lib/i18n'
import { createAppRouter } from './router'
import { loadMe, loadSchedule, reloadScheduleSoon } from './lib/store'
import { connectLive, onPlazaEvent, trackError } from './lib/socket'
import { receiveChange, receiveReminder, useNoticesOf } from './lib/notices'
import './style.css'

async function start() {
  await loadConfig()
  restoreToken()
  document.documentElement.lang = i18n.global.locale.value
  const app = createApp(App)
  // Report to the server's analytics, and still log: an error must stay visible (the e2e suite fails on it).
  app.config.errorHandler = (err, _instance, info) => {
    trackError(err, info)
    console.error(err)
  }
  window.addEventListener('unhandledrejection', (e) => trackError(e.reason, 'unhandledrejection'))
  // Notices belong to the signed-in attendee (the token's `sub`); a sign-out or another account switches lists.
  watch(() => (auth.token && auth.claims?.sub != null ? String(auth.claims.sub) : null), useNoticesOf, { immediate: true })
  onPlazaEvent('myScheduleChanged', (p) => {
    receiveChange(p)
    reloadScheduleSoon()
  })
  onPlazaEvent('sessionReminder', (p) => receiveReminder(p))
  app.use(i18n).use(createAppRouter())
  void loadSchedule()
  void loadMe()
  void connectLive()
  app.mount('#app')
}

void start()
