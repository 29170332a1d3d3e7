//! The served site content: the published [`Bundle`] with each page's `/content/:slug` body pre-built. Version 0 is
//! the content bundled into the binary, served until an import publishes one.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use plaza_core::content::Bundle;

use super::Representation;

/// One content version, ready to serve.
#[derive(Debug)]
pub struct ContentSnapshot {
    /// `content_versions.id` (0: the bundled content).
    pub version: i64,
    /// The content.
    pub bundle: Bundle,
    /// `{content: {locale: html}}` per page key.
    pub pages: HashMap<String, Representation>,
}

impl ContentSnapshot {
    /// Pre-builds the page bodies of `bundle`.
    pub fn build(version: i64, bundle: Bundle) -> anyhow::Result<Self> {
        #[derive(serde::Serialize)]
        struct Page<'a> {
            content: &'a std::collections::BTreeMap<String, String>,
        }
        let pages = bundle
            .pages
            .iter()
            .map(|(key, content)| Ok((key.clone(), Representation::of(&Page { content })?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            version,
            bundle,
            pages,
        })
    }
}

/// The content served by this process. Cheap to clone; reads are lock-free.
#[derive(Clone, Debug)]
pub struct ContentStore {
    current: Arc<ArcSwap<ContentSnapshot>>,
}

impl ContentStore {
    /// A store serving `snapshot`.
    pub fn new(snapshot: ContentSnapshot) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
        }
    }

    /// The snapshot being served.
    pub fn current(&self) -> Arc<ContentSnapshot> {
        self.current.load_full()
    }

    /// Serves `snapshot` from now on.
    pub fn store(&self, snapshot: ContentSnapshot) {
        self.current.store(Arc::new(snapshot));
    }
}
