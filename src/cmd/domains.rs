//! `vitrine domains`: read and repair the Redis domain map by hand, with the same host
//! normalisation and path checks as the publisher.

use std::io::BufRead;
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
        DomainsAction::Import { file } => {
            let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&file)
                        .with_context(|| format!("cannot open {}", file.display()))?,
                ))
            };
            let mut entries = Vec::new();
            let mut errors = 0usize;
            for (i, line) in reader.lines().enumerate() {
                let line = line.with_context(|| format!("{}: line {}", file.display(), i + 1))?;
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let (Some(h), Some(p), None) = (parts.next(), parts.next(), parts.next()) else {
                    crate::errln!(
                        "{}:{}: expected `HOST PATH`, got {line:?}",
                        file.display(),
                        i + 1
                    );
                    errors += 1;
                    continue;
                };
                match (normalise(h), check_path(p)) {
                    (Ok(h), Ok(p)) => entries.push((h.to_string(), p.to_string())),
                    (Err(e), _) | (_, Err(e)) => {
                        crate::errln!("{}:{}: {e:#}", file.display(), i + 1);
                        errors += 1;
                    }
                }
            }
            map.set_many(&entries).await?;
            crate::outln!("{} domains imported, {errors} lines refused", entries.len())?;
            if errors > 0 {
                bail!(
                    "{errors} lines of {} were refused (see above)",
                    file.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
