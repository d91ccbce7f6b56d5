//! One export run: a stream of JSON lines in, site files and map entries out.
//!
//! # Stages and threads
//!
//! ```text
//! reader ──lines──▶ builders (×N) ──built──▶ gate ──▶ writers (×M) ──▶ mapper
//! (1 thread)        parse, check,            order,    atomic file      claim domains
//!                   write XML, schema        claims    replace          (Redis, batched)
//! ```
//!
//! Every channel is bounded, so memory does not grow with the number of records: the reader
//! stops reading when the builders are busy. Builders are CPU-bound (one per core by
//! default); writers wait on fsync (more of them than cores). The gate puts records back in
//! line order (a bounded window) so that which of two lines wins a domain does not depend on
//! thread timing, refuses a second line for the same site, and checks domain ownership in
//! Redis with one pipelined `MGET` per batch before anything is written. The mapper applies
//! the claims in pipelined batches, each one atomic (a Lua script, see
//! [`crate::map::redis::MapWriter`]).
//!
//! # Order of file and map updates
//!
//! A site's file is written (and fsynced, and renamed, and its folder fsynced) before its
//! domains are added to the map, so a domain never points to a missing or half-written file.
//! Domains a site no longer declares are removed by the same atomic claim, after the new file
//! is in place: until then they point to a whole file (the old or new version of that site).
//! The claim runs even when the file was unchanged, so re-running an export after a crash
//! between file and map completes the map.
//!
//! # Domains changing hands in one run
//!
//! A record that declares a domain the map gives to another site is set aside, not failed,
//! and retried once after every other record of the run has been applied: if the other site's
//! record, later in the same input, dropped that domain, the move succeeds whatever the order
//! of the two lines. If the other site still holds it at the retry, the record fails, naming
//! both sites, and nothing of it is written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};
use indicatif::{ProgressBar, ProgressStyle};

use super::files::{Published, SiteFiles};
use super::record::{parse_line, sniff_id, FieldError, Rules, MAX_LINE_BYTES};
use super::xml::site_xml;
use super::{ExportError, Failure, Options, Summary};
use crate::map::redis::{Claim, ClaimOutcome, MapWriter};
use crate::render::xslt::{parse_document, Schema};
use crate::render::Outline;
use crate::site::site_path;

/// Records set aside for the end-of-run retry, at most; beyond, a conflict fails at once.
const MAX_DEFERRED: usize = 10_000;
/// Failures kept for the JSON report; beyond, only counted.
const MAX_KEPT_FAILURES: usize = 10_000;
/// Failures printed one by one on stderr; beyond, only counted in the summary.
const MAX_PRINTED_FAILURES: usize = 200;
/// Records handled per Redis round trip.
const MAP_BATCH: usize = 256;
/// Deadline of one Redis reply.
const MAP_TIMEOUT: Duration = Duration::from_secs(10);

/// One input line to build.
struct Line {
    seq: u64,
    line: u64,
    bytes: Result<Vec<u8>, usize>,
}

/// A record ready to publish.
struct Site {
    line: u64,
    id: String,
    domains: Vec<String>,
    xml: Vec<u8>,
}

enum Built {
    Site(Site),
    Skipped,
    Failed(Failure),
}

/// A site whose file is in place, for the mapper.
struct Placed {
    line: u64,
    id: String,
    domains: Vec<String>,
    previous: Vec<String>,
}

/// Counters and failures, shared by every stage.
struct Report {
    records: AtomicU64,
    written: AtomicU64,
    unchanged: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    added: AtomicU64,
    removed: AtomicU64,
    restored: AtomicU64,
    failures: Mutex<Vec<Failure>>,
    progress: Option<ProgressBar>,
    print: bool,
}

impl Report {
    fn fail(&self, failure: Failure) {
        let n = self.failed.fetch_add(1, Ordering::Relaxed);
        if self.print && n < MAX_PRINTED_FAILURES as u64 {
            let text = failure.to_string();
            match &self.progress {
                Some(pb) => pb.suspend(|| crate::errln!("{text}")),
                None => crate::errln!("{text}"),
            }
            if n + 1 == MAX_PRINTED_FAILURES as u64 {
                crate::errln!("(further failures are counted, not printed; --json lists them)");
            }
        }
        let mut kept = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < MAX_KEPT_FAILURES {
            kept.push(failure);
        }
    }

