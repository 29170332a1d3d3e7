//! `content/settings.json`: the site settings served inside `/schedule` — page flags, navigation, atrium widgets and
//! video (the deconf `ConferenceConfig`), plus plaza's additions (event dates, the site's name and share image, and
//! organiser overrides of session capacity).
//!
//! Parsing is strict about names (an unknown key is an error naming its JSON path, so typos are caught) and lenient
//! about omissions (a missing flag or widget is `false`), and every value is checked before anything is published.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A page's visibility: enabled + visible = active; visible only = "coming soon"; otherwise hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageFlag {
    /// The page can be used.
    pub enabled: bool,
    /// The page is listed.
    pub visible: bool,
}

/// Which navigation entries the client shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Navigation {
    pub show_interpret: bool,
    pub show_profile: bool,
    pub show_login: bool,
    pub show_register: bool,
}

/// Which widgets the atrium shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AtriumWidgets {
    pub site_visitors: bool,
    pub twitter: bool,
    pub login: bool,
    pub register: bool,
    pub spatial_chat: bool,
    pub slack: bool,
    pub family_resources: bool,
    pub mozfest_book: bool,
    pub linkedin: bool,
    pub submissions: bool,
    pub calendar_help: bool,
    pub hubs: bool,
}

/// `content`: media the client embeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SiteMedia {
    /// URL of the atrium hero video, or empty.
    pub atrium_video: String,
}

/// plaza's `site`: how the event names itself on share pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Site {
    /// The event's name, e.g. "Plaza Demo Festival".
    pub name: String,
    /// Twitter/X handle for cards, e.g. `@plazafest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twitter: Option<String>,
    /// Default share image (https URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_image: Option<String>,
}

macro_rules! settings_struct {
    ($($page:ident),+ $(,)?) => {
        /// The whole of `settings.json`.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct Settings {
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $page: Option<PageFlag>,
            )+
            /// Navigation entries.
            #[serde(default)]
            pub navigation: Navigation,
            /// Atrium widgets.
            #[serde(default)]
            pub atrium_widgets: AtriumWidgets,
            /// Embedded media.
            #[serde(default)]
            pub content: SiteMedia,
            /// First day of the event.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub start_date: Option<NaiveDate>,
            /// Last day of the event.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub end_date: Option<NaiveDate>,
            /// The event's time zone (IANA name, e.g. `Europe/London`) for the client's "event time".
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub time_zone: Option<String>,
            /// The event's name and share card.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub site: Option<Site>,
            /// Session id (`CODE-1`) → participant cap (`null` removes Pretalx's cap).
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            pub participant_caps: BTreeMap<String, Option<u32>>,
        }
    };
}

settings_struct!(
    atrium,
    whats_on,
    schedule,
    help_desk,
    social,
    arts,
    lightning_talks,
    fringe,
    house,
    house_info,
    misinfo_con,
    emergent_info,
    emergent_sessions,
    my_schedule,
);

