// Routes of the app. `meta.flag` names the settings.json page flag that gates a route (active / coming soon /
// hidden, applied in App.vue); every navigation sends the reference's `general/pageView` metric.
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import type { PageFlagName } from './lib/types'
import { trackMetric } from './lib/socket'
import AtriumView from './views/AtriumView.vue'
import ScheduleView from './views/ScheduleView.vue'
import NotFoundView from './views/NotFoundView.vue'

declare module 'vue-router' {
  interface RouteMeta {
    flag?: PageFlagName
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'atrium', component: AtriumView, meta: { flag: 'atrium' } },
  { path: '/whats-on', name: 'whatsOn', component: () => import('./views/WhatsOnView.vue'), meta: { flag: 'whatsOn' } },
  { path: '/schedule', name: 'schedule', component: ScheduleView, meta: { flag: 'schedule' } },
  { path: '/session/:id', name: 'session', component: () => import('./views/SessionView.vue'), meta: { flag: 'schedule' } },
  { path: '/speakers', name: 'speakers', component: () => import('./views/SpeakersView.vue'), meta: { flag: 'schedule' } },
  { path: '/my-schedule', name: 'mySchedule', component: () => import('./views/MyScheduleView.vue'), meta: { flag: 'mySchedule' } },
  { path: '/help', name: 'help', component: () => import('./views/ContentView.vue'), props: { slug: 'help' }, meta: { flag: 'helpDesk' } },
  { path: '/calendar', name: 'calendar', component: () => import('./views/ContentView.vue'), props: { slug: 'calendar' } },
  { path: '/house-info', name: 'houseInfo', component: () => import('./views/ContentView.vue'), props: { slug: 'moz-house' }, meta: { flag: 'houseInfo' } },
  { path: '/emergent-info', name: 'emergentInfo', component: () => import('./views/ContentView.vue'), props: { slug: 'emergent-info' }, meta: { flag: 'emergentInfo' } },
  { path: '/spaces', name: 'spaces', component: () => import('./views/ContentView.vue'), props: { slug: 'spaces' } },
  { path: '/register', name: 'register', component: () => import('./views/ContentView.vue'), props: { slug: 'register' } },
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue') },
  { path: '/_auth', name: 'tokenCapture', component: () => import('./views/TokenCaptureView.vue') },
  { path: '/error/:code?', name: 'error', component: () => import('./views/ErrorView.vue') },
  { path: '/profile', name: 'profile', component: () => import('./views/ProfileView.vue') },
  { path: '/admin', name: 'admin', component: () => import('./views/AdminView.vue') },
  { path: '/:pathMatch(.*)*', name: 'notFound', component: NotFoundView },
]

export function createAppRouter() {
  const router = createRouter({
    history: createWebHistory(),
    routes,
    scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
  })
  router.afterEach((to, from) => {
    // After an in-app navigation, move focus to the page so keyboard and screen-reader users start there.
    if (from.matched.length && to.path !== from.path) setTimeout(() => document.getElementById('main')?.focus(), 0)
    // The token lives in the fragment of /_auth: never send it as a metric.
    const params = to.name === 'tokenCapture' ? {} : { ...to.params }
    trackMetric('general/pageView', { routeName: String(to.name ?? ''), params })
  })
  return router
}
