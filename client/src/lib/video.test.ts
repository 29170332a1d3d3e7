import { describe, expect, it } from 'vitest'
import { embedUrl } from './video'

describe('embedUrl', () => {
  it('embeds Vimeo and YouTube players and plays other files directly', () => {
    expect(embedUrl('https://vimeo.com/123456')).toEqual({ kind: 'iframe', src: 'https://player.vimeo.com/video/123456' })
    expect(embedUrl('https://www.youtube.com/watch?v=abc')).toEqual({ kind: 'iframe', src: 'https://www.youtube-nocookie.com/embed/abc' })
    expect(embedUrl('https://youtu.be/abc')).toEqual({ kind: 'iframe', src: 'https://www.youtube-nocookie.com/embed/abc' })
    expect(embedUrl('https://cdn.example/v.mp4')).toEqual({ kind: 'video', src: 'https://cdn.example/v.mp4' })
  })
  it('refuses malformed URLs and other schemes', () => {
    expect(embedUrl('not a url')).toBeNull()
    expect(embedUrl('javascript:alert(1)')).toBeNull()
  })
})
