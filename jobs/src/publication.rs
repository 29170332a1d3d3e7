//! Versioned publications shared by the schedule and content jobs: store an import as a version row (once per
//! content hash), publish it to the cache in one atomic step with a notice to every api pod, rebuild the cache from
//! the database after a flush, and re-publish an earlier version (rollback).
//!
//! A [`Feed`] names one publication: its version table, its two cache keys (`<name>.current`: the whole record;
//! `<name>.version`: its id alone, cheap to poll) and its notice channel (`notify.<name>`).

use anyhow::Context as _;
use chrono::Utc;
use plaza_core::queries::versions::{self, Table};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::JobContext;

/// One versioned publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feed {
    /// What it is, for logs ("schedule", "content").
    pub name: &'static str,
    /// Where its versions are stored.
    pub table: Table,
    /// Cache key of the published record.
    pub current_key: &'static str,
    /// Cache key of the published version id.
    pub version_key: &'static str,
    /// Channel on which a publish is announced (payload: the version id).
    pub notice_channel: &'static str,
}

/// The published schedule.
pub const SCHEDULE: Feed = Feed {
    name: "schedule",
    table: Table::Schedule,
    current_key: "schedule.current",
    version_key: "schedule.version",
    notice_channel: "notify.schedule",
};

/// The published site content.
pub const CONTENT: Feed = Feed {
    name: "content",
    table: Table::Content,
    current_key: "content.current",
    version_key: "content.version",
    notice_channel: "notify.content",
};

/// A published version as stored in the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published<T> {
    /// The version row's id.
    pub version: i64,
    /// Content hash of `data`.
    pub hash: String,
    /// The published value.
    pub data: T,
}

/// What [`Feed::store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The version the content is stored as.
    pub version: i64,
    /// True when the content was new (a version row was created).
    pub created: bool,
    /// True when this run changed what is served.
    pub published: bool,
}

impl Feed {
    /// Stores `data` (hashed as `hash`) and publishes it when it is new or nothing is published yet. Identical
    /// content is not re-published — so a rollback holds until the source changes — but the cache is brought in
    /// line with the database either way.
    pub async fn store<T: Serialize + DeserializeOwned>(
        &self,
        ctx: &JobContext,
        source: &str,
        hash: &str,
        data: T,
        counts: &serde_json::Value,
    ) -> anyhow::Result<(Stored, Published<T>)> {
        let name = self.name;
        let current = versions::latest_published(&ctx.db, self.table)
            .await
            .with_context(|| format!("reading the published {name} version"))?;
        let json =
            serde_json::to_value(&data).with_context(|| format!("serialising the {name}"))?;
        let inserted = versions::insert_if_new(&ctx.db, self.table, source, hash, &json, counts)
            .await
            .with_context(|| format!("storing the {name} version"))?;
        let (version, created) = match inserted {
            Some(id) => (id, true),
            None => {
                let existing = versions::find_by_hash(&ctx.db, self.table, hash)
                    .await
                    .with_context(|| format!("finding the {name} version"))?;
                (
                    existing
                        .with_context(|| format!("a {name} version with this hash vanished"))?
                        .id,
                    false,
                )
            }
        };
        let publish = created || current.is_none();
        let published = Published {
            version,
            hash: hash.to_owned(),
            data,
        };
        if publish {
            versions::mark_published(&ctx.db, self.table, version, Utc::now())
                .await
                .with_context(|| format!("marking the {name} version"))?;
            self.write_cache(ctx, &published).await?;
        } else {
            self.ensure_cache::<serde::de::IgnoredAny>(ctx).await?;
        }
        let stored = Stored {
            version,
            created,
            published: publish,
        };
        Ok((stored, published))
    }

    /// Writes `published` to the cache in one atomic step and tells every api pod.
    pub async fn write_cache<T: Serialize>(
        &self,
        ctx: &JobContext,
        published: &Published<T>,
    ) -> anyhow::Result<()> {
        let name = self.name;
        let record = serde_json::to_string(published)
            .with_context(|| format!("serialising the published {name}"))?;
        let version = published.version.to_string();
        ctx.cache
            .set_many(
                &[
                    (self.current_key.to_owned(), record),
                    (self.version_key.to_owned(), version.clone()),
                ],
                None,
            )
            .await
            .with_context(|| format!("publishing the {name} to the cache"))?;
        ctx.cache
            .publish(self.notice_channel, &version)
            .await
            .with_context(|| format!("announcing the {name}"))?;
        Ok(())
    }

