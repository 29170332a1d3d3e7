// A stand-in for plaza's live server, for the client's protocol tests only: a socket.io v4 server that speaks the
// reference events (§5: auth/deauth, site-visitors, trackMetric → liveEvent for startAnalyse-rooms) and records
// what the client sends. It validates nothing else; the real server's own behaviour is tested in its branch.
import { createServer } from 'node:http'
import { Server } from 'socket.io'

export async function startStubLive(origin) {
  const http = createServer()
  const io = new Server(http, { path: '/api/socket.io', cors: { origin } })
  const received = []
  const broadcastVisitors = () => io.to('site-visitors').emit('site-visitors', io.sockets.adapter.rooms.get('site-visitors')?.size ?? 0)
  io.on('connection', (socket) => {
    socket.join('site-visitors')
    broadcastVisitors()
    socket.on('auth', (token) => received.push({ event: 'auth', token }))
    socket.on('deauth', () => received.push({ event: 'deauth' }))
    socket.on('trackMetric', (eventName, payload) => {
      received.push({ event: 'trackMetric', eventName, payload })
      io.to('analyse').emit('liveEvent', { created: new Date().toISOString(), eventName, payload })
    })
    socket.on('trackError', (error) => received.push({ event: 'trackError', error }))
    socket.on('startAnalyse', () => {
      received.push({ event: 'startAnalyse' })
      socket.join('analyse')
    })
    socket.on('stopAnalyse', () => {
      received.push({ event: 'stopAnalyse' })
      socket.leave('analyse')
    })
    socket.on('disconnect', broadcastVisitors)
  })
  await new Promise((ok) => http.listen(0, '127.0.0.1', ok))
  return {
    url: `http://127.0.0.1:${http.address().port}`,
    received,
    async stop() {
      io.close()
      await new Promise((ok) => http.close(ok))
    },
  }
}
