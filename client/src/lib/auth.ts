// Who is signed in: the auth JWT kept in localStorage, its decoded claims (roles, language) and the registration
// from /auth/me. The token is never verified here (plaza does that); claims only drive what the UI offers.
import { reactive } from 'vue'
import type { Registration } from './types'

const KEY = 'plaza.token'

export interface Claims {
  sub?: number
  user_roles?: string[]
  user_lang?: string
  exp?: number
}

export const auth = reactive({
  token: null as string | null,
  claims: null as Claims | null,
  registration: null as Registration | null,
})

/** Decodes a JWT's payload (base64url JSON); null for anything malformed. */
export function decodeClaims(token: string): Claims | null {
  const part = token.split('.')[1]
  if (!part) return null
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=')
    const json = decodeURIComponent(
      Array.from(atob(b64), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''),
    )
    const claims = JSON.parse(json)
    return claims && typeof claims === 'object' ? (claims as Claims) : null
  } catch {
    return null
  }
}

export function isExpired(claims: Claims, now = Date.now()): boolean {
  return typeof claims.exp === 'number' && claims.exp * 1000 <= now
}

export function setToken(token: string | null): void {
  const claims = token ? decodeClaims(token) : null
  if (!token || !claims || isExpired(claims)) {
    auth.token = null
    auth.claims = null
    auth.registration = null
    try {
      localStorage.removeItem(KEY)
    } catch {
      /* storage disabled */
    }
    return
  }
  auth.token = token
  auth.claims = claims
  try {
    localStorage.setItem(KEY, token)
  } catch {
    /* storage disabled: the session lasts until reload */
  }
}

export function restoreToken(): void {
  let stored: string | null = null
  try {
    stored = localStorage.getItem(KEY)
  } catch {
    stored = null
  }
  if (stored) setToken(stored)
}

export const isSignedIn = () => auth.token !== null
export const isAdmin = () => auth.claims?.user_roles?.includes('admin') ?? false

/** Parses `#token=…&redirect=…` from the magic-link redirect; the redirect is kept only as a same-origin path. */
export function parseAuthHash(hash: string, origin: string): { token: string | null; redirect: string } {
  const params = new URLSearchParams(hash.replace(/^#/, ''))
  const token = params.get('token')
  let redirect = '/'
  const raw = params.get('redirect')
  if (raw) {
    try {
      const url = new URL(raw, origin)
      if (url.origin === origin && !url.pathname.startsWith('/_auth')) redirect = url.pathname + url.search + url.hash
    } catch {
      redirect = '/'
    }
  }
  return { token, redirect }
}

/** Base64 SHA-256 of the trimmed, lowercased email: the `login/start` metric's `emailHash` (reference form). */
export async function emailHash(email: string): Promise<string | null> {
  try {
    const bytes = new TextEncoder().encode(email.trim().toLowerCase())
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
    return btoa(String.fromCharCode(...digest))
  } catch {
    return null
  }
}
