//! The embedded in-memory domain map, built from the domains the site XMLs declare. It lets
//! `vitrine serve` run with nothing but the binary; production uses Redis (see [`super::redis`]),
//! where adding or moving a site needs no restart.

use std::collections::HashMap;
use std::path::Path;

use super::MapError;
use crate::render::{xslt, Outline};
use crate::site::list_site_files;

/// Host -> site XML path, fixed at start-up.
#[derive(Debug, Default)]
pub struct MemoryMap {
    hosts: HashMap<String, String>,
}

/// A problem found while building the map; the map is still usable without that entry.
#[derive(Debug)]
pub struct Conflict(pub String);

impl MemoryMap {
    /// Reads every site XML beneath `root` and maps each declared domain to its file. A
    /// domain declared by two sites goes to the first (in path order) and is reported.
    pub fn from_sites(root: &Path) -> Result<(MemoryMap, Vec<Conflict>), MapError> {
        let files = list_site_files(root).map_err(|e| MapError::Source {
            path: root.display().to_string(),
            detail: e.to_string(),
        })?;
        let mut map = MemoryMap::default();
        let mut problems = Vec::new();
        for rel in files {
            let path = root.join(&rel);
            let outline = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    xslt::parse_document(&bytes, &path.to_string_lossy())
                        .map(|doc| Outline::of(&doc))
                        .map_err(|e| e.to_string())
                });
            match outline {
                Ok(outline) => {
                    for domain in outline.domains {
                        if let Some(owner) = map.hosts.get(&domain) {
                            problems.push(Conflict(format!(
                                "{domain} is declared by {owner} and {rel}; serving {owner}"
                            )));
                        } else {
                            map.hosts.insert(domain, rel.clone());
                        }
                    }
                }
                Err(e) => problems.push(Conflict(format!("{rel} skipped: {e}"))),
            }
        }
        Ok((map, problems))
    }

    /// Looks a normalised host up.
    pub fn get(&self, host: &str) -> Option<String> {
        self.hosts.get(host).cloned()
    }

    /// Adds or replaces an entry.
    pub fn insert(&mut self, host: String, path: String) {
        self.hosts.insert(host, path);
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Every entry, sorted by host.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .hosts
            .iter()
            .map(|(h, p)| (h.clone(), p.clone()))
            .collect();
        v.sort();
        v
    }
}
