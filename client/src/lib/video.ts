// Turns a video page URL (Vimeo, YouTube) into its embeddable player URL; other https URLs play in <video>.
export function embedUrl(raw: string): { kind: 'iframe' | 'video'; src: string } | null {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return null
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
  const host = url.hostname.replace(/^www\./, '')
  if (host === 'vimeo.com') {
    const id = url.pathname.split('/').filter(Boolean)[0]
    if (id && /^\d+$/.test(id)) return { kind: 'iframe', src: `https://player.vimeo.com/video/${id}` }
  }
  if (host === 'player.vimeo.com' || host === 'youtube-nocookie.com') return { kind: 'iframe', src: url.href }
  if (host === 'youtube.com' && url.searchParams.get('v'))
    return { kind: 'iframe', src: `https://www.youtube-nocookie.com/embed/${url.searchParams.get('v')}` }
  if (host === 'youtu.be' && url.pathname.length > 1)
    return { kind: 'iframe', src: `https://www.youtube-nocookie.com/embed${url.pathname}` }
  return { kind: 'video', src: url.href }
}
