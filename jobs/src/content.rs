//! The content job: the organisers' content folder — from a git branch (shallow clone), a local folder, or the copy
//! bundled into the binary — validated and rendered into a [`Bundle`], stored as a `content_versions` row and
//! published atomically (cache record + notice) like the schedule. Invalid content changes nothing.
//!
//! git runs as a child process with its arguments as a list (never through a shell), after `--`, with the `ext::`
//! transport and hooks disabled, no terminal prompts, and a timeout; see [`clone`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use plaza_core::config::ContentSource;
use plaza_core::content::{self, Bundle, ContentFiles};
use tokio::process::Command;

use crate::publication::{self, CONTENT, Stored};
use crate::{JobContext, JobError, run_exclusive};

/// The job's name (its lock is `jobs/content`).
pub const JOB: &str = "content";
/// Lock lifetime; renewed while the job runs.
pub const LOCK_TTL: Duration = Duration::from_secs(120);

/// The published content as stored in the cache.
pub type Published = publication::Published<Bundle>;

/// Where one run reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// What the configuration says (`CONTENT_REPO_*`, or the bundled content).
    Configured,
    /// A local folder holding `settings.json` (`fetch-content --local PATH`).
    Local(PathBuf),
}

/// What one import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSummary {
    /// What was stored and published.
    pub stored: Stored,
    /// Where it came from.
    pub source: String,
    /// Pages rendered.
    pub pages: usize,
    /// Fallbacks used and files ignored.
    pub warnings: Vec<String>,
}

/// Runs one import under the job lock.
pub async fn run_once(ctx: &JobContext, origin: &Origin) -> Result<ContentSummary, JobError> {
    run_exclusive(ctx, JOB, LOCK_TTL, || import(ctx, origin)).await
}

/// The import itself, without the lock (callers hold it).
pub async fn import(ctx: &JobContext, origin: &Origin) -> anyhow::Result<ContentSummary> {
    let started = Instant::now();
    // The clone (a temporary folder) lives until the files are read.
    let (files, source) = match (origin, &ctx.config.content) {
        (Origin::Local(path), _) => (read(path)?, format!("local {}", path.display())),
        (Origin::Configured, ContentSource::Bundled) => {
            (ContentFiles::bundled(), "bundled".to_owned())
        }
        (
            Origin::Configured,
            ContentSource::Git {
                remote,
                branch,
                path,
            },
        ) => {
            let checkout = clone(remote, branch, ctx.config.content_fetch_timeout).await?;
            let folder = checkout.folder(path)?;
            let files = read(&folder)?;
            let source = format!(
                "git {} {branch}@{}",
                redact(remote),
                &checkout.commit[..12.min(checkout.commit.len())]
            );
            (files, source)
        }
    };
    tracing::info!(files = files.len(), source, "content read");
    let built = content::build(&files, &ctx.config.locales)?;
    for warning in &built.warnings {
        tracing::warn!(source, "content: {warning}");
    }
    let pages = built.bundle.pages.len();
    let hash = built.bundle.fingerprint().context("hashing the content")?;
    let counts = built.bundle.counts();
    let (stored, _) = CONTENT
        .store(ctx, &source, &hash, built.bundle, &counts)
        .await?;
    tracing::info!(
        version = stored.version,
        created = stored.created,
        published = stored.published,
        pages,
        warnings = built.warnings.len(),
        seconds = started.elapsed().as_secs_f64(),
        "content import finished"
    );
    Ok(ContentSummary {
        stored,
        source,
        pages,
        warnings: built.warnings,
    })
}

/// Makes content version `id` the served one again (rollback), under the job lock.
pub async fn publish_version(ctx: &JobContext, id: i64) -> Result<Published, JobError> {
    run_exclusive(ctx, JOB, LOCK_TTL, || CONTENT.publish_version(ctx, id)).await
}

fn read(folder: &Path) -> anyhow::Result<ContentFiles> {
    let files = ContentFiles::read_dir(folder).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !files.is_empty(),
        "{} holds no content files",
        folder.display()
    );
    Ok(files)
}

