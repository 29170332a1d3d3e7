import { afterEach, describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import App from '../../App.vue'
import { routes } from '../../router'
import { i18n } from '../../lib/i18n'
import { store } from '../../lib/store'
import { flush, stubFetch } from '../../test-utils'

async function open(path: string) {
  const router = createRouter({ history: createMemoryHistory(), routes })
  await router.push(path)
  const w = mount(App, { global: { plugins: [i18n, router] } })
  await flush()
  return w
}

describe('page flags gate', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('shows a coming-soon notice, hides hidden pages and opens active ones', async () => {
    stubFetch({ 'GET /api/content/help': { body: { content: { en: '<h2>How to</h2>' } } } })
    store.schedule = {
      sessions: [], slots: [], speakers: [], themes: [], tracks: [], types: [],
      settings: {
        schedule: { enabled: false, visible: true },
        whatsOn: { enabled: true, visible: false },
        helpDesk: { enabled: true, visible: true },
        site: { name: 'Fest' },
      },
    }
    expect((await open('/schedule')).get('main').text()).toContain('This page opens soon.')
    expect((await open('/whats-on')).get('main h1').text()).toBe('Page not found')
    const help = await open('/help')
    await flush()
    await flush()
    expect(help.get('main h2').text()).toBe('How to')
    expect(document.title).toBe('Help · Fest')
  })
})
