import { describe, expect, it, vi } from 'vitest'

// A fake socket.io client: records emits and lets the test fire server events.
const fake = vi.hoisted(() => {
  const handlers = new Map<string, (...a: unknown[]) => void>()
  const socket = {
    connected: false,
    emitted: [] as unknown[][],
    on(event: string, fn: (...a: unknown[]) => void) {
      handlers.set(event, fn)
      return socket
    },
    emit(...args: unknown[]) {
      socket.emitted.push(args)
      return socket
    },
    fire(event: string, ...args: unknown[]) {
      if (event === 'connect') socket.connected = true
      if (event === 'disconnect' || event === 'connect_error') socket.connected = false
      handlers.get(event)?.(...args)
    },
  }
  return { socket, io: vi.fn(() => socket) }
})
vi.mock('socket.io-client', () => ({ io: fake.io }))

import { connectLive, live, trackError, trackMetric, watchAnalytics } from './socket'
import { auth } from './auth'
import { setConfig } from './config'

describe('live connection', () => {
  it('uses client-config, queues metrics until connected, authenticates and tracks visitors', async () => {
    setConfig({ apiBase: '/api', socketUrl: 'https://live.example', socketPath: '/api/socket.io' })
    await connectLive()
    expect(fake.io).toHaveBeenCalledWith('https://live.example', expect.objectContaining({ path: '/api/socket.io', transports: ['websocket'] }))

    trackMetric('general/pageView', { routeName: 'schedule', params: {} })
    expect(fake.socket.emitted).toEqual([])
    auth.token = 'jwt'
    fake.socket.fire('connect')
    expect(live.status).toBe('online')
    expect(fake.socket.emitted).toEqual([
      ['auth', 'jwt'],
      ['trackMetric', 'general/pageView', { routeName: 'schedule', params: {} }],
    ])

    fake.socket.fire('site-visitors', 7)
    expect(live.visitors).toBe(7)
    fake.socket.fire('site-visitors', 'nonsense')
    expect(live.visitors).toBe(7)

    fake.socket.fire('connect_error', new Error('404'))
    expect(live.status).toBe('offline')
    expect(live.visitors).toBeNull()
    for (let i = 0; i < 50; i++) trackMetric('atrium/widget', { widget: 'login' })
    fake.socket.emitted = []
    fake.socket.fire('connect')
    expect(fake.socket.emitted.filter((e) => e[0] === 'trackMetric')).toHaveLength(20)
    auth.token = null
  })

  it('joins the analytics room while watched and relays liveEvent/liveError', () => {
    fake.socket.emitted = []
    const seen: [unknown, boolean][] = []
    const stop = watchAnalytics((e, isError) => seen.push([e, isError]))
    expect(fake.socket.emitted).toEqual([['startAnalyse']])
    fake.socket.fire('liveEvent', { eventName: 'login/finish', payload: {} })
    fake.socket.fire('liveError', { message: 'boom' })
    expect(seen).toEqual([
      [{ eventName: 'login/finish', payload: {} }, false],
      [{ message: 'boom' }, true],
    ])
    // A reconnect re-joins the room.
    fake.socket.emitted = []
    fake.socket.fire('connect')
    expect(fake.socket.emitted).toContainEqual(['startAnalyse'])
    stop()
    expect(fake.socket.emitted.at(-1)).toEqual(['stopAnalyse'])
  })

  it('reports client errors with trackError', () => {
    fake.socket.emitted = []
    trackError(new TypeError('x is undefined'), 'render function')
    expect(fake.socket.emitted).toEqual([
      ['trackError', expect.objectContaining({ name: 'TypeError', message: 'x is undefined', info: 'render function' })],
    ])
  })
})
