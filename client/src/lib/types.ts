// Wire types of plaza's public API (deconf shapes, reference §3.6 and content/README.md §3).
export type Localised = Record<string, string | undefined>

export interface LocalisedLink {
  type: string
  url: string
  title?: string
  language: string
}
export interface Slot {
  id: string
  start: string
  end: string
}
export interface Session {
  id: string
  type: string
  slot?: string
  track: string
  themes: string[]
  coverImage?: string
  title: Localised
  content: Localised
  links: LocalisedLink[]
  hostLanguages: string[]
  enableInterpretation: boolean
  speakers: string[]
  hostOrganisation: Localised
  isRecorded: boolean
  isOfficial: boolean
  isFeatured: boolean
  visibility: string
  state: string
  participantCap: number | null
  recommendations?: LocalisedLink[]
}
export interface Speaker {
  id: string
  name: string
  role: Localised
  bio: Localised
  headshot?: string
}
export interface Labelled {
  id: string
  title: Localised
}
export interface SessionType extends Labelled {
  iconGroup: string
  iconName: string
  layout: string
}
export interface Break {
  id: string
  slotId: string
  track: string
  title: Localised
}
export interface PageFlag {
  enabled: boolean
  visible: boolean
}
export type PageFlagName =
  | 'atrium' | 'whatsOn' | 'schedule' | 'helpDesk' | 'social' | 'arts' | 'lightningTalks' | 'fringe'
  | 'house' | 'houseInfo' | 'misinfoCon' | 'emergentInfo' | 'emergentSessions' | 'mySchedule'
export interface Settings extends Partial<Record<PageFlagName, PageFlag>> {
  navigation?: Partial<Record<'showInterpret' | 'showProfile' | 'showLogin' | 'showRegister', boolean>>
  atriumWidgets?: Partial<Record<string, boolean>>
  content?: { atriumVideo?: string }
  site?: { name: string; twitter?: string; shareImage?: string }
  timeZone?: string
  startDate?: string
  endDate?: string
}
export interface Schedule {
  sessions: Session[]
  slots: Slot[]
  speakers: Speaker[]
  themes: Labelled[]
  tracks: Labelled[]
  types: SessionType[]
  breaks?: Break[]
  settings: Settings
}
export interface Registration {
  id: number
  name: string
  email: string
  language: string
  created?: string
  /** Schedule change digests by email (#20; absent on servers without it). */
  scheduleEmails?: boolean
  /** Minutes before a saved session's start to remind (0 = off; absent on servers without reminders). */
  reminderMinutes?: number
}
export interface Attendance {
  isAttending: boolean
  sessionCount: number
}
