//! TEMPORARY minimal confinement (replaced by the full module).
use std::path::{Path, PathBuf};
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelPath(String);
#[derive(Debug, thiserror::Error)]
#[error("invalid path {0:?}")]
pub struct PathError(String);
impl RelPath {
    pub fn parse(s: &str) -> Result<RelPath, PathError> {
        if s.is_empty()
            || s.starts_with('/')
            || s.split('/')
                .any(|c| c.is_empty() || c.starts_with('.') || c.contains(['\\', '\0', ':']))
        {
            return Err(PathError(s.into()));
        }
        Ok(RelPath(s.into()))
    }
    pub fn from_url_path(encoded: &str) -> Result<RelPath, PathError> {
        if encoded.to_ascii_lowercase().contains("%2f")
            || encoded.to_ascii_lowercase().contains("%5c")
        {
            return Err(PathError(encoded.into()));
        }
        let d = percent_encoding::percent_decode_str(encoded)
            .decode_utf8()
            .map_err(|_| PathError(encoded.into()))?;
        if d.contains('%') {
            return Err(PathError(encoded.into()));
        }
        RelPath::parse(&d)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
pub struct Root {
    path: PathBuf,
}
impl Root {
    pub fn open(path: &Path) -> std::io::Result<Root> {
        Ok(Root {
            path: path.canonicalize()?,
        })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn open_file(&self, rel: &RelPath) -> std::io::Result<std::fs::File> {
        let p = self.path.join(rel.as_str()).canonicalize()?;
        if !p.starts_with(&self.path) {
            return Err(std::io::ErrorKind::PermissionDenied.into());
        }
        let f = std::fs::File::open(p)?;
        if !f.metadata()?.is_file() {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        Ok(f)
    }
}
