import { describe, expect, it } from 'vitest'
import { i18n, messages } from './i18n'

const t = i18n.global.t

describe('messages', () => {
  it('fills placeholders and picks plural cases', () => {
    expect(t('session.places', { taken: 3, cap: 20 })).toBe('3 of 20 places taken')
    expect(t('schedule.count', { n: 0 }, 0)).toBe('No sessions')
    expect(t('schedule.count', { n: 1 }, 1)).toBe('1 session')
    expect(t('schedule.count', { n: 12 }, 12)).toBe('12 sessions')
    expect(t('schedule.count', { n: 12 }, { locale: 'es', plural: 12 })).toBe('12 sesiones')
  })

  it('has the same keys in Spanish as in English', () => {
    const keys = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]))
    expect(keys(messages.es).sort()).toEqual(keys(messages.en).sort())
  })
})
