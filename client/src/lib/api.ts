// The HTTP client: JSON requests to plaza under the configured apiBase, with the bearer token when signed in.
// Errors become ApiError carrying the status and the deconf error codes of the JSON envelope.
import { config } from './config'
import { auth } from './auth'

export class ApiError extends Error {
  constructor(
    public status: number,
    public codes: string[],
  ) {
    super(`API error ${status}: ${codes.join(', ')}`)
  }
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (auth.token) headers.authorization = `Bearer ${auth.token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${config().apiBase}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  let data: unknown = undefined
  try {
    data = text ? JSON.parse(text) : undefined
  } catch {
    data = undefined
  }
  if (!res.ok) {
    const codes = Array.isArray((data as { codes?: unknown })?.codes) ? (data as { codes: string[] }).codes : []
    throw new ApiError(res.status, codes)
  }
  return data as T
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  del: <T>(path: string, body?: unknown) => request<T>('DELETE', path, body),
}
