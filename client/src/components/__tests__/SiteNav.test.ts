import { afterEach, describe, expect, it } from 'vitest'
import SiteNav from '../SiteNav.vue'
import { store } from '../../lib/store'
import { auth } from '../../lib/auth'
import { mountWithApp } from '../../test-utils'

const labels = (w: ReturnType<typeof mountWithApp>) => w.findAll('#nav-list li').map((li) => li.text())

describe('SiteNav', () => {
  afterEach(() => {
    auth.token = null
    auth.claims = null
    document.body.innerHTML = ''
  })

  it('follows page flags and navigation toggles', () => {
    store.schedule = {
      settings: {
        atrium: { enabled: true, visible: true },
        schedule: { enabled: false, visible: true },
        whatsOn: { enabled: true, visible: false },
        navigation: { showLogin: true, showProfile: true, showRegister: false },
      },
    } as never
    const w = mountWithApp(SiteNav)
    expect(labels(w)).toEqual(['Atrium', 'Schedule (Coming soon)', 'Speakers (Coming soon)', 'Sign in'])
  })

  it('offers profile and admin to a signed-in admin instead of sign in', () => {
    store.schedule = { settings: { atrium: { enabled: true, visible: true }, navigation: { showLogin: true, showProfile: true } } } as never
    auth.token = 't'
    auth.claims = { user_roles: ['admin'] }
    const w = mountWithApp(SiteNav)
    expect(labels(w)).toEqual(['Atrium', 'Profile', 'Admin'])
  })
})
