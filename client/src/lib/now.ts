// A reactive clock for "live now" badges, ticking every 30 s while a page uses it.
import { onBeforeUnmount, onMounted, ref } from 'vue'

export function useNow(intervalMs = 30_000) {
  const now = ref(Date.now())
  let timer: ReturnType<typeof setInterval> | undefined
  onMounted(() => (timer = setInterval(() => (now.value = Date.now()), intervalMs)))
  onBeforeUnmount(() => clearInterval(timer))
  return now
}
