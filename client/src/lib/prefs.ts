// Display preferences shared by every schedule list: the browser's local time (default, as the content pages
// promise) or event time (settings.json's `timeZone`, UTC when unset or unknown), kept in localStorage.
import { reactive, watch } from 'vue'
import { store } from './store'

/** The event's IANA zone from the settings; UTC when unset or not a zone this browser knows. */
export function eventZone(): string {
  const zone = store.schedule?.settings?.timeZone
  if (!zone) return 'UTC'
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone })
    return zone
  } catch {
    return 'UTC'
  }
}
const KEY = 'plaza.timeZone'

function stored(): 'event' | 'local' {
  try {
    return localStorage.getItem(KEY) === 'event' ? 'event' : 'local'
  } catch {
    return 'local'
  }
}

export const prefs = reactive({ zone: stored() })
watch(
  () => prefs.zone,
  (z) => {
    try {
      localStorage.setItem(KEY, z)
    } catch {
      /* storage disabled */
    }
  },
)

/** The IANA zone to format with; undefined means the browser's own. */
export const displayZone = (): string | undefined => (prefs.zone === 'event' ? eventZone() : undefined)
export const localZoneName = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone
