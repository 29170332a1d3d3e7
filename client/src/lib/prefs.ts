// Display preferences shared by every schedule list: the browser's local time (default, as the content pages
// promise) or event time (UTC — settings.json has no zone), kept in localStorage.
import { reactive, watch } from 'vue'

export const EVENT_TIME_ZONE = 'UTC'
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
export const displayZone = (): string | undefined => (prefs.zone === 'event' ? EVENT_TIME_ZONE : undefined)
export const localZoneName = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone
