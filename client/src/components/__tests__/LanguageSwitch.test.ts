import { afterEach, describe, expect, it, vi } from 'vitest'
import LanguageSwitch from '../LanguageSwitch.vue'
import { auth } from '../../lib/auth'
import { i18n } from '../../lib/i18n'
import { flush, mountWithApp, stubFetch } from '../../test-utils'

describe('LanguageSwitch', () => {
  afterEach(() => {
    auth.token = null
    vi.unstubAllGlobals()
    document.body.innerHTML = ''
    i18n.global.locale.value = 'en'
  })

  it('switches the page language and saves it on the account when signed in', async () => {
    auth.token = 'token'
    let saved: unknown
    const calls = stubFetch({
      'PATCH /api/auth/me': (body) => ((saved = body), { body: { registration: { language: 'es' } } }),
    })
    const w = mountWithApp(LanguageSwitch)
    await w.get('[data-test=language]').setValue('es')
    await flush()
    expect(i18n.global.locale.value).toBe('es')
    expect(calls).toEqual(['PATCH /api/auth/me'])
    expect(saved).toEqual({ language: 'es' })
  })

  it('only switches the page when signed out, and shrugs off a refused save', async () => {
    const calls = stubFetch({})
    const w = mountWithApp(LanguageSwitch)
    await w.get('[data-test=language]').setValue('es')
    await flush()
    expect(i18n.global.locale.value).toBe('es')
    expect(calls).toEqual([])

    auth.token = 'token'
    await w.get('[data-test=language]').setValue('en')
    await flush()
    expect(calls).toEqual(['PATCH /api/auth/me'])
    expect(i18n.global.locale.value).toBe('en')
  })
})
