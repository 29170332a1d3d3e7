// Load budget, Lighthouse-style: the atrium's first visit (cold cache) must download at most 100 kB of
// compressed JavaScript before it renders; prints transfer sizes, first contentful paint and DOMContentLoaded.
import assert from 'node:assert/strict'
import { newPage } from './harness.mjs'

export const tests = {
  async 'the first visit stays within the JavaScript budget'({ browser, plaza }) {
    const page = await newPage(browser, plaza)
    const sizes = new Map()
    page.on('response', async (r) => {
      const url = new URL(r.url())
      if (!url.pathname.startsWith('/assets/')) return
      const headers = await r.allHeaders()
      sizes.set(url.pathname, { bytes: Number(headers['content-length'] ?? (await r.body()).length), encoding: headers['content-encoding'] ?? 'identity' })
    })
    await page.goto('/', { waitUntil: 'networkidle' })
    await page.locator('.content').waitFor()
    const timing = await page.evaluate(() => {
      const paint = performance.getEntriesByName('first-contentful-paint')[0]
      const nav = performance.getEntriesByType('navigation')[0]
      return { fcp: Math.round(paint?.startTime ?? -1), dcl: Math.round(nav?.domContentLoadedEventEnd ?? -1) }
    })
    const js = [...sizes].filter(([p]) => p.endsWith('.js'))
    const jsBytes = js.reduce((n, [, s]) => n + s.bytes, 0)
    const cssBytes = [...sizes].filter(([p]) => p.endsWith('.css')).reduce((n, [, s]) => n + s.bytes, 0)
    console.log(
      `      atrium, cold: ${js.length} JS files ${(jsBytes / 1024).toFixed(1)} kB (${[...new Set(js.map(([, s]) => s.encoding))].join('/')}), ` +
        `CSS ${(cssBytes / 1024).toFixed(1)} kB, FCP ${timing.fcp} ms, DOMContentLoaded ${timing.dcl} ms (local, no throttling)`,
    )
    assert.ok(js.every(([, s]) => s.encoding === 'gzip' || s.encoding === 'br'), 'scripts are served compressed')
    assert.ok(jsBytes <= 100 * 1024, `JavaScript on first visit: ${jsBytes} bytes`)
    page.assertNoConsoleErrors()
    await page.closeContext()
  },
}
