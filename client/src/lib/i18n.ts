// UI strings in English and Spanish, and the chosen language (kept in localStorage; the browser's language the
// first time). Content pages and schedule texts come localised from the API; these are only the app's own words.
import { createI18n, type MessageCompiler, type MessageContext } from 'vue-i18n'

const en = {
  app: { skip: 'Skip to content', menu: 'Menu', language: 'Language', loading: 'Loading…', error: 'Could not load this page. Please try again.' },
  nav: { atrium: 'Atrium', whatsOn: "What's on", schedule: 'Schedule', speakers: 'Speakers', mySchedule: 'My Schedule', help: 'Help', houseInfo: 'The House', emergentInfo: 'Emergent sessions', login: 'Sign in', register: 'Get a ticket', profile: 'Profile', admin: 'Admin' },
  page: { soonTitle: 'Coming soon', soon: 'This page opens soon. Please come back later.', notFound: 'Page not found', notFoundText: 'There is nothing here.', home: 'Go to the atrium' },
  schedule: {
    title: 'Schedule', search: 'Search sessions', track: 'Track', theme: 'Theme', type: 'Type', language: 'Language',
    any: 'Any', liveOnly: 'Live now only', timeZone: 'Times', eventTime: 'Event time ({zone})', localTime: 'My time ({zone})',
    days: 'Days', count: 'No sessions | 1 session | {n} sessions', none: 'No sessions match these filters.', clear: 'Clear filters',
    live: 'Live', full: 'Full', attending: 'In My Schedule', asl: 'ASL (sign language)', cc: 'Closed captions',
  },
  whatsOn: { title: "What's on", live: 'Live now', soon: 'Starting within the hour', noneLive: 'Nothing is live right now.', noneSoon: 'Nothing starts within the hour.' },
  session: {
    back: 'Back to the schedule', speakers: 'Speakers', when: 'When', languages: 'Languages', addToCalendar: 'Add to calendar',
    ics: 'Download .ics', google: 'Google Calendar', attend: 'Add to My Schedule', unattend: 'Remove from My Schedule',
    attending: 'This session is in your schedule.', places: '{taken} of {cap} places taken', full: 'This session is full.',
    signInToAttend: 'Sign in to add this session to your schedule.', join: 'Join', joinLater: 'Links to join appear here 30 minutes before the start.',
    noLinks: 'No links to join yet.', joinAttendees: 'Places are limited: add the session to your schedule to get the links to join.', recommendations: 'Further reading', share: 'Share', copy: 'Copy share link', copied: 'Link copied',
    recorded: 'Recorded', host: 'Hosted by', notFound: 'This session does not exist.', attendFailed: 'Could not update your schedule. Please try again.',
  },
  speakers: { title: 'Speakers', search: 'Search speakers', sessions: 'Sessions', none: 'No speakers match.' },
  my: { title: 'My Schedule', empty: 'Your schedule is empty. Add sessions from the schedule.', signIn: 'Sign in to see your schedule.', feed: 'Private calendar feed', feedHelp: 'Subscribe to this address in your calendar app. Keep it private.', copy: 'Copy feed URL', feedError: 'Could not get your calendar feed.' },
  login: { title: 'Sign in', email: 'Email address', submit: 'Email me a sign-in link', sent: 'Check your inbox: if the address has a ticket, a sign-in link is on its way.', failed: 'Could not send the link. Please try again.', tooMany: 'Too many attempts. Please wait a minute and try again.', capturing: 'Signing you in…', captureFailed: 'That sign-in link did not work. Please ask for a new one.' },
  error: { title: 'Sign-in problem', login_expired: 'This sign-in link has expired or was already used. Ask for a new one.', not_found: 'We could not find your registration.', generic: 'Something went wrong with your sign-in.', again: 'Request a new link' },
  profile: { title: 'Profile', name: 'Name', email: 'Email', language: 'Language', signOut: 'Sign out', delete: 'Delete my account', deleteWarning: 'This erases your account, your schedule and your activity. It cannot be undone.', confirmDelete: 'Yes, delete my account', cancel: 'Cancel', deleted: 'Your account has been deleted.', deleteFailed: 'Could not delete your account. Please try again.' },
  notices: {
    title: 'Notices', open: 'Notices', unread: 'Notices, {n} unread', none: 'No notices yet. Changes to sessions in your schedule and reminders appear here.',
    markRead: 'Mark as read', markAllRead: 'Mark all as read', close: 'Close', new: 'New', view: 'View session',
    moved: '“{title}” moved from {from} to {to}.', room: '“{title}” changed room from {from} to {to}.',
    renamed: 'Session renamed from “{from}” to “{to}”.', cancelled: '“{title}” was cancelled.',
    reminder: '“{title}” starts in {minutes} minutes ({time}).',
  },
  settings: {
    title: 'Notifications', reminders: 'Remind me before my sessions start', off: 'Off', minutes: '{n} minutes before',
    emails: 'Email me when a session in my schedule changes', save: 'Save settings', saved: 'Settings saved.', failed: 'Could not save your settings. Please try again.',
    pushOn: 'Browser notifications are on for reminders.', pushDenied: 'Browser notifications are blocked: reminders only appear while plaza is open.',
    pushUnavailable: 'Reminders appear while plaza is open in a tab.',
  },
  widgets: { visitors: 'People in the plaza', visitorsOffline: 'Live count unavailable', login: 'Sign in to join sessions', register: 'Get a ticket', calendarHelp: 'Sync My Schedule to your calendar', twitter: 'Follow {handle}' },
  admin: {
    title: 'Admin', import: 'Schedule import', importEnabled: 'Pretalx import configured', importDemo: 'No Pretalx token: imports the demo event',
    running: 'An import is running…', idle: 'No import running.', start: 'Import the schedule now', alreadyRunning: 'An import is already running.',
    started: 'Import started.', versions: 'Schedule versions', analytics: 'Live analytics', analyticsOffline: 'The live server is not reachable; no events to show.',
    analyticsWaiting: 'Waiting for events…', forbidden: 'Only admins can see this page.',
    created: 'Created', source: 'Source', sessions: 'Sessions', served: 'Served', servedYes: 'served now',
  },
  lang: { en: 'English', es: 'Español' },
}

