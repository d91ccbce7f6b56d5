//! What differs between the supported libxml2 versions in the Rust bindings, in one place.
//! The C side needs nothing of the kind: it is compiled against the installed headers.

use super::*;

/// The error record libxml2 passes to structured error callbacks: `xmlErrorPtr` before
/// 2.12, `const xmlError *` from 2.12 on (build.rs sets the cfg from pkg-config).
#[cfg(vitrine_libxml2_const_error)]
pub(super) type ErrorPtr = *const ffi::xmlError;

/// The error record libxml2 passes to structured error callbacks: `xmlErrorPtr` before
/// 2.12, `const xmlError *` from 2.12 on (build.rs sets the cfg from pkg-config).
#[cfg(not(vitrine_libxml2_const_error))]
pub(super) type ErrorPtr = ffi::xmlErrorPtr;
