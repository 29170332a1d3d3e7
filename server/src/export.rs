//! `plaza export --out DIR`: the published schedule and content as JSON files a static host can serve — the
//! reference's read-only mode (`export-schedule`). Files: `schedule.json` (the `/schedule` record with the
//! settings that need the API switched off), `whats-on.json`, `content.json` (page → locale → HTML),
//! `settings.json`, `links.json` (session → links, without meeting-room URLs) and `attendance.json` (session →
//! count). Each file is written to a temporary name and renamed, so a web server never serves half a file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use plaza_core::model::schedule::{LocalisedLink, Schedule};
use plaza_core::queries::attendance;
use plaza_jobs::publication::SCHEDULE;

use crate::snapshot::Snapshot;
use crate::state::AppState;

/// Meeting services whose links are private to attendees and never exported (with their subdomains).
const PRIVATE_LINK_HOSTS: &[&str] = &["zoom.us", "panopto.com", "teams.microsoft.com"];

/// Writes the export into `out`; returns the files written with their sizes.
pub async fn run(state: &AppState, out: &Path) -> anyhow::Result<Vec<(String, usize)>> {
    let ctx = state.jobs();
    crate::snapshot::refresher::load(
        &crate::snapshot::refresher::ContentTarget(state.clone()),
        &ctx,
    )
    .await
    .context("loading the published content")?;
    let published = SCHEDULE
        .ensure_cache::<Schedule>(&ctx)
        .await
        .context("loading the published schedule")?
        .context("no schedule has been published yet: run --mode fetch-schedule first")?;
    let content = state.content.current();
    let settings = Arc::new(content.bundle.settings.read_only());
    let snapshot = Snapshot::build(published.version, published.data, settings.clone())?;
    let counts: BTreeMap<String, i64> = attendance::counts(&state.db).await?.into_iter().collect();
    let links: BTreeMap<&str, Vec<&LocalisedLink>> = snapshot
        .schedule
        .sessions
        .iter()
        .filter(|s| s.is_listed())
        .map(|s| {
            (
                s.id.as_str(),
                s.links
                    .iter()
                    .filter(|l| is_public_link(&l.url))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, links)| !links.is_empty())
        .collect();

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let files: [(&str, Vec<u8>); 6] = [
        ("schedule.json", snapshot.schedule_body.identity.to_vec()),
        ("whats-on.json", snapshot.whats_on_body.identity.to_vec()),
        ("content.json", serde_json::to_vec(&content.bundle.pages)?),
        ("settings.json", serde_json::to_vec(&*settings)?),
        ("links.json", serde_json::to_vec(&links)?),
        ("attendance.json", serde_json::to_vec(&counts)?),
    ];
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = out.join(name);
        let partial = out.join(format!(".{name}.partial"));
        std::fs::write(&partial, &bytes)
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("replacing {}", path.display()))?;
        written.push((name.to_owned(), bytes.len()));
    }
    Ok(written)
}

/// True for a parsable URL that is not on a private meeting service.
fn is_public_link(url: &str) -> bool {
    let Some(host) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return false;
    };
    !PRIVATE_LINK_HOSTS
        .iter()
        .any(|private| host == *private || host.ends_with(&format!(".{private}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_rooms_and_garbage_are_not_exported() {
        assert!(is_public_link("https://example.org/slides.pdf"));
        assert!(!is_public_link("https://us02web.zoom.us/j/123"));
        assert!(!is_public_link("https://zoom.us/j/123"));
        assert!(!is_public_link("https://teams.microsoft.com/l/meetup"));
        assert!(!is_public_link("not a url"));
        assert!(is_public_link("https://notzoom.us.example.org/"));
    }
}