/// A shallow checkout in a temporary folder, removed on drop.
#[derive(Debug)]
pub struct Checkout {
    dir: tempfile::TempDir,
    /// The commit checked out.
    pub commit: String,
}

impl Checkout {
    /// The content folder `path` inside the checkout; refuses one that resolves outside it (a symlink in the
    /// repository).
    pub fn folder(&self, path: &str) -> anyhow::Result<PathBuf> {
        let root = self
            .dir
            .path()
            .canonicalize()
            .context("resolving the checkout")?;
        let folder = root.join(path).canonicalize().with_context(|| {
            format!("the repository has no folder {path:?} (CONTENT_REPO_PATH)")
        })?;
        anyhow::ensure!(
            folder.starts_with(&root) && folder.is_dir(),
            "CONTENT_REPO_PATH {path:?} is not a folder inside the repository"
        );
        Ok(folder)
    }
}

/// Clones `branch` of `remote` (depth 1) into a temporary folder within `timeout`.
pub async fn clone(remote: &str, branch: &str, timeout: Duration) -> anyhow::Result<Checkout> {
    // Re-checked here: these reach a child process (as single arguments, never through a shell).
    let remote = plaza_core::config::git_remote(remote).map_err(anyhow::Error::msg)?;
    let branch = plaza_core::config::git_branch(branch).map_err(anyhow::Error::msg)?;
    let dir = tempfile::Builder::new()
        .prefix("plaza-content-")
        .tempdir()
        .context("creating a temporary folder")?;
    let target = dir.path().to_string_lossy().into_owned();
    tracing::info!(remote = %redact(&remote), branch, "cloning the content repository");
    let url = if remote.starts_with('/') {
        // Shallow clones of a local path need the file:// transport.
        format!("file://{remote}")
    } else {
        remote.clone()
    };
    git(
        &[
            "-c",
            "protocol.ext.allow=never",
            "-c",
            "core.hooksPath=/dev/null",
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--single-branch",
            "--no-tags",
            "--branch",
            &branch,
            "--",
            &url,
            &target,
        ],
        timeout,
    )
    .await
    .with_context(|| format!("cloning {} (branch {branch})", redact(&remote)))?;
    let commit = git(&["-C", &target, "rev-parse", "HEAD"], timeout).await?;
    Ok(Checkout {
        dir,
        commit: commit.trim().to_owned(),
    })
}

/// Runs git with `args`; its stdout, or an error with the end of its stderr.
async fn git(args: &[&str], timeout: Duration) -> anyhow::Result<String> {
    let child = Command::new("git")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("GIT_SSH_COMMAND", "ssh -oBatchMode=yes")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| anyhow::anyhow!("git did not finish within {} s", timeout.as_secs()))?
        .context("cannot run git (is it installed?)")?;
    if output.status.success() {
        return String::from_utf8(output.stdout).context("git printed non-UTF-8 output");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    anyhow::bail!(
        "git failed ({}): {}",
        output.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
    )
}

/// `remote` without a password or token, for logs and the stored source.
pub fn redact(remote: &str) -> String {
    match url::Url::parse(remote) {
        Ok(mut url) if url.password().is_some() || !url.username().is_empty() => {
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        _ => remote.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_logs() {
        assert_eq!(
            redact("https://x-access-token:secret@github.com/org/site.git"),
            "https://github.com/org/site.git"
        );
        assert_eq!(
            redact("git@github.com:org/site.git"),
            "git@github.com:org/site.git"
        );
    }

    #[tokio::test]
    async fn options_cannot_be_smuggled_in_as_a_remote_or_branch() {
        let short = Duration::from_secs(5);
        let err = clone("--upload-pack=touch /tmp/pwned", "main", short)
            .await
            .expect_err("option");
        assert!(err.to_string().contains("remote"), "{err}");
        let err = clone("ext::sh -c touch% /tmp/pwned", "main", short)
            .await
            .expect_err("ext");
        assert!(err.to_string().contains("remote"), "{err}");
        let err = clone("https://example.invalid/x.git", "--output=/tmp/x", short)
            .await
            .expect_err("branch");
        assert!(err.to_string().contains("branch"), "{err}");
    }
}
