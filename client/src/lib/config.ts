// Runtime configuration: where the API and socket.io live, read once from /client-config.json (served by plaza,
// or by the ingress), so one build works same-origin and on another origin. Falls back to same-origin defaults.
export interface ClientConfig {
  apiBase: string
  socketUrl: string
  socketPath: string
}

export const defaultConfig: ClientConfig = { apiBase: '/api', socketUrl: '', socketPath: '/api/socket.io' }

let current: ClientConfig = { ...defaultConfig }

export function config(): ClientConfig {
  return current
}

/** Normalises a raw config object: strips the trailing slash of apiBase, keeps defaults for missing fields. */
export function parseConfig(raw: unknown): ClientConfig {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Partial<Record<keyof ClientConfig, unknown>>
  const str = (v: unknown, d: string) => (typeof v === 'string' ? v : d)
  return {
    apiBase: str(r.apiBase, defaultConfig.apiBase).replace(/\/+$/, ''),
    socketUrl: str(r.socketUrl, defaultConfig.socketUrl),
    socketPath: str(r.socketPath, defaultConfig.socketPath),
  }
}

export async function loadConfig(fetcher: typeof fetch = fetch): Promise<ClientConfig> {
  try {
    const res = await fetcher('/client-config.json', { cache: 'no-cache' })
    if (res.ok) current = parseConfig(await res.json())
  } catch {
    // Offline or no config file: same-origin defaults.
  }
  return current
}

export function setConfig(c: ClientConfig): void {
  current = c
}

/** Absolute URL of an API path (for links the browser opens itself: calendars, share pages). */
export function apiUrl(path: string): string {
  const base = current.apiBase
  const abs = /^https?:\/\//.test(base) ? base : `${location.origin}${base}`
  return `${abs}${path}`
}
