//! `vitrine domains`: read and repair the Redis domain map by hand, with the same host
//! normalisation and path checks as the publisher.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cli::{DomainsAction, DomainsArgs};
use crate::fsx::RelPath;
use crate::map::redis::RedisMap;
use crate::site::Host;

fn normalise(host: &str) -> anyhow::Result<Host> {
    Host::parse(host.as_bytes()).with_context(|| format!("{host:?} is not a valid host name"))
}

fn check_path(path: &str) -> anyhow::Result<RelPath> {
    RelPath::parse(path).with_context(|| {
        format!("{path:?} is not a path inside the sites folder (expected SHARD/ID/site.xml)")
    })
}

/// Runs `vitrine domains ...`.
pub async fn run(args: DomainsArgs) -> anyhow::Result<ExitCode> {
    let map = RedisMap::connect(&args.redis, Duration::from_secs(5))
        .await
        .with_context(|| format!("cannot reach the domain map at {}: is redis-server running? (--redis URL or VITRINE_REDIS)", args.redis))?;
    let exists = |rel: &RelPath| args.sites.join(rel.as_str()).is_file();
    match args.action {
        DomainsAction::Get { host } => {
            let host = normalise(&host)?;
            match map.get(host.as_str()).await? {
                Some(path) => {
                    crate::outln!("{path}")?;
                    match RelPath::parse(&path) {
                        Ok(rel) if exists(&rel) => {}
                        Ok(_) => crate::errln!(
                            "warning: {path} does not exist under {}: re-export the site or fix the entry",
                            args.sites.display()
                        ),
                        Err(_) => crate::errln!("warning: {path:?} is not a valid relative path; fix it with `vitrine domains set {host} SHARD/ID/site.xml`"),
                    }
                }
                None => {
                    crate::errln!("{host} is not in the map");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        DomainsAction::Set { host, path } => {
            let host = normalise(&host)?;
            let rel = check_path(&path)?;
            if !exists(&rel) {
                crate::errln!(
                    "warning: {} does not exist under {} (yet); visitors get 503 until it does",
                    rel,
                    args.sites.display()
                );
            }
            map.set(host.as_str(), rel.as_str()).await?;
            crate::outln!("{host} -> {rel}")?;
        }
        DomainsAction::Rm { host } => {
            let host = normalise(&host)?;
            if map.remove(host.as_str()).await? {
                crate::outln!("{host} removed")?;
            } else {
                crate::errln!("{host} was not in the map");
                return Ok(ExitCode::from(1));
            }
        }
        DomainsAction::List => {
            for (host, path) in map.list().await? {
                crate::outln!("{host} {path}")?;
            }
        }
        DomainsAction::Import { file, partial } => {
            return import(&map, &file, partial, &args.sites).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Warnings about lines whose site file is missing, at most this many (an import made before
/// the first export would otherwise print one per line).
const MISSING_SHOWN: usize = 20;

/// `vitrine domains import`: the whole file is read and checked before anything is written,
/// so that a file with a bad line changes nothing (unless `--partial`); every bad line is
/// listed, with every fault it has.
async fn import(
    map: &RedisMap,
    file: &Path,
    partial: bool,
    sites: &Path,
) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
        ))
    };
    let shown = file.display();
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    let mut missing = 0usize;
    let mut refused = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("cannot read {shown} at line {n}"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(h), Some(p), None) = (parts.next(), parts.next(), parts.next()) else {
            crate::errln!("{shown}:{n}: expected `HOST PATH`, got {line:?}");
            refused += 1;
            continue;
        };
        let (host, rel) = (normalise(h), check_path(p));
        let mut faults: Vec<String> = [host.as_ref().err(), rel.as_ref().err()]
            .into_iter()
            .flatten()
            .map(|e| format!("{e:#}"))
            .collect();
        if let Ok(host) = &host {
            if let Some(earlier) = first_line.get(host.as_str()) {
                faults.push(format!(
                    "{host} is already on line {earlier}; keep one line per host"
                ));
            }
        }
        let (Ok(host), Ok(rel), true) = (host, rel, faults.is_empty()) else {
            crate::errln!("{shown}:{n}: {}", faults.join("; "));
            refused += 1;
            continue;
        };
        if !sites.join(rel.as_str()).is_file() {
            missing += 1;
            if missing <= MISSING_SHOWN {
                crate::errln!(
                    "{shown}:{n}: warning: {rel} does not exist under {} (yet); visitors to {host} get 503 until it does",
                    sites.display()
                );
            }
        }
        first_line.insert(host.to_string(), n);
        entries.push((host.to_string(), rel.to_string()));
    }
    if missing > MISSING_SHOWN {
        crate::errln!(
            "warning: {} more lines name a site file that does not exist under {}",
            missing - MISSING_SHOWN,
            sites.display()
        );
    }
    if refused > 0 && !partial {
        bail!(
            "{refused} lines of {shown} refused (listed above): nothing was imported; fix them \
             and import again, or pass --partial to import the {} good lines",
            entries.len()
        );
    }
    // In chunks, not one transaction (one MSET of a large file would stall every publisher's
    // lookups meanwhile); an import cut short by Redis is completed by running it again.
    map.set_many(&entries).await.with_context(|| {
        format!("the import of {shown} stopped part-way: run it again to complete it")
    })?;
    crate::outln!(
        "{} domains imported, {refused} lines refused",
        entries.len()
    )?;
    if refused > 0 {
        bail!(
            "{refused} lines of {shown} refused (listed above); the {} others were imported",
            entries.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