const es: typeof en = {
  app: { skip: 'Ir al contenido', menu: 'Menú', language: 'Idioma', loading: 'Cargando…', error: 'No se pudo cargar esta página. Inténtalo de nuevo.' },
  nav: { atrium: 'Atrio', whatsOn: 'En directo', schedule: 'Programa', speakers: 'Ponentes', mySchedule: 'Mi programa', help: 'Ayuda', houseInfo: 'La Casa', emergentInfo: 'Sesiones emergentes', login: 'Entrar', register: 'Conseguir entrada', profile: 'Perfil', admin: 'Administración' },
  page: { soonTitle: 'Próximamente', soon: 'Esta página abrirá pronto. Vuelve más tarde.', notFound: 'Página no encontrada', notFoundText: 'Aquí no hay nada.', home: 'Ir al atrio' },
  schedule: {
    title: 'Programa', search: 'Buscar sesiones', track: 'Espacio', theme: 'Tema', type: 'Formato', language: 'Idioma',
    any: 'Cualquiera', liveOnly: 'Solo en directo', timeZone: 'Horario', eventTime: 'Hora del evento ({zone})', localTime: 'Mi hora ({zone})',
    days: 'Días', count: 'Ninguna sesión | 1 sesión | {n} sesiones', none: 'Ninguna sesión coincide con estos filtros.', clear: 'Quitar filtros',
    live: 'En directo', full: 'Completa', attending: 'En mi programa', asl: 'Lengua de signos (ASL)', cc: 'Subtítulos',
  },
  whatsOn: { title: 'En directo', live: 'Ahora en directo', soon: 'Empiezan en la próxima hora', noneLive: 'No hay nada en directo ahora.', noneSoon: 'Nada empieza en la próxima hora.' },
  session: {
    back: 'Volver al programa', speakers: 'Ponentes', when: 'Cuándo', languages: 'Idiomas', addToCalendar: 'Añadir al calendario',
    ics: 'Descargar .ics', google: 'Google Calendar', attend: 'Añadir a mi programa', unattend: 'Quitar de mi programa',
    attending: 'Esta sesión está en tu programa.', places: '{taken} de {cap} plazas ocupadas', full: 'Esta sesión está completa.',
    signInToAttend: 'Entra para añadir esta sesión a tu programa.', join: 'Unirse', joinLater: 'Los enlaces para unirte aparecen aquí 30 minutos antes del inicio.',
    noLinks: 'Aún no hay enlaces.', joinAttendees: 'Las plazas son limitadas: añade la sesión a tu programa para recibir los enlaces.', recommendations: 'Lecturas recomendadas', share: 'Compartir', copy: 'Copiar enlace', copied: 'Enlace copiado',
    recorded: 'Se graba', host: 'Organiza', notFound: 'Esta sesión no existe.', attendFailed: 'No se pudo actualizar tu programa. Inténtalo de nuevo.',
  },
  speakers: { title: 'Ponentes', search: 'Buscar ponentes', sessions: 'Sesiones', none: 'Ningún ponente coincide.' },
  my: { title: 'Mi programa', empty: 'Tu programa está vacío. Añade sesiones desde el programa.', signIn: 'Entra para ver tu programa.', feed: 'Calendario privado', feedHelp: 'Suscríbete a esta dirección en tu aplicación de calendario. No la compartas.', copy: 'Copiar URL', feedError: 'No se pudo obtener tu calendario.' },
  login: { title: 'Entrar', email: 'Correo electrónico', submit: 'Envíame un enlace para entrar', sent: 'Revisa tu correo: si la dirección tiene entrada, te hemos enviado un enlace.', failed: 'No se pudo enviar el enlace. Inténtalo de nuevo.', tooMany: 'Demasiados intentos. Espera un minuto y vuelve a intentarlo.', capturing: 'Entrando…', captureFailed: 'Ese enlace no funcionó. Pide uno nuevo.' },
  error: { title: 'Problema al entrar', login_expired: 'Este enlace ha caducado o ya se usó. Pide uno nuevo.', not_found: 'No encontramos tu registro.', generic: 'Algo salió mal al entrar.', again: 'Pedir un enlace nuevo' },
  profile: { title: 'Perfil', name: 'Nombre', email: 'Correo', language: 'Idioma', signOut: 'Salir', delete: 'Borrar mi cuenta', deleteWarning: 'Esto borra tu cuenta, tu programa y tu actividad. No se puede deshacer.', confirmDelete: 'Sí, borrar mi cuenta', cancel: 'Cancelar', deleted: 'Tu cuenta ha sido borrada.', deleteFailed: 'No se pudo borrar tu cuenta. Inténtalo de nuevo.' },
  notices: {
    title: 'Avisos', open: 'Avisos', unread: 'Avisos, {n} sin leer', none: 'Aún no hay avisos. Aquí aparecen los cambios de las sesiones de tu programa y los recordatorios.',
    markRead: 'Marcar como leído', markAllRead: 'Marcar todo como leído', close: 'Cerrar', new: 'Nuevo', view: 'Ver sesión',
    moved: '«{title}» se ha movido de {from} a {to}.', room: '«{title}» cambia de sala: de {from} a {to}.',
    renamed: 'Sesión renombrada de «{from}» a «{to}».', cancelled: '«{title}» se ha cancelado.',
    reminder: '«{title}» empieza en {minutes} minutos ({time}).',
  },
  settings: {
    title: 'Notificaciones', reminders: 'Recuérdame antes de que empiecen mis sesiones', off: 'No', minutes: '{n} minutos antes',
    emails: 'Envíame un correo cuando cambie una sesión de mi programa', save: 'Guardar ajustes', saved: 'Ajustes guardados.', failed: 'No se pudieron guardar tus ajustes. Inténtalo de nuevo.',
    pushOn: 'Las notificaciones del navegador están activadas para los recordatorios.', pushDenied: 'Las notificaciones del navegador están bloqueadas: los recordatorios solo aparecen con plaza abierto.',
    pushUnavailable: 'Los recordatorios aparecen mientras plaza está abierto en una pestaña.',
  },
  widgets: { visitors: 'Personas en la plaza', visitorsOffline: 'Recuento no disponible', login: 'Entra para unirte a las sesiones', register: 'Consigue tu entrada', calendarHelp: 'Sincroniza tu programa con tu calendario', twitter: 'Sigue a {handle}' },
  admin: {
    title: 'Administración', import: 'Importación del programa', importEnabled: 'Importación de Pretalx configurada', importDemo: 'Sin token de Pretalx: importa el evento de demostración',
    running: 'Hay una importación en curso…', idle: 'No hay ninguna importación en curso.', start: 'Importar el programa ahora', alreadyRunning: 'Ya hay una importación en curso.',
    started: 'Importación iniciada.', versions: 'Versiones del programa', analytics: 'Analítica en directo', analyticsOffline: 'El servidor en directo no responde; no hay eventos.',
    analyticsWaiting: 'Esperando eventos…', forbidden: 'Solo el equipo administrador puede ver esta página.',
    created: 'Creada', source: 'Origen', sessions: 'Sesiones', served: 'Publicada', servedYes: 'publicada ahora',
  },
  lang: { en: 'English', es: 'Español' },
}

