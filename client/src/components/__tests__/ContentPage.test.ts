import { afterEach, describe, expect, it, vi } from 'vitest'
import ContentPage from '../ContentPage.vue'
import { store } from '../../lib/store'
import { live } from '../../lib/socket'
import { i18n } from '../../lib/i18n'
import { flush, mountWithApp, stubFetch } from '../../test-utils'

describe('ContentPage', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    document.body.innerHTML = ''
    i18n.global.locale.value = 'en'
  })

  it('renders the page in the current language and mounts widgets into their divs', async () => {
    store.schedule = { settings: { atriumWidgets: { siteVisitors: true, login: true } } } as never
    live.visitors = 42
    stubFetch({
      'GET /api/content/atrium-test': {
        body: { content: { en: '<h2>Welcome</h2><div id="callouts"></div><div id="unknown"></div>', es: '<h2>Hola</h2><div id="callouts"></div>' } },
      },
    })
    const w = mountWithApp(ContentPage, { slug: 'atrium-test' })
    await flush()
    await flush()
    expect(w.get('h2').text()).toBe('Welcome')
    expect(document.querySelector('#callouts [data-test=visitors]')?.textContent).toContain('42')
    expect(document.querySelector('#callouts a[href="/login"]')).not.toBeNull()
    expect(document.querySelector('#unknown')?.childElementCount).toBe(0)
    expect(w.emitted('widgets')?.[0]).toEqual([['callouts']])

    i18n.global.locale.value = 'es'
    await flush()
    await flush()
    expect(w.get('h2').text()).toBe('Hola')
    expect(document.querySelector('#callouts [data-test=visitors]')).not.toBeNull()
  })

  it('shows a dash for the visitor count when the live server is unreachable', async () => {
    store.schedule = { settings: { atriumWidgets: { siteVisitors: true } } } as never
    live.visitors = null
    stubFetch({ 'GET /api/content/p2': { body: { content: { en: '<div id="callouts"></div>' } } } })
    mountWithApp(ContentPage, { slug: 'p2' })
    await flush()
    await flush()
    expect(document.querySelector('[data-test=visitors] .count')?.textContent).toBe('—')
  })

  it('emits missing for a page plaza does not have', async () => {
    stubFetch({})
    const w = mountWithApp(ContentPage, { slug: 'nope' })
    await flush()
    expect(w.emitted('missing')).toHaveLength(1)
  })
})
