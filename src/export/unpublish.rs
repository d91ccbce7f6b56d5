//! Taking a site offline: its domains leave the map first (so no visitor is sent to a file
//! that is about to move), then its folder moves to the archive. Nothing is deleted, and
//! exporting the same record again brings the site back, media included.

use std::path::PathBuf;
use std::time::Duration;

use super::files::{FileError, SiteFiles};
use super::record::valid_slug;
use crate::map::redis::MapWriter;
use crate::map::MapError;
use crate::render::xslt::parse_document;
use crate::render::Outline;
use crate::site::site_path;

/// Why a site could not be unpublished.
#[derive(Debug, thiserror::Error)]
pub enum UnpublishError {
    /// Not a site id.
    #[error("{0:?} is not a site id ([a-z0-9][a-z0-9-]*, at most 63 characters)")]
    BadId(String),
    /// The map could not be updated; the folder was left in place.
    #[error("{0}; the site's folder was left in place, so nothing points to a missing file: retry once Redis answers")]
    Map(MapError),
    /// The folder could not be moved (after the map was updated).
    #[error(transparent)]
    File(#[from] FileError),
}

impl From<MapError> for UnpublishError {
    fn from(e: MapError) -> Self {
        UnpublishError::Map(e)
    }
}

/// What [`unpublish`] did.
#[derive(Debug, Clone)]
pub struct Unpublished {
    /// Domains removed from the map (`None`: no map given).
    pub removed: Option<Vec<String>>,
    /// Where the folder went (`None`: there was no folder).
    pub archived: Option<PathBuf>,
}

/// Unpublishes site `id`: map first (when `redis` is given), then the folder.
pub fn unpublish(
    id: &str,
    files: &SiteFiles,
    redis: Option<&str>,
) -> Result<Unpublished, UnpublishError> {
    if !valid_slug(id) {
        return Err(UnpublishError::BadId(id.to_owned()));
    }
    // The XML's own domains are released too, in case the map has entries the per-site set
    // does not know (entries set by hand, or a map imported before the first export).
    let declared = files
        .current(id)?
        .and_then(|xml| parse_document(&xml, &site_path(id)).ok())
        .map(|doc| Outline::of(&doc).domains)
        .unwrap_or_default();
    let removed = match redis {
        Some(url) => {
            let mut map = MapWriter::connect(url, Duration::from_secs(10))?;
            Some(map.release(id, &site_path(id), &declared)?)
        }
        None => None,
    };
    let archived = match files.archive_site(id) {
        Ok(path) => Some(path),
        Err(FileError::NotPublished { .. }) if removed.as_ref().is_some_and(|r| !r.is_empty()) => {
            None
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Unpublished { removed, archived })
}