export const messages = { en, es }
export type Locale = keyof typeof messages
export const locales = Object.keys(messages) as Locale[]
const KEY = 'plaza.locale'

/** Whether the visitor chose a language in this browser (then a sign-in does not override it). */
export function hasChosenLocale(): boolean {
  try {
    return localStorage.getItem(KEY) !== null
  } catch {
    return false
  }
}

export function initialLocale(): Locale {
  let stored: string | null = null
  try {
    stored = localStorage.getItem(KEY)
  } catch {
    stored = null
  }
  if (stored && stored in messages) return stored as Locale
  const nav = (typeof navigator !== 'undefined' ? navigator.language : 'en').slice(0, 2)
  return nav in messages ? (nav as Locale) : 'en'
}

/**
 * The app's whole message syntax: `{name}` placeholders and `a | b | c` plural cases (vue-i18n's choice rules).
 * Replacing vue-i18n's general compiler with this one lets the build drop it (__INTLIFY_DROP_MESSAGE_COMPILER__),
 * a third of the library.
 */
export const compileMessage: MessageCompiler = (message) => {
  const source = typeof message === 'string' ? message : ''
  const cases = source.split(/\s*\|\s*/)
  const fill = (text: string, ctx: MessageContext) =>
    text.replace(/\{(\w+)\}/g, (_, key: string) => {
      const value = ctx.named(key)
      return value === undefined || value === null ? '' : String(value)
    })
  return (ctx: MessageContext) => (cases.length > 1 ? ctx.plural(cases.map((c) => fill(c, ctx))) : fill(source, ctx))
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'en',
  messages,
  messageCompiler: compileMessage,
})

export function setLocale(locale: Locale): void {
  i18n.global.locale.value = locale
  document.documentElement.lang = locale
  try {
    localStorage.setItem(KEY, locale)
  } catch {
    /* storage disabled */
  }
}
