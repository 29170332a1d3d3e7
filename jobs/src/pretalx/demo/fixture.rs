//! The demo festival's fixed vocabulary and grid: rooms, tracks, tags, types, time blocks, breaks, names and
//! title fragments (en / es). Only data: the generator in `demo` combines it.

pub(super) const ROOMS: [(&str, &str); 8] = [
    ("Main Stage", "Escenario principal"),
    ("Workshop Room A", "Sala de talleres A"),
    ("Workshop Room B", "Sala de talleres B"),
    ("Open Web Lab", "Laboratorio de la web abierta"),
    ("Community Hall", "Salón comunitario"),
    ("Garden Tent", "Carpa del jardín"),
    ("Library Corner", "Rincón de la biblioteca"),
    ("Studio", "Estudio"),
];
pub(super) const TRACKS: [(&str, &str); 5] = [
    ("Trustworthy AI", "IA confiable"),
    ("Open Web", "Web abierta"),
    ("Climate & Tech", "Clima y tecnología"),
    ("Community", "Comunidad"),
    ("Arts & Culture", "Artes y cultura"),
];
pub(super) const TAGS: [&str; 12] = [
    "privacy",
    "ai",
    "activism",
    "education",
    "open-source",
    "misinformation",
    "climate",
    "art",
    "data",
    "youth",
    "ASL",
    "Closed captions",
];
/// Submission types 501… : (en, es).
pub(super) const TYPES: [(&str, &str); 5] = [
    ("Talk", "Charla"),
    ("Workshop", "Taller"),
    ("Panel", "Panel"),
    ("Keynote", "Conferencia magistral"),
    ("Lightning talks", "Charlas relámpago"),
];
/// Session blocks of a day, local time: (start h, m, end h, m).
pub(super) const BLOCKS: [(u32, u32, u32, u32); 6] = [
    (9, 30, 10, 30),
    (11, 0, 12, 30),
    (13, 30, 14, 30),
    (14, 30, 15, 30),
    (16, 0, 17, 0),
    (17, 0, 18, 0),
];
/// Breaks: (start h, m, end h, m, en, es, every room?).
pub(super) const BREAKS: [(u32, u32, u32, u32, &str, &str, bool); 3] = [
    (10, 30, 11, 0, "Coffee break", "Pausa para el café", false),
    (12, 30, 13, 30, "Lunch", "Almuerzo", true),
    (15, 30, 16, 0, "Coffee break", "Pausa para el café", false),
];
pub(super) const DAYS: u64 = 3;
pub(super) const SCHEDULED: usize = 134;
pub(super) const SPEAKERS: usize = 90;

pub(super) const FIRST: [&str; 30] = [
    "Ana",
    "Kwame",
    "Mei",
    "Lucía",
    "Tomás",
    "Aisha",
    "Jonas",
    "Priya",
    "Mateo",
    "Fatima",
    "Noah",
    "Ingrid",
    "Diego",
    "Amara",
    "Sven",
    "Valentina",
    "Hiroshi",
    "Zanele",
    "Pablo",
    "Leila",
    "Oskar",
    "Camila",
    "Rahul",
    "Nadia",
    "Emeka",
    "Sofía",
    "Lars",
    "Yuki",
    "Andrés",
    "Olga",
];
pub(super) const LAST: [&str; 30] = [
    "García",
    "Mensah",
    "Chen",
    "Fernández",
    "Novak",
    "Okafor",
    "Berg",
    "Raman",
    "Silva",
    "Haddad",
    "Smith",
    "Larsen",
    "Rojas",
    "Diallo",
    "Nilsson",
    "Torres",
    "Tanaka",
    "Dlamini",
    "Morales",
    "Karimi",
    "Lindqvist",
    "Herrera",
    "Iyer",
    "Petrova",
    "Eze",
    "Castro",
    "Holm",
    "Sato",
    "Vargas",
    "Ivanova",
];
pub(super) const ORGS: [&str; 8] = [
    "Mozilla Foundation",
    "Open Knowledge",
    "Ciudadanía Inteligente",
    "Data & Society",
    "Code for Africa",
    "Derechos Digitales",
    "Wikimedia",
    "Independent researcher",
];
pub(super) const VERBS: [(&str, &str); 10] = [
    ("Building", "Construyendo"),
    ("Rethinking", "Repensando"),
    ("Decoding", "Descifrando"),
    ("Imagining", "Imaginando"),
    ("Reclaiming", "Recuperando"),
    ("Hacking", "Hackeando"),
    ("Mapping", "Mapeando"),
    ("Designing", "Diseñando"),
    ("Teaching", "Enseñando"),
    ("Auditing", "Auditando"),
];
pub(super) const SUBJECTS: [(&str, &str); 14] = [
    ("trustworthy AI", "la IA confiable"),
    ("the open web", "la web abierta"),
    ("community data", "los datos comunitarios"),
    ("climate justice online", "la justicia climática en línea"),
    ("digital rights", "los derechos digitales"),
    ("youth privacy", "la privacidad juvenil"),
    (
        "open source sustainability",
        "la sostenibilidad del código abierto",
    ),
    ("misinformation", "la desinformación"),
    ("creative coding", "la programación creativa"),
    ("public interest tech", "la tecnología de interés público"),
    ("local news", "las noticias locales"),
    (
        "algorithmic accountability",
        "la rendición de cuentas algorítmica",
    ),
    ("mesh networks", "las redes en malla"),
    ("a feminist internet", "un internet feminista"),
];
pub(super) const ENDINGS: [(&str, &str); 8] = [
    ("together", "juntas"),
    ("from the ground up", "desde abajo"),
    ("for everyone", "para todas las personas"),
    ("in practice", "en la práctica"),
    ("beyond the hype", "más allá del bombo"),
    ("with zines", "con fanzines"),
    ("in the Global South", "en el Sur Global"),
    ("one step at a time", "paso a paso"),
];