    fn tick(&self) {
        if let Some(pb) = &self.progress {
            pb.set_message(format!(
                "{} written, {} unchanged, {} failed",
                self.written.load(Ordering::Relaxed),
                self.unchanged.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed)
            ));
        }
    }
}

fn failure(line: u64, id: Option<String>, kind: &'static str, reason: String) -> Failure {
    Failure {
        line,
        id,
        kind,
        problems: vec![FieldError {
            path: String::new(),
            reason,
        }],
    }
}

// ---------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------

/// Reads one line into `buf` (without its `\n`), keeping at most `cap` bytes: a longer line
/// is consumed to its end and reported by its length. `None` at end of input.
fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<Result<(), usize>>> {
    buf.clear();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if len + take <= cap {
            buf.extend_from_slice(&chunk[..take]);
        }
        len += take;
        reader.consume(take + usize::from(done));
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if len > cap {
        buf.clear();
        return Ok(Some(Err(len)));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(Ok(())))
}

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

fn build(input: Line, rules: &Rules, only: &HashSet<String>) -> Built {
    let line = input.line;
    let bytes = match input.bytes {
        Ok(b) => b,
        Err(len) => {
            return Built::Failed(failure(
                line,
                None,
                "record",
                format!(
                    "line of {len} bytes is over the {MAX_LINE_BYTES}-byte limit for one record"
                ),
            ))
        }
    };
    let mut record = match parse_line(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let id = sniff_id(&bytes);
            if !only.is_empty() && id.as_ref().is_some_and(|id| !only.contains(id)) {
                return Built::Skipped;
            }
            // Decoded again with the rules, only for a line that failed: its rule faults
            // are listed with its shape faults, not one export later.
            let problems = match rules.check_line(&bytes) {
                Err(all) => all.problems(),
                Ok(_) => e.problems(),
            };
            return Built::Failed(Failure {
                line,
                id,
                kind: "record",
                problems,
            });
        }
    };
    if !only.is_empty() && !only.contains(&record.id) {
        return Built::Skipped;
    }
    let id = Some(record.id.clone());
    if let Err(e) = record.check(rules) {
        return Built::Failed(Failure {
            line,
            id,
            kind: "record",
            problems: e.problems(),
        });
    }
    let xml = match site_xml(&record) {
        Ok(x) => x,
        Err(e) => return Built::Failed(failure(line, id, "xml", e.to_string())),
    };
    let checked = Schema::site()
        .map_err(|e| e.to_string())
        .and_then(|schema| {
            let doc = parse_document(&xml, &site_path(&record.id)).map_err(|e| e.to_string())?;
            schema.validate(&doc).map_err(|e| e.to_string())
        });
    if let Err(e) = checked {
        // The record passed its checks, so this is a gap between the checks and the schema:
        // nothing is written, and the message says which rule the XML broke.
        return Built::Failed(failure(line, id, "schema", e));
    }
    Built::Site(Site {
        line,
        id: record.id,
        domains: record.domains,
        xml,
    })
}

// ---------------------------------------------------------------------------------------
// Gate: order, duplicates, domain ownership
// ---------------------------------------------------------------------------------------

/// What the gate knows about this run: the records it let through and their domains.
///
/// This is the one thing that grows with the input, so it is kept small (about 100 bytes per
/// record): ids are stored once, and the maps are keyed by a 64-bit hash of the id or domain
/// instead of the string. Two different domains sharing a hash (odds about 10^-9 for 140,000
/// domains) would be reported as declared twice; ids are compared in full.
#[derive(Default)]
struct RunClaims {
    /// (site id, line) of each record let through.
    accepted: Vec<(Box<str>, u64)>,
    /// Hash of a site id -> index in `accepted`.
    sites: HashMap<u64, u32>,
    /// Hash of a domain -> index in `accepted` of the record declaring it.
    domains: HashMap<u64, u32>,
}

