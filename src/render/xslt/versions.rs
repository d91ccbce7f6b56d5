//! Library versions: the libxml2 and libxslt this binary was built against (pkg-config at
//! build time, see `build.rs`) and the ones loaded now, and the facts about them that the
//! lint, the engine and the tests depend on. A leaf: it uses nothing else of the binding.

use std::fmt;

use super::sys::{vitrine_libxslt_has_modules, vitrine_loaded_libxml2, vitrine_loaded_libxslt};
use super::version_number::number;

/// A libxml2 and a libxslt version, each as its `LIBXML_VERSION`-style number (20914).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// libxml2, e.g. 20914 for 2.9.14.
    pub libxml2: u32,
    /// libxslt, e.g. 10135 for 1.1.35.
    pub libxslt: u32,
}

fn dotted(n: u32) -> String {
    format!("{}.{}.{}", n / 10_000, n / 100 % 100, n % 100)
}

impl Versions {
    /// The versions the binary was built against (pkg-config at build time).
    pub fn built() -> Versions {
        Versions {
            libxml2: number(env!("VITRINE_BUILT_LIBXML2")),
            libxslt: number(env!("VITRINE_BUILT_LIBXSLT")),
        }
    }

    /// The versions of the shared libraries loaded now.
    pub fn loaded() -> Versions {
        // SAFETY: both read a constant the library defines; no set-up is needed.
        let (xml, xslt) = unsafe { (vitrine_loaded_libxml2(), vitrine_loaded_libxslt()) };
        Versions {
            libxml2: u32::try_from(xml).unwrap_or(0),
            libxslt: u32::try_from(xslt).unwrap_or(0),
        }
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "libxml2 {}, libxslt {}",
            dotted(self.libxml2),
            dotted(self.libxslt)
        )
    }
}

/// The libxslt version from which `xsl:sort` no longer writes into the shared stylesheet when
/// its attributes are value templates (libxslt issue #78, fixed in 1.1.38).
pub const SORT_AVT_FIXED: u32 = 10138;

/// Whether the loaded libxslt writes into a compiled stylesheet while sorting with attribute
/// value templates, which makes such a stylesheet unsafe to share between threads.
pub fn sort_avt_unsafe() -> bool {
    Versions::loaded().libxslt < SORT_AVT_FIXED
}

/// Whether the libxslt built against can load extension plugins at all (Debian 12 and 13:
/// yes; sid: no). Vitrine never lets it (see `init`), but a test's negative control needs
/// to know whether the danger exists.
pub fn libxslt_loads_plugins() -> bool {
    // SAFETY: returns a constant fixed at build time.
    unsafe { vitrine_libxslt_has_modules() != 0 }
}
