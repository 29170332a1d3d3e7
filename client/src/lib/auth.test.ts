import { describe, expect, it } from 'vitest'
import { auth, decodeClaims, emailHash, isExpired, parseAuthHash, setToken } from './auth'

const b64url = (o: object) => btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
const jwt = (claims: object) => `${b64url({ alg: 'HS256' })}.${b64url(claims)}.sig`

describe('token capture', () => {
  it('reads the token and keeps a same-origin redirect as a path', () => {
    const r = parseAuthHash('#token=abc&redirect=http%3A%2F%2Fplaza.test%2Fsession%2FX1%3Fref%3Dmail', 'http://plaza.test')
    expect(r).toEqual({ token: 'abc', redirect: '/session/X1?ref=mail' })
  })
  it('refuses a redirect to another origin or back to /_auth', () => {
    expect(parseAuthHash('#token=abc&redirect=https%3A%2F%2Fevil.test%2F', 'http://plaza.test').redirect).toBe('/')
    expect(parseAuthHash('#token=abc&redirect=%2F_auth', 'http://plaza.test').redirect).toBe('/')
    expect(parseAuthHash('', 'http://plaza.test')).toEqual({ token: null, redirect: '/' })
  })
})

describe('claims', () => {
  it('decodes roles and language, including non-ASCII', () => {
    expect(decodeClaims(jwt({ sub: 3, user_roles: ['admin'], user_lang: 'es', name: 'Zoë' }))).toMatchObject({ sub: 3, user_roles: ['admin'], user_lang: 'es', name: 'Zoë' })
    expect(decodeClaims('garbage')).toBeNull()
    expect(decodeClaims('a.!!!.c')).toBeNull()
  })
  it('treats a past exp as expired and refuses to store it', () => {
    expect(isExpired({ exp: 10 }, 11_000)).toBe(true)
    expect(isExpired({}, Date.now())).toBe(false)
    setToken(jwt({ sub: 1, exp: 1 }))
    expect(auth.token).toBeNull()
    const good = jwt({ sub: 1, exp: Math.floor(Date.now() / 1000) + 60 })
    setToken(good)
    expect(auth.token).toBe(good)
    expect(localStorage.getItem('plaza.token')).toBe(good)
    setToken(null)
    expect(localStorage.getItem('plaza.token')).toBeNull()
  })
})

describe('emailHash', () => {
  it('is the base64 SHA-256 of the trimmed, lowercased address', async () => {
    // printf 'a@b.c' | sha256sum | xxd -r -p | base64
    expect(await emailHash('  A@B.c ')).toBe('1kiyQ6PoF+qjMJ4A4YNIPyhnuq31IgmfDCEhdwU2slo=')
  })
})
