//! RELAX NG: the site XML contract, compiled once and shared by threads.

use super::*;

/// The site XML schema (`src/schema/site.rng`), embedded so the binary validates the same
/// contract from any working folder.
pub const SITE_RNG: &str = include_str!("../../schema/site.rng");

/// Problems kept per validation; one mistake can cascade into many RELAX NG messages.
pub(super) const MAX_SCHEMA_PROBLEMS: usize = 20;

/// One problem RELAX NG found, where libxml2 saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// Line in the validated document (or the schema, for a compile error); 0 when unknown.
    pub line: u32,
    /// libxml2's message, e.g. `Element page failed to validate attributes`.
    pub message: String,
}

impl std::fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

pub(super) fn list_problems(problems: &[SchemaProblem], dropped: usize) -> String {
    let mut out = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if dropped > 0 {
        out.push_str(&format!(" (and {dropped} more)"));
    }
    out
}

/// A schema that does not compile, or a document it refuses.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The RELAX NG grammar itself is broken.
    #[error("RELAX NG schema {name} does not compile: {}", list_problems(.problems, 0))]
    Compile {
        /// The schema's name (file or `embedded site.rng`).
        name: String,
        /// What libxml2 said, with lines in the schema.
        problems: Vec<SchemaProblem>,
    },
    /// The document does not match the schema.
    #[error("{file} does not match the site schema (src/schema/site.rng): {}; fix the source record or the file", list_problems(.problems, *.dropped))]
    Invalid {
        /// The document's name as given to [`parse_document`].
        file: String,
        /// The first problems, in document order, with line numbers.
        problems: Vec<SchemaProblem>,
        /// How many more problems libxml2 reported beyond the cap.
        dropped: usize,
    },
    /// libxml2 could not run the validation at all (out of memory, internal error).
    #[error("{file}: RELAX NG validation could not run: {}", list_problems(.problems, 0))]
    Internal {
        /// The document's name.
        file: String,
        /// What libxml2 said.
        problems: Vec<SchemaProblem>,
    },
}

/// Where libxml2's structured errors land during one schema compile or validation; lives on
/// the stack of the call that registered it.
#[derive(Default)]
pub(super) struct SchemaCollector {
    pub(super) problems: Vec<SchemaProblem>,
    pub(super) dropped: usize,
}

impl SchemaCollector {
    pub(super) fn take(&mut self) -> (Vec<SchemaProblem>, usize) {
        if self.problems.is_empty() {
            self.problems.push(SchemaProblem {
                line: 0,
                message: "no diagnostic given".to_owned(),
            });
        }
        (std::mem::take(&mut self.problems), self.dropped)
    }
}

pub(super) extern "C" fn collect_schema_error(ctx: *mut c_void, error: ErrorPtr) {
    if ctx.is_null() || error.is_null() {
        return;
    }
    // SAFETY: `ctx` is the `SchemaCollector` registered by `Schema::compile` or
    // `Schema::validate`, which outlives the libxml2 call that invokes this callback on the
    // same thread; `error` is a valid record for the duration of the callback, its message
    // NUL-terminated or NULL.
    let (collector, line, message) = unsafe {
        let e = &*error;
        let message = if e.message.is_null() {
            String::from("unknown error")
        } else {
            CStr::from_ptr(e.message).to_string_lossy().into_owned()
        };
        (&mut *ctx.cast::<SchemaCollector>(), e.line, message)
    };
    if collector.problems.len() >= MAX_SCHEMA_PROBLEMS {
        collector.dropped += 1;
        return;
    }
    let mut message = message.trim_end().to_owned();
    message.truncate(message.floor_char_boundary_compat(400));
    collector.problems.push(SchemaProblem {
        line: u32::try_from(line).unwrap_or(0),
        message,
    });
}

/// A compiled RELAX NG grammar, shared read-only by concurrent validations.
pub struct Schema {
    pub(super) ptr: NonNull<ffi::xmlRelaxNG>,
}

// SAFETY: once `xmlRelaxNGParse` has returned, libxml2 (2.9.14, checked in relaxng.c) only
// reads a compiled grammar during validation: every piece of validation state (the state
// stack, error stack, regexp execution contexts, per-value XSD facets) lives in the
// validation context, which `validate` creates per call and never shares. The one
// process-wide table involved (the datatype registry) is filled by `init` before any thread
// runs. The grammar is freed only by Drop, i.e. when no `&Schema` exists.
unsafe impl Send for Schema {}
// SAFETY: as above: shared access is read-only.
unsafe impl Sync for Schema {}

