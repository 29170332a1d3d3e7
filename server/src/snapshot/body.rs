//! Builds the served bodies once per version: JSON shaped as the deconf reference, plus gzip and brotli
//! encodings and strong ETags (one per encoding, all derived from the JSON's hash).

use std::collections::HashSet;
use std::io::Write as _;

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use anyhow::Context as _;
use base64::Engine as _;
use plaza_core::content::Settings;
use plaza_core::model::schedule::{Schedule, Session};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// One resource in every encoding plaza serves.
#[derive(Debug, Clone)]
pub struct Representation {
    /// Hash part of the ETags.
    pub tag: String,
    /// The `ETag` header of each encoding, built once (per response it is only cloned).
    pub etags: ETags,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The uncompressed bytes.
    pub identity: Bytes,
    /// gzip-encoded bytes (`None` for formats that are compressed already).
    pub gzip: Option<Bytes>,
    /// brotli-encoded bytes (`None` for formats that are compressed already).
    pub br: Option<Bytes>,
}

impl Representation {
    /// Encodes `value` as JSON in every encoding.
    pub fn of<T: Serialize>(value: &T) -> anyhow::Result<Self> {
        let json = serde_json::to_vec(value).context("serialising a response body")?;
        Self::bytes(json, "application/json", true)
    }

    /// `body` of type `content_type`, also gzip- and brotli-encoded when `compress`.
    pub fn bytes(
        body: Vec<u8>,
        content_type: &'static str,
        compress: bool,
    ) -> anyhow::Result<Self> {
        let digest = Sha256::digest(&body);
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18]);
        let (gzip, br) = if compress {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&body).context("gzip")?;
            let gzip = gz.finish().context("gzip")?;
            let mut br = Vec::new();
            {
                // Quality 9 with a 4 MiB window: near-best ratio at a cost paid once per published version.
                let mut writer = brotli::CompressorWriter::new(&mut br, 64 * 1024, 9, 22);
                writer.write_all(&body).context("brotli")?;
            }
            (Some(Bytes::from(gzip)), Some(Bytes::from(br)))
        } else {
            (None, None)
        };
        Ok(Self {
            etags: ETags::of(&tag),
            tag,
            content_type,
            identity: Bytes::from(body),
            gzip,
            br,
        })
    }

    /// Size of the uncompressed body.
    pub fn identity_len(&self) -> usize {
        self.identity.len()
    }

    /// The same representation under another tag (tests of tag matching).
    #[cfg(test)]
    pub fn with_tag(self, tag: &str) -> Self {
        Self {
            tag: tag.to_owned(),
            etags: ETags::of(tag),
            ..self
        }
    }
}

/// The strong `ETag` header values of a representation: one per encoding, all from its hash.
#[derive(Debug, Clone)]
pub struct ETags {
    /// `"<tag>"`.
    pub identity: HeaderValue,
    /// `"<tag>-gz"`.
    pub gzip: HeaderValue,
    /// `"<tag>-br"`.
    pub br: HeaderValue,
}

impl ETags {
    fn of(tag: &str) -> Self {
        // The tag is URL-safe base64: always a valid header value.
        let value = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{tag}{suffix}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
        };
        Self {
            identity: value(""),
            gzip: value("-gz"),
            br: value("-br"),
        }
    }
}

/// A session as `/schedule` serves it: links stripped (they are released by `/schedule/:id/links`).
fn public_session(session: &Session) -> Session {
    Session {
        links: Vec::new(),
        ..session.clone()
    }
}

/// The sessions `/schedule` lists (all of them for versions imported under the public rule; older versions may
/// hold unconfirmed or unplaced ones, which stay out).
fn listed(schedule: &Schedule) -> impl Iterator<Item = &Session> {
    schedule.sessions.iter().filter(|s| s.is_listed())
}

/// `GET /schedule`: the deconf `ScheduleRecord` (+ plaza's `breaks`).
pub fn schedule(schedule: &Schedule, settings: &Settings) -> anyhow::Result<Representation> {
    #[derive(Serialize)]
    struct Record<'a> {
        sessions: Vec<Session>,
        slots: &'a [plaza_core::model::schedule::Slot],
        speakers: Vec<&'a plaza_core::model::schedule::Speaker>,
        themes: &'a [plaza_core::model::schedule::Theme],
        tracks: &'a [plaza_core::model::schedule::Track],
        types: &'a [plaza_core::model::schedule::SessionType],
        breaks: &'a [plaza_core::model::schedule::Break],
        settings: &'a Settings,
    }
    let presenting: HashSet<&str> = listed(schedule)
        .flat_map(|s| &s.speakers)
        .map(String::as_str)
        .collect();
    Representation::of(&Record {
        sessions: listed(schedule).map(public_session).collect(),
        slots: &schedule.slots,
        speakers: schedule
            .speakers
            .iter()
            .filter(|speaker| presenting.contains(speaker.id.as_str()))
            .collect(),
        themes: &schedule.themes,
        tracks: &schedule.tracks,
        types: &schedule.types,
        breaks: &schedule.breaks,
        settings,
    })
}

/// `GET /schedule/whats-on`: the listed sessions without slot and links.
pub fn whats_on(schedule: &Schedule) -> anyhow::Result<Representation> {
    #[derive(Serialize)]
    struct WhatsOn {
        sessions: Vec<Session>,
    }
    let sessions = listed(schedule)
        .map(|s| Session {
            slot: None,
            ..public_session(s)
        })
        .collect();
    Representation::of(&WhatsOn { sessions })
}
