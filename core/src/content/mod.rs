//! Site content edited by organisers in git: `settings.json`, the block list, localised markdown pages
//! (`<key>/<locale>.md`) and email templates (`emails/<name>/<locale>.md`).
//!
//! [`ContentFiles`] is the raw folder (read from disk with limits and no symlinks, or the copy bundled into the
//! binary); [`build`] validates all of it and renders the pages into a [`Bundle`] — the unit that is versioned,
//! published and served. Validation collects every problem (file and JSON path) rather than stopping at the first.

pub mod markdown;
pub mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::settings::Settings;
use crate::config::{is_slug, normalise_email};

/// The locale every page and email must have; other locales fall back to it.
pub const FALLBACK_LOCALE: &str = "en";
/// Email templates the server sends, which must exist in the fallback locale.
pub const REQUIRED_EMAILS: &[&str] = &["login", "login-unknown"];

/// What a content folder may hold: 512 KiB per file, 16 MiB and 2,000 files in all, three levels
/// (`emails/<name>/<locale>.md`), no hidden entries.
const LIMITS: crate::tree::Limits = crate::tree::Limits {
    max_file_bytes: 512 * 1024,
    max_total_bytes: 16 * 1024 * 1024,
    max_files: 2_000,
    max_depth: 3,
    skip_hidden: true,
};

static BUNDLED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../content");

/// The files of a content folder, by `/`-separated relative path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentFiles {
    files: BTreeMap<String, Vec<u8>>,
    /// Entries skipped while reading (symlinks, hidden or oversized entries), as warnings.
    skipped: Vec<String>,
}

impl ContentFiles {
    /// The `content/` folder compiled into this binary.
    pub fn bundled() -> Self {
        fn walk(dir: &include_dir::Dir<'static>, files: &mut BTreeMap<String, Vec<u8>>) {
            for file in dir.files() {
                files.insert(
                    file.path().to_string_lossy().replace('\\', "/"),
                    file.contents().to_vec(),
                );
            }
            for sub in dir.dirs() {
                walk(sub, files);
            }
        }
        let mut files = BTreeMap::new();
        walk(&BUNDLED, &mut files);
        Self {
            files,
            skipped: Vec::new(),
        }
    }

    /// Files given in memory (tests, tools).
    pub fn from_files<P: Into<String>, B: Into<Vec<u8>>>(
        files: impl IntoIterator<Item = (P, B)>,
    ) -> Self {
        Self {
            files: files
                .into_iter()
                .map(|(p, b)| (p.into(), b.into()))
                .collect(),
            skipped: Vec::new(),
        }
    }

    /// Reads `root` recursively within the content limits. Symlinks and hidden entries (`.git`) are skipped,
    /// never followed, so a checkout cannot make plaza read outside it.
    pub fn read_dir(root: &Path) -> Result<Self, String> {
        let tree = crate::tree::read(root, &LIMITS)?;
        Ok(Self {
            files: tree.files,
            skipped: tree.skipped,
        })
    }

    /// Number of files read.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was read.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Validated, rendered site content: what one content version holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// `settings.json`.
    pub settings: Settings,
    /// Normalised blocked addresses.
    pub blocked: Vec<String>,
    /// Page key → locale → sanitised HTML (every configured locale present; missing ones hold the fallback's).
    pub pages: BTreeMap<String, BTreeMap<String, String>>,
    /// Template name → locale → template source (front matter + markdown).
    pub emails: BTreeMap<String, BTreeMap<String, String>>,
}

impl Bundle {
    /// Content hash of the bundle (base64 SHA-256 of its JSON; maps are ordered, so it is canonical).
    pub fn fingerprint(&self) -> Result<String, serde_json::Error> {
        Ok(crate::model::schedule::base64_sha256(&serde_json::to_vec(
            self,
        )?))
    }

    /// Summary counts for listings and logs.
    pub fn counts(&self) -> serde_json::Value {
        serde_json::json!({
            "pages": self.pages.len(),
            "emails": self.emails.len(),
            "blocked": self.blocked.len(),
        })
    }
}