impl Settings {
    /// Parses and checks `settings.json`. Errors name the JSON path, e.g. `atriumWidgets.twiter: unknown field`.
    pub fn parse(json: &[u8]) -> Result<Self, Vec<String>> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let settings: Self = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            vec![if path == "." {
                inner.to_string()
            } else {
                format!("at `{path}`: {inner}")
            }]
        })?;
        de.end().map_err(|e| vec![e.to_string()])?;
        let problems = settings.problems();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }

    /// What is wrong with values that parsed.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let video = &self.content.atrium_video;
        if !video.is_empty() && !is_web_url(video) {
            problems.push(format!(
                "at `content.atriumVideo`: {video:?} is not an http(s) URL"
            ));
        }
        if let (Some(start), Some(end)) = (self.start_date, self.end_date)
            && start > end
        {
            problems.push(format!("at `startDate`: {start} is after endDate {end}"));
        }
        if let Some(zone) = &self.time_zone
            && !is_time_zone(zone)
        {
            problems.push(format!(
                "at `timeZone`: {zone:?} is not an IANA time zone such as Europe/London"
            ));
        }
        if let Some(site) = &self.site {
            if site.name.trim().is_empty() {
                problems.push("at `site.name`: must not be empty".into());
            }
            if let Some(handle) = &site.twitter
                && !is_twitter_handle(handle)
            {
                problems.push(format!(
                    "at `site.twitter`: {handle:?} is not a handle like @plazafest"
                ));
            }
            if let Some(image) = &site.share_image
                && !image.starts_with("https://")
            {
                problems.push(format!(
                    "at `site.shareImage`: {image:?} is not an https URL"
                ));
            }
        }
        for code in self.participant_caps.keys() {
            if !crate::config::is_slug(code) {
                problems.push(format!(
                    "at `participantCaps.{code}`: not a session id (letters, digits, - and _)"
                ));
            }
        }
        problems
    }

    /// The settings a read-only (static) site serves: everything that needs the API switched off.
    pub fn read_only(&self) -> Self {
        let mut settings = self.clone();
        settings.navigation.show_login = false;
        settings.navigation.show_profile = false;
        settings.navigation.show_register = false;
        settings.atrium_widgets.site_visitors = false;
        settings.atrium_widgets.login = false;
        settings.atrium_widgets.register = false;
        settings
    }
}

fn is_web_url(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// `UTC` or an IANA `Area/Location` name (the shape only; the client falls back to UTC for an unknown one).
fn is_time_zone(value: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    value == "UTC" || (value.contains('/') && value.split('/').all(part))
}

fn is_twitter_handle(value: &str) -> bool {
    value.strip_prefix('@').is_some_and(|h| {
        (1..=15).contains(&h.len()) && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let err = Settings::parse(br#"{"atriumWidgets": {"twiter": true}}"#).expect_err("typo");
        assert!(err[0].contains("atriumWidgets.twiter"), "{err:?}");
        assert!(err[0].contains("unknown field"), "{err:?}");
    }

    #[test]
    fn missing_flags_are_false_and_the_reference_shape_round_trips() {
        let settings = Settings::parse(br#"{"schedule": {"enabled": true, "visible": true}}"#)
            .expect("minimal settings");
        assert!(!settings.atrium_widgets.login);
        let json = serde_json::to_value(&settings).expect("json");
        assert_eq!(json["schedule"]["enabled"], true);
        assert_eq!(json["navigation"]["showLogin"], false);
        assert_eq!(json["content"]["atriumVideo"], "");
        assert!(json.get("atrium").is_none(), "absent pages stay absent");
    }

    #[test]
    fn values_are_checked() {
        let err = Settings::parse(
            br#"{"content": {"atriumVideo": "javascript:alert(1)"}, "startDate": "2026-06-03",
                 "endDate": "2026-06-01", "site": {"name": " ", "twitter": "nope", "shareImage": "http://x"},
                 "participantCaps": {"a b": 3}}"#,
        )
        .expect_err("bad values");
        assert_eq!(err.len(), 6, "{err:?}");
        let err = Settings::parse(br#"{"timeZone": "Mars Base"}"#).expect_err("bad zone");
        assert!(err[0].contains("timeZone"), "{err:?}");
        assert!(Settings::parse(br#"{"timeZone": "America/Argentina/Buenos_Aires"}"#).is_ok());
        let err = Settings::parse(br#"{"startDate": "June"}"#).expect_err("bad date");
        assert!(err[0].contains("startDate"), "{err:?}");
    }

    #[test]
    fn read_only_switches_off_what_needs_the_api() {
        let settings = Settings::parse(
            br#"{"navigation": {"showLogin": true, "showProfile": true}, "atriumWidgets": {"siteVisitors": true, "hubs": true}}"#,
        )
        .expect("settings");
        let read_only = settings.read_only();
        assert!(!read_only.navigation.show_login && !read_only.navigation.show_profile);
        assert!(!read_only.atrium_widgets.site_visitors);
        assert!(read_only.atrium_widgets.hubs);
    }
}