impl Drop for Schema {
    fn drop(&mut self) {
        // SAFETY: we own the grammar; no validation can hold a reference past our lifetime.
        unsafe { ffi::xmlRelaxNGFree(self.ptr.as_ptr()) }
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").finish_non_exhaustive()
    }
}

impl Schema {
    /// The site XML contract, compiled once per process from the embedded [`SITE_RNG`].
    pub fn site() -> Result<&'static Schema, SchemaError> {
        static SITE: std::sync::OnceLock<Result<Schema, Vec<SchemaProblem>>> =
            std::sync::OnceLock::new();
        SITE.get_or_init(|| {
            Schema::compile(SITE_RNG.as_bytes(), "embedded site.rng").map_err(|e| match e {
                SchemaError::Compile { problems, .. } => problems,
                other => vec![SchemaProblem {
                    line: 0,
                    message: other.to_string(),
                }],
            })
        })
        .as_ref()
        .map_err(|problems| SchemaError::Compile {
            name: "embedded site.rng".to_owned(),
            problems: problems.clone(),
        })
    }

    /// Compiles a RELAX NG grammar (XML syntax) from memory. `name` is used in messages.
    /// The grammar must be self-contained: external references would go through the entity
    /// loader, which refuses them.
    pub fn compile(rng: &[u8], name: &str) -> Result<Schema, SchemaError> {
        thread_setup();
        // Outlives any render this may be called from.
        let _outside_arena = arena::suspend();
        let compile_error = |problems| SchemaError::Compile {
            name: name.to_owned(),
            problems,
        };
        let len = c_int::try_from(rng.len()).map_err(|_| {
            compile_error(vec![SchemaProblem {
                line: 0,
                message: format!("{} bytes is too large", rng.len()),
            }])
        })?;
        let mut collector = SchemaCollector::default();
        // SAFETY: the buffer outlives the parser context (freed before returning); the
        // collector outlives every callback, which libxml2 makes during xmlRelaxNGParse on
        // this thread; the returned grammar (or NULL) is ours and no longer refers to the
        // parser context or the buffer.
        let schema = unsafe {
            let pctxt = ffi::xmlRelaxNGNewMemParserCtxt(rng.as_ptr().cast(), len);
            if pctxt.is_null() {
                return Err(compile_error(vec![SchemaProblem {
                    line: 0,
                    message: "could not create a RELAX NG parser context".to_owned(),
                }]));
            }
            ffi::xmlRelaxNGSetParserStructuredErrors(
                pctxt,
                Some(collect_schema_error),
                (&mut collector as *mut SchemaCollector).cast(),
            );
            let schema = ffi::xmlRelaxNGParse(pctxt);
            ffi::xmlRelaxNGFreeParserCtxt(pctxt);
            schema
        };
        match NonNull::new(schema) {
            Some(ptr) => Ok(Schema { ptr }),
            None => Err(compile_error(collector.take().0)),
        }
    }

    /// Validates `doc`, listing the first problems with their line numbers.
    ///
    /// Each call has its own validation context, so one `Schema` serves any number of
    /// threads at once.
    pub fn validate(&self, doc: &Document) -> Result<(), SchemaError> {
        thread_setup();
        let file = doc.name();
        let mut collector = SchemaCollector::default();
        // SAFETY: the grammar is alive and only read (see the Sync impl); the validation
        // context is created, used and freed here, on this thread, and never escapes; the
        // collector outlives every callback, which libxml2 makes during
        // xmlRelaxNGValidateDoc. Validation writes scratch pointers into the nodes' `psvi`
        // field and clears them before returning; a `Document` is not Sync, so no other
        // thread sees the tree meanwhile, and no Rust view of a node reads `psvi`.
        let rc = unsafe {
            let vctxt = ffi::xmlRelaxNGNewValidCtxt(self.ptr.as_ptr());
            if vctxt.is_null() {
                return Err(SchemaError::Internal {
                    file,
                    problems: vec![SchemaProblem {
                        line: 0,
                        message: "could not create a validation context".to_owned(),
                    }],
                });
            }
            ffi::xmlRelaxNGSetValidStructuredErrors(
                vctxt,
                Some(collect_schema_error),
                (&mut collector as *mut SchemaCollector).cast(),
            );
            let rc = ffi::xmlRelaxNGValidateDoc(vctxt, doc.ptr.as_ptr());
            ffi::xmlRelaxNGFreeValidCtxt(vctxt);
            rc
        };
        match rc {
            0 => Ok(()),
            rc if rc > 0 => {
                let (problems, dropped) = collector.take();
                Err(SchemaError::Invalid {
                    file,
                    problems,
                    dropped,
                })
            }
            _ => Err(SchemaError::Internal {
                file,
                problems: collector.take().0,
            }),
        }
    }
}
