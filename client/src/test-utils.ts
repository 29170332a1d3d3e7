// Test helpers: a fetch stub answering by "METHOD path" from a table (recording every call), and a mount
// wrapper with i18n and a memory-history router.
import { mount } from '@vue/test-utils'
import { createRouter, createMemoryHistory } from 'vue-router'
import { vi } from 'vitest'
import type { Component } from 'vue'
import { i18n } from './lib/i18n'

export type Reply = { status?: number; body?: unknown } | ((body: unknown) => { status?: number; body?: unknown })

export function stubFetch(routes: Record<string, Reply>) {
  const calls: string[] = []
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://plaza.test')
    const key = `${init?.method ?? 'GET'} ${url.pathname}`
    calls.push(key)
    const route = routes[key]
    const reply = typeof route === 'function' ? route(init?.body ? JSON.parse(String(init.body)) : undefined) : route
    if (!reply) return new Response(JSON.stringify({ codes: ['general.notFound'] }), { status: 404 })
    return new Response(JSON.stringify(reply.body ?? {}), { status: reply.status ?? 200 })
  })
  vi.stubGlobal('fetch', fn)
  return calls
}

export function mountWithApp(component: Component, props: Record<string, unknown> = {}) {
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/:p(.*)*', component: { template: '<div />' } }] })
  return mount(component, { props, global: { plugins: [i18n, router] }, attachTo: document.body })
}

export const flush = () => new Promise((r) => setTimeout(r, 0))