    /// The published record in the cache, if any.
    pub async fn cached<T: DeserializeOwned>(
        &self,
        ctx: &JobContext,
    ) -> anyhow::Result<Option<Published<T>>> {
        Ok(ctx.cache.get_json::<Published<T>>(self.current_key).await?)
    }

    /// Makes sure the cache holds the database's published version (after a Redis flush or a failed write), and
    /// returns it. `None` when nothing was ever published.
    pub async fn ensure_cache<T: DeserializeOwned>(
        &self,
        ctx: &JobContext,
    ) -> anyhow::Result<Option<Published<T>>> {
        let Some((version, data)) = versions::latest_published(&ctx.db, self.table).await? else {
            return Ok(None);
        };
        let cached_version = ctx.cache.get(self.version_key).await?;
        if cached_version.as_deref() == Some(version.id.to_string().as_str())
            && let Some(published) = self.cached(ctx).await?
        {
            return Ok(Some(published));
        }
        let published = Published {
            version: version.id,
            hash: version.content_hash,
            data,
        };
        tracing::info!(
            version = published.version,
            feed = self.name,
            "rebuilding the cached record from the database"
        );
        self.write_cache(ctx, &published).await?;
        let name = self.name;
        let data = serde_json::from_value(published.data)
            .with_context(|| format!("stored {name} version does not parse"))?;
        Ok(Some(Published {
            version: published.version,
            hash: published.hash,
            data,
        }))
    }

    /// The published version for a process that must serve *something* while a dependency is away: the database's
    /// (the source of truth) when it answers — bringing the cache in line on the way, best effort — else the
    /// cache's record. `None` when nothing was ever published; an error only when neither source can say.
    pub async fn published_anywhere<T: DeserializeOwned>(
        &self,
        ctx: &JobContext,
    ) -> anyhow::Result<Option<Published<T>>> {
        let name = self.name;
        match versions::latest_published(&ctx.db, self.table).await {
            Ok(None) => Ok(None),
            Ok(Some((version, data))) => {
                let published = Published {
                    version: version.id,
                    hash: version.content_hash,
                    data,
                };
                let cached = ctx.cache.get(self.version_key).await;
                if cached.as_ref().ok().and_then(Option::as_deref)
                    != Some(published.version.to_string().as_str())
                {
                    match cached {
                        Err(err) => tracing::warn!(
                            feed = name,
                            %err,
                            "the cache is unavailable; serving the database's published version"
                        ),
                        Ok(_) => {
                            if let Err(err) = self.write_cache(ctx, &published).await {
                                tracing::warn!(
                                    feed = name,
                                    error = format!("{err:#}"),
                                    "cannot rebuild the cache"
                                );
                            }
                        }
                    }
                }
                Ok(Some(Published {
                    version: published.version,
                    hash: published.hash,
                    data: serde_json::from_value(published.data)
                        .with_context(|| format!("stored {name} version does not parse"))?,
                }))
            }
            // Without the database, an empty cache proves nothing: it may just have been flushed.
            Err(db_err) => match self.cached(ctx).await {
                Ok(Some(published)) => Ok(Some(published)),
                Ok(None) => anyhow::bail!(
                    "the database is unavailable ({db_err}) and the cache has no published {name}"
                ),
                Err(cache_err) => anyhow::bail!(
                    "neither the database ({db_err}) nor the cache ({cache_err}) has the published {name}"
                ),
            },
        }
    }

    /// Makes version `id` the served one again (rollback or re-publish). Callers hold the job's lock.
    pub async fn publish_version<T: DeserializeOwned>(
        &self,
        ctx: &JobContext,
        id: i64,
    ) -> anyhow::Result<Published<T>> {
        let name = self.name;
        let (version, data) = versions::get(&ctx.db, self.table, id)
            .await
            .with_context(|| format!("reading the {name} version"))?
            .with_context(|| format!("there is no {name} version {id}"))?;
        let parsed: T = serde_json::from_value(data.clone())
            .with_context(|| format!("stored {name} version does not parse"))?;
        versions::mark_published(&ctx.db, self.table, id, Utc::now()).await?;
        self.write_cache(
            ctx,
            &Published {
                version: id,
                hash: version.content_hash.clone(),
                data,
            },
        )
        .await?;
        tracing::info!(version = id, feed = name, "version published");
        Ok(Published {
            version: id,
            hash: version.content_hash,
            data: parsed,
        })
    }
}
