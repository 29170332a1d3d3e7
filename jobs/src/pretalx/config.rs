//! What the Pretalx → deconf mapping is told by the operator: question ids, accessibility tags, session-type
//! presentation and locales (the `pretalx` part of the reference `app-config.json`, deconf-api.md §9.2).

use std::collections::BTreeMap;

use serde::Deserialize;

use plaza_core::model::schedule::{Layout, Localised};

/// Import settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportConfig {
    /// Question ids whose answers feed sessions and speakers.
    #[serde(default)]
    pub questions: QuestionIds,
    /// Tag id that adds the `asl` host language.
    #[serde(default)]
    pub asl_tag_id: Option<i64>,
    /// Tag id that adds the `cc` host language.
    #[serde(default)]
    pub cc_tag_id: Option<i64>,
    /// Presentation overrides per Pretalx submission type id.
    #[serde(default)]
    pub session_types: BTreeMap<i64, SessionTypeOverride>,
    /// Locales kept from Pretalx i18n texts; the first is the default, used for plain strings and always filled.
    #[serde(default = "default_locales")]
    pub locales: Vec<String>,
}

/// Pretalx question ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuestionIds {
    /// Submission questions whose answers hold session links (join URLs, pads…).
    #[serde(default)]
    pub links: Vec<i64>,
    /// Submission question whose answer holds recommended URLs.
    #[serde(default)]
    pub recommendations: Option<i64>,
    /// Speaker question whose answer is the speaker's affiliation (deconf `role`).
    #[serde(default)]
    pub affiliation: Option<i64>,
}

/// How one session type looks in the deconf client; unset fields keep the Pretalx-derived defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionTypeOverride {
    /// Title per locale instead of the Pretalx submission type name.
    #[serde(default)]
    pub title: Option<Localised>,
    /// Font Awesome `[group, name]`, e.g. `["fas", "palette"]`.
    #[serde(default)]
    pub icon: Option<[String; 2]>,
    /// Page layout.
    #[serde(default)]
    pub layout: Option<Layout>,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            questions: QuestionIds::default(),
            asl_tag_id: None,
            cc_tag_id: None,
            session_types: BTreeMap::new(),
            locales: default_locales(),
        }
    }
}

impl ImportConfig {
    /// Every question whose answers must be fetched, in a stable order without duplicates.
    pub fn question_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.questions.links.clone();
        ids.extend(self.questions.recommendations);
        ids.extend(self.questions.affiliation);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The default locale (`en` unless configured otherwise).
    pub fn default_locale(&self) -> &str {
        self.locales.first().map_or("en", String::as_str)
    }
}

fn default_locales() -> Vec<String> {
    vec!["en".to_owned()]
}