/// A built bundle and what the build noticed without failing.
#[derive(Debug, Clone)]
pub struct Built {
    /// The bundle.
    pub bundle: Bundle,
    /// Fallbacks used and files ignored, one line each.
    pub warnings: Vec<String>,
}

/// Content that cannot be published: every problem found, one line each, prefixed with its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid content:\n  {}", .0.join("\n  "))]
pub struct InvalidContent(pub Vec<String>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Blocked {
    emails: Vec<String>,
}

/// Validates `files` and renders the pages for `locales` (which must include [`FALLBACK_LOCALE`]).
pub fn build(files: &ContentFiles, locales: &[String]) -> Result<Built, InvalidContent> {
    let mut problems = Vec::new();
    let mut warnings = files.skipped.clone();
    let locale_list = locales.join(",");

    let settings = match files.files.get("settings.json") {
        None => {
            problems.push("settings.json: missing".to_owned());
            None
        }
        Some(bytes) => Settings::parse(bytes)
            .map_err(|errs| {
                problems.extend(errs.into_iter().map(|e| format!("settings.json: {e}")))
            })
            .ok(),
    };

    let blocked = match files.files.get("blocked.json") {
        None => Vec::new(),
        Some(bytes) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            match serde_path_to_error::deserialize::<_, Blocked>(&mut de) {
                Ok(list) => {
                    for (i, email) in list.emails.iter().enumerate() {
                        if !email.contains('@') {
                            problems.push(format!(
                                "blocked.json: at `emails[{i}]`: {email:?} is not an email address"
                            ));
                        }
                    }
                    list.emails.iter().map(|e| normalise_email(e)).collect()
                }
                Err(e) => {
                    problems.push(format!("blocked.json: at `{}`: {}", e.path(), e.inner()));
                    Vec::new()
                }
            }
        }
    };

    let mut pages: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut emails: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (path, bytes) in &files.files {
        let parts: Vec<&str> = path.split('/').collect();
        let (is_email, key, file) = match parts.as_slice() {
            [_] => {
                if !matches!(path.as_str(), "settings.json" | "blocked.json")
                    && !path.ends_with(".md")
                {
                    warnings.push(format!("{path}: not a content file, ignored"));
                }
                continue;
            }
            ["emails", name, file] => (true, *name, *file),
            [key, file] if *key != "emails" => (false, *key, *file),
            _ => {
                warnings.push(format!("{path}: not a content file, ignored"));
                continue;
            }
        };
        let Some(locale) = file.strip_suffix(".md") else {
            warnings.push(format!("{path}: not a markdown file, ignored"));
            continue;
        };
        if !is_slug(key) {
            problems.push(format!(
                "{path}: {key:?} is not a valid name (letters, digits, - and _)"
            ));
            continue;
        }
        if !locales.iter().any(|l| l == locale) {
            problems.push(format!(
                "{path}: locale {locale:?} is not configured (LOCALES={locale_list})"
            ));
            continue;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            problems.push(format!("{path}: not UTF-8 text"));
            continue;
        };
        if is_email {
            if let Err(e) = crate::email::check_template(text) {
                problems.push(format!("{path}: {e}"));
                continue;
            }
            emails
                .entry(key.to_owned())
                .or_default()
                .insert(locale.to_owned(), text.to_owned());
        } else {
            pages
                .entry(key.to_owned())
                .or_default()
                .insert(locale.to_owned(), markdown::render(text));
        }
    }

    for (key, by_locale) in &mut pages {
        let Some(fallback) = by_locale.get(FALLBACK_LOCALE).cloned() else {
            problems.push(format!(
                "{key}/{FALLBACK_LOCALE}.md: missing (every page needs it)"
            ));
            continue;
        };
        for locale in locales {
            if !by_locale.contains_key(locale) {
                warnings.push(format!(
                    "{key}/{locale}.md: missing; serving {FALLBACK_LOCALE}"
                ));
                by_locale.insert(locale.clone(), fallback.clone());
            }
        }
    }
    for name in REQUIRED_EMAILS {
        if !emails
            .get(*name)
            .is_some_and(|t| t.contains_key(FALLBACK_LOCALE))
        {
            problems.push(format!(
                "emails/{name}/{FALLBACK_LOCALE}.md: missing (plaza sends this email)"
            ));
        }
    }
    for (name, by_locale) in &emails {
        let missing: BTreeSet<&String> = locales
            .iter()
            .filter(|l| !by_locale.contains_key(*l))
            .collect();
        for locale in missing {
            warnings.push(format!(
                "emails/{name}/{locale}.md: missing; sending {FALLBACK_LOCALE}"
            ));
        }
    }

    match settings {
        Some(settings) if problems.is_empty() => Ok(Built {
            bundle: Bundle {
                settings,
                blocked,
                pages,
                emails,
            },
            warnings,
        }),
        _ => Err(InvalidContent(problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = "---\nsubject: Sign in\n---\nHello {{link}}";

    fn locales() -> Vec<String> {
        vec!["en".into(), "es".into()]
    }

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("settings.json", "{}"),
            ("emails/login/en.md", LOGIN),
            ("emails/login-unknown/en.md", LOGIN),
        ]
    }

    #[test]
    fn the_bundled_content_is_valid_and_has_every_page_in_every_locale() {
        let built = build(&ContentFiles::bundled(), &locales()).expect("bundled content");
        assert!(!built.bundle.pages.is_empty());
        for (key, by_locale) in &built.bundle.pages {
            assert_eq!(by_locale.len(), 2, "{key}");
        }
    }

    #[test]
    fn a_missing_locale_falls_back_to_english_with_a_warning() {
        let mut files = minimal();
        files.push(("help/en.md", "# Help\n\n%feedback_form%"));
        let built = build(&ContentFiles::from_files(files), &locales()).expect("valid");
        let help = &built.bundle.pages["help"];
        assert_eq!(help["es"], help["en"]);
        assert!(help["en"].contains("<div id=\"feedback_form\"></div>"));
        assert!(
            built.warnings.iter().any(|w| w.contains("help/es.md")),
            "{:?}",
            built.warnings
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_file() {
        let files = ContentFiles::from_files([
            ("settings.json", r#"{"navigation": {"showLogn": true}}"#),
            ("blocked.json", r#"{"emails": ["not-an-address"]}"#),
            ("help/es.md", "solo español"),
            ("help/fr.md", "français"),
            ("bad key/en.md", "x"),
            ("emails/login/en.md", "no front matter"),
        ]);
        let InvalidContent(problems) = build(&files, &locales()).expect_err("invalid");
        let expect = [
            "settings.json: at `navigation.showLogn`",
            "blocked.json: at `emails[0]`",
            "help/fr.md: locale \"fr\" is not configured",
            "bad key/en.md",
            "emails/login/en.md: ",
            "help/en.md: missing",
            "emails/login-unknown/en.md: missing",
        ];
        for fragment in expect {
            assert!(
                problems.iter().any(|p| p.contains(fragment)),
                "{fragment} not in {problems:#?}"
            );
        }
    }

    #[test]
    fn the_fingerprint_follows_the_content() {
        let a = build(&ContentFiles::from_files(minimal()), &locales())
            .expect("a")
            .bundle;
        let mut files = minimal();
        files.push(("help/en.md", "Help"));
        let b = build(&ContentFiles::from_files(files), &locales())
            .expect("b")
            .bundle;
        assert_eq!(
            a.fingerprint().expect("a"),
            a.clone().fingerprint().expect("a")
        );
        assert_ne!(a.fingerprint().expect("a"), b.fingerprint().expect("b"));
    }

    #[test]
    fn reading_a_folder_skips_symlinks_and_hidden_entries() {
        let dir = std::env::temp_dir().join(format!("plaza-content-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("help")).expect("mkdir");
        std::fs::create_dir_all(dir.join(".git")).expect("mkdir");
        std::fs::write(dir.join("help/en.md"), "Help").expect("write");
        std::fs::write(dir.join(".git/config"), "x").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", dir.join("help/es.md")).expect("symlink");
        let files = ContentFiles::read_dir(&dir).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(files.files.keys().collect::<Vec<_>>(), vec!["help/en.md"]);
        #[cfg(unix)]
        assert!(
            files.skipped[0].contains("help/es.md"),
            "{:?}",
            files.skipped
        );
    }
}
