// Start-up: read /client-config.json, restore the session, mount the app, then load the schedule and the user
// and open the live connection in the background.
import { createApp } from 'vue'
import App from './App.vue'
import { loadConfig } from './lib/config'
import { restoreToken } from './lib/auth'
import { i18n } from './lib/i18n'
import { createAppRouter } from './router'
import { loadMe, loadSchedule } from './lib/store'
import { connectLive, trackError } from './lib/socket'
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
  app.use(i18n).use(createAppRouter())
  void loadSchedule()
  void loadMe()
  void connectLive()
  app.mount('#app')
}

void start()