fn hash64(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

enum Verdict {
    Go,
    Defer,
    Fail(Failure),
}

fn owner_id(path: &str) -> &str {
    path.split('/').nth(1).unwrap_or(path)
}

impl RunClaims {
    /// Checks a site against this run's other records and the map's current owners
    /// (`owners[i]` for `site.domains[i]`, `None` without a map).
    fn judge(
        &mut self,
        site: &Site,
        owners: Option<&[Option<String>]>,
        final_try: bool,
    ) -> Verdict {
        let site_key = hash64(&site.id);
        let earlier = self
            .sites
            .get(&site_key)
            .map(|&i| &self.accepted[i as usize])
            .filter(|(id, _)| **id == *site.id);
        if let Some(&(_, first)) = earlier {
            if first != site.line {
                return Verdict::Fail(failure(
                    site.line,
                    Some(site.id.clone()),
                    "duplicate",
                    format!(
                        "site {} already has a record on line {first} of this input; one line per site",
                        site.id
                    ),
                ));
            }
        }
        for d in &site.domains {
            if let Some(&i) = self.domains.get(&hash64(d)) {
                let (other, line) = &self.accepted[i as usize];
                if **other != *site.id {
                    return Verdict::Fail(failure(
                        site.line,
                        Some(site.id.clone()),
                        "conflict",
                        format!(
                            "domain {d} is also declared by site {other} on line {line} of this \
                             input; a domain belongs to one site: remove it from one record"
                        ),
                    ));
                }
            }
        }
        let path = site_path(&site.id);
        if let Some(owners) = owners {
            for (d, owner) in site.domains.iter().zip(owners) {
                match owner {
                    Some(o) if *o != path => {
                        if !final_try {
                            return Verdict::Defer;
                        }
                        return Verdict::Fail(failure(
                            site.line,
                            Some(site.id.clone()),
                            "conflict",
                            format!(
                                "domain {d} belongs to site {} (map: {o}); site {} cannot take it \
                                 while {} declares it: remove it from that site's record (or \
                                 unpublish it) first. Nothing of site {} was written",
                                owner_id(o),
                                site.id,
                                owner_id(o),
                                site.id
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        let index = self.accepted.len() as u32;
        self.accepted.push((site.id.as_str().into(), site.line));
        self.sites.entry(site_key).or_insert(index);
        for d in &site.domains {
            self.domains.insert(hash64(d), index);
        }
        Verdict::Go
    }
}

/// Looks up the current owner of every domain of `sites`, in one pipelined batch.
fn lookup_owners(
    map: &mut Option<MapWriter>,
    url: &str,
    sites: &[Site],
) -> Result<Vec<Vec<Option<String>>>, String> {
    let writer = connected(map, url)?;
    let hosts: Vec<&str> = sites
        .iter()
        .flat_map(|s| s.domains.iter().map(String::as_str))
        .collect();
    let flat = writer.owners(&hosts).map_err(|e| {
        *map = None;
        e.to_string()
    })?;
    let mut it = flat.into_iter();
    Ok(sites
        .iter()
        .map(|s| it.by_ref().take(s.domains.len()).collect())
        .collect())
}

/// The connection, reconnecting after an error dropped it.
fn connected<'a>(map: &'a mut Option<MapWriter>, url: &str) -> Result<&'a mut MapWriter, String> {
    if map.is_none() {
        *map = Some(MapWriter::connect(url, MAP_TIMEOUT).map_err(|e| e.to_string())?);
    }
    map.as_mut().ok_or_else(|| "no connection".to_owned())
}

/// The gate's state: this run's claims, its map connection, the records set aside.
struct Gate<'a> {
    claims: RunClaims,
    map: Option<MapWriter>,
    url: Option<&'a str>,
    deferred: Vec<Site>,
}

impl Gate<'_> {
    /// Judges a batch of in-order sites: failures are reported, the others handed to `go`
    /// or set aside for the end-of-run retry (never on the `final_try`).
    fn batch(
        &mut self,
        batch: Vec<Site>,
        report: &Report,
        final_try: bool,
        mut go: impl FnMut(Site),
    ) {
        let owners = match self.url {
            None => None,
            Some(url) => match lookup_owners(&mut self.map, url, &batch) {
                Ok(o) => Some(o),
                Err(e) => {
                    for site in batch {
                        report.fail(failure(
                            site.line,
                            Some(site.id),
                            "map",
                            format!(
                                "cannot check domain ownership in the map: {e}; nothing written"
                            ),
                        ));
                    }
                    return;
                }
            },
        };
        for (i, site) in batch.into_iter().enumerate() {
            let own = owners.as_ref().map(|o| o[i].as_slice());
            match self.claims.judge(&site, own, final_try) {
                Verdict::Go => go(site),
                Verdict::Defer if self.deferred.len() < MAX_DEFERRED => self.deferred.push(site),
                Verdict::Defer => {
                    let path = site_path(&site.id);
                    let (d, o) = own
                        .and_then(|o| {
                            site.domains.iter().zip(o).find_map(|(d, o)| {
                                o.as_ref()
                                    .filter(|o| **o != path)
                                    .map(|o| (d.clone(), o.clone()))
                            })
                        })
                        .unwrap_or_default();
                    report.fail(failure(
                        site.line,
                        Some(site.id),
                        "conflict",
                        format!(
                            "domain {d} belongs to site {} (map: {o}); over {MAX_DEFERRED} \
                             records of this input wait for a domain, so this one is not retried",
                            owner_id(&o)
                        ),
                    ));
                }
                Verdict::Fail(f) => report.fail(f),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Writers and mapper
// ---------------------------------------------------------------------------------------

/// The domains an old site XML declared (for the claim to release those no longer declared).
fn declared_domains(xml: &[u8]) -> Vec<String> {
    parse_document(xml, "previous site.xml")
        .map(|doc| Outline::of(&doc).domains)
        .unwrap_or_default()
}

fn write_one(site: Site, files: &SiteFiles, report: &Report) -> Option<Placed> {
    match files.publish(&site.id, &site.xml) {
        Ok(Published::Unchanged) => {
            report.unchanged.fetch_add(1, Ordering::Relaxed);
            Some(Placed {
                line: site.line,
                id: site.id,
                domains: site.domains,
                previous: Vec::new(),
            })
        }
        Ok(Published::Written { previous, restored }) => {
            report.written.fetch_add(1, Ordering::Relaxed);
            if restored.is_some() {
                report.restored.fetch_add(1, Ordering::Relaxed);
            }
            Some(Placed {
                line: site.line,
                id: site.id,
                domains: site.domains,
                previous: previous.map(|p| declared_domains(&p)).unwrap_or_default(),
            })
        }
        Err(e) => {
            report.fail(failure(site.line, Some(site.id), "file", e.to_string()));
            None
        }
    }
}

fn map_batch(batch: &[Placed], map: &mut Option<MapWriter>, url: &str, report: &Report) {
    let paths: Vec<String> = batch.iter().map(|p| site_path(&p.id)).collect();
    let claims: Vec<Claim<'_>> = batch
        .iter()
        .zip(&paths)
        .map(|(p, path)| Claim {
            path,
            site_id: &p.id,
            domains: &p.domains,
            previous: &p.previous,
        })
        .collect();
    let outcomes =
        connected(map, url).and_then(|w| w.claim_all(&claims).map_err(|e| e.to_string()));
    match outcomes {
        Ok(outcomes) => {
            for (placed, outcome) in batch.iter().zip(outcomes) {
                match outcome {
                    ClaimOutcome::Applied { added, removed } => {
                        report
                            .added
                            .fetch_add(added.len() as u64, Ordering::Relaxed);
                        report
                            .removed
                            .fetch_add(removed.len() as u64, Ordering::Relaxed);
                    }
                    ClaimOutcome::Conflict { domain, owner } => report.fail(failure(
                        placed.line,
                        Some(placed.id.clone()),
                        "conflict",
                        format!(
                            "domain {domain} was taken by site {} (map: {owner}) while this \
                             record was being written: its site.xml is updated but its domains \
                             were left as they were; resolve the conflict and export it again",
                            owner_id(&owner)
                        ),
                    )),
                }
            }
        }
        Err(e) => {
            *map = None;
            for placed in batch {
                report.fail(failure(
                    placed.line,
                    Some(placed.id.clone()),
                    "map",
                    format!(
                        "site.xml is in place but the domain map was not updated ({e}); export \
                         the record again once Redis answers"
                    ),
                ));
            }
        }
    }
}

/// Receives everything available now (at least one item, at most `max`), or `None` when the
/// channel is closed and empty.
fn recv_batch<T>(rx: &Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = rx.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

/// What to read.
pub struct Input {
    /// Name for messages (`FILE` or `stdin`).
    pub name: String,
    /// The bytes.
    pub reader: Box<dyn Read + Send>,
    /// Total size, when known (drives the progress bar).
    pub size: Option<u64>,
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    match size {
        Some(size) => ProgressBar::new(size).with_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {elapsed_precise} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} read {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}

/// A Redis URL fit for a report: a password (`redis://:secret@host`) becomes `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme + 3 => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Exports every record of `input`. Record-level problems are reported in the summary (and
/// on stderr when `opts.print_failures`); only problems that stop the whole run (unreadable
/// input, no stylesheets, unreachable map at start) are errors.
pub fn run(input: Input, opts: &Options) -> Result<Summary, ExportError> {
    let started = Instant::now();
    if !opts.sites.is_dir() {
        return Err(ExportError::Sites {
            dir: opts.sites.clone(),
        });
    }
    let rules =
        Rules::from_stylesheets(&opts.stylesheets).map_err(|cause| ExportError::Stylesheets {
            dir: opts.stylesheets.clone(),
            cause,
        })?;
    let schema_ok = Schema::site()
        .map(|_| ())
        .map_err(|e| ExportError::Schema(e.to_string()));
    schema_ok?;
    let url = opts.redis.as_deref();
    // Fail fast when the map is unreachable: two connections, one for the gate, one for
    // the mapper, so ownership checks and claims pipeline independently.
    let (mut gate_map, mut mapper_map) = match url {
        Some(url) => (
            Some(MapWriter::connect(url, MAP_TIMEOUT)?),
            Some(MapWriter::connect(url, MAP_TIMEOUT)?),
        ),
        None => (None, None),
    };
    let files = SiteFiles::new(&opts.sites, opts.archive.as_deref());
    let only: HashSet<String> = opts.only.iter().cloned().collect();
    let progress = opts.progress.then(|| progress_bar(input.size));
    let report = Report {
        records: AtomicU64::new(0),
        written: AtomicU64::new(0),
        unchanged: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        added: AtomicU64::new(0),
        removed: AtomicU64::new(0),
        restored: AtomicU64::new(0),
        failures: Mutex::new(Vec::new()),
        progress: progress.clone(),
        print: opts.print_failures,
    };
    let builders = opts.build_threads.max(1);
    let writers = opts.write_threads.max(1);
    let name = input.name.clone();
    let mut found: HashSet<String> = HashSet::new();

    let (read_result, mut gate) = std::thread::scope(|s| {
        let (line_tx, line_rx) = bounded::<Line>(builders * 4);
        let (built_tx, built_rx) = bounded::<(u64, Built)>(builders * 4);
        let (write_tx, write_rx) = bounded::<Site>(writers * 2);
        let (map_tx, map_rx) = bounded::<Placed>(MAP_BATCH * 2);

        let reader = {
            let report = &report;
            let progress = progress.clone();
            s.spawn(move || -> std::io::Result<()> {
                let mut reader = BufReader::with_capacity(256 * 1024, input.reader);
                let mut buf = Vec::new();
                let (mut seq, mut line, mut bytes_read) = (0u64, 0u64, 0u64);
                while let Some(read) = read_line(&mut reader, &mut buf, MAX_LINE_BYTES)? {
                    line += 1;
                    bytes_read += buf.len() as u64 + 1;
                    if let Some(pb) = &progress {
                        pb.set_position(bytes_read);
                    }
                    let bytes = match read {
                        Ok(()) if buf.trim_ascii().is_empty() => continue,
                        Ok(()) => Ok(std::mem::take(&mut buf)),
                        Err(len) => Err(len),
                    };
                    report.records.fetch_add(1, Ordering::Relaxed);
                    if line_tx.send(Line { seq, line, bytes }).is_err() {
                        break;
                    }
                    seq += 1;
                }
                Ok(())
            })
        };

        for _ in 0..builders {
            let (line_rx, built_tx) = (line_rx.clone(), built_tx.clone());
            let (rules, only) = (&rules, &only);
            s.spawn(move || {
                for line in line_rx {
                    let seq = line.seq;
                    if built_tx.send((seq, build(line, rules, only))).is_err() {
                        break;
                    }
                }
            });
        }
        drop((line_rx, built_tx));

        for _ in 0..writers {
            let (write_rx, map_tx) = (write_rx.clone(), map_tx.clone());
            let (files, report) = (&files, &report);
            let mapped = url.is_some();
            s.spawn(move || {
                for site in write_rx {
                    if let Some(placed) = write_one(site, files, report) {
                        if mapped && map_tx.send(placed).is_err() {
                            break;
                        }
                    }
                    report.tick();
                }
            });
        }
        drop((write_rx, map_tx));

        if let Some(url) = url {
            let report = &report;
            let mut map = mapper_map.take();
            s.spawn(move || {
                while let Some(batch) = recv_batch(&map_rx, MAP_BATCH) {
                    map_batch(&batch, &mut map, url, report);
                }
            });
        } else {
            drop(map_rx);
        }

        // The gate runs here, on the calling thread.
        let mut gate = Gate {
            claims: RunClaims::default(),
            map: gate_map.take(),
            url,
            deferred: Vec::new(),
        };
        let mut pending: BTreeMap<u64, Built> = BTreeMap::new();
        let mut next = 0u64;
        let mut flush = |pending: &mut BTreeMap<u64, Built>, next: &mut u64, all: bool| {
            let mut ready = Vec::new();
            while let Some(entry) = pending.first_entry() {
                if *entry.key() != *next && !all {
                    break;
                }
                *next = *entry.key() + 1;
                match entry.remove() {
                    Built::Site(site) => ready.push(site),
                    Built::Skipped => {
                        report.skipped.fetch_add(1, Ordering::Relaxed);
                    }
                    Built::Failed(f) => {
                        if let Some(id) = f.id.as_ref().filter(|_| !only.is_empty()) {
                            found.insert(id.clone());
                        }
                        report.fail(f);
                    }
                }
            }
            if !only.is_empty() {
                for site in &ready {
                    found.insert(site.id.clone());
                }
            }
            if !ready.is_empty() {
                gate.batch(ready, &report, false, |site| {
                    let _ = write_tx.send(site);
                });
            }
        };
        while let Some(batch) = recv_batch(&built_rx, MAP_BATCH) {
            for (seq, built) in batch {
                pending.insert(seq, built);
            }
            flush(&mut pending, &mut next, false);
        }
        // A builder that died leaves a gap; everything left goes through in order anyway.
        flush(&mut pending, &mut next, true);
        drop(write_tx);
        let read_result = reader
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the reader thread panicked")));
        (read_result, gate)
    });
    read_result.map_err(|cause| ExportError::Input {
        name: name.clone(),
        cause,
    })?;

    // Retry the records that wanted a domain another site held, now that every other record
    // of the run has been applied.
    let deferred = std::mem::take(&mut gate.deferred);
    if !deferred.is_empty() {
        let mut mapper_map = None;
        for site in deferred {
            let mut go = Vec::new();
            gate.batch(vec![site], &report, true, |s| go.push(s));
            for site in go {
                if let (Some(placed), Some(url)) = (write_one(site, &files, &report), url) {
                    map_batch(&[placed], &mut mapper_map, url, &report);
                }
            }
        }
    }
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }

    let mut not_found: Vec<String> = only.difference(&found).cloned().collect();
    not_found.sort();
    let mut failures = report
        .failures
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    failures.sort_by_key(|f| f.line);
    let failed = report.failed.load(Ordering::Relaxed);
    Ok(Summary {
        input: name,
        records: report.records.load(Ordering::Relaxed),
        written: report.written.load(Ordering::Relaxed),
        unchanged: report.unchanged.load(Ordering::Relaxed),
        skipped: report.skipped.load(Ordering::Relaxed),
        failed,
        media_restored: report.restored.load(Ordering::Relaxed),
        domains_added: report.added.load(Ordering::Relaxed),
        domains_removed: report.removed.load(Ordering::Relaxed),
        map: opts.redis.as_deref().map(redact_url),
        elapsed_ms: started.elapsed().as_millis() as u64,
        failures_omitted: failed.saturating_sub(failures.len() as u64),
        failures,
        not_found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_reports() {
        assert_eq!(
            redact_url("redis://:s3cret@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(redact_url("redis://127.0.0.1/"), "redis://127.0.0.1/");
    }

    #[test]
    fn lines_are_capped_and_counted() {
        let data = b"short\r\n\nxxxxxxxxxxxx\nlast";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(res) = read_line(&mut r, &mut buf, 8).unwrap() {
            out.push(res.map(|()| String::from_utf8(buf.clone()).unwrap()));
        }
        assert_eq!(
            out,
            [
                Ok("short".to_owned()),
                Ok(String::new()),
                Err(12),
                Ok("last".to_owned())
            ]
        );
    }
}
