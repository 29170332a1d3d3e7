import { describe, expect, it } from 'vitest'
import { apiUrl, config, loadConfig, parseConfig, setConfig, defaultConfig } from './config'

describe('client config', () => {
  it('keeps given fields, strips a trailing slash and defaults the rest', () => {
    expect(parseConfig({ apiBase: 'https://api.example/api/', socketUrl: 'https://live.example' })).toEqual({
      apiBase: 'https://api.example/api',
      socketUrl: 'https://live.example',
      socketPath: '/api/socket.io',
    })
    expect(parseConfig(null)).toEqual(defaultConfig)
    expect(parseConfig({ apiBase: 42 })).toEqual(defaultConfig)
  })
  it('loads /client-config.json and falls back to same-origin defaults on failure', async () => {
    await loadConfig((async () => new Response(JSON.stringify({ apiBase: '/x', socketUrl: '', socketPath: '/x/socket.io' }))) as typeof fetch)
    expect(config().apiBase).toBe('/x')
    setConfig(defaultConfig)
    await loadConfig((async () => { throw new TypeError('offline') }) as typeof fetch)
    expect(config()).toEqual(defaultConfig)
  })
  it('builds absolute API URLs for same-origin and cross-origin bases', () => {
    setConfig(defaultConfig)
    expect(apiUrl('/calendar/ical/A')).toBe(`${location.origin}/api/calendar/ical/A`)
    setConfig({ ...defaultConfig, apiBase: 'https://api.example/api' })
    expect(apiUrl('/share/session/A')).toBe('https://api.example/api/share/session/A')
    setConfig(defaultConfig)
  })
})
