//! `vitrine certs`: what the shared certificate store holds and what it waits for, and the
//! operator's two levers, `renew` and `revoke`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::cli::{CertsAction, CertsArgs};
use crate::map::redis::RedisMap;
use crate::map::{DomainMap, MapOptions};
use crate::site::Host;
use crate::tls::acme::{Acme, AcmeOptions};
use crate::tls::entry::{now_secs, CertEntry};
use crate::tls::Sealer;

fn date(secs: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

fn date_ms(ms: u64) -> String {
    date((ms / 1000) as i64)
}

/// Runs `vitrine certs ...`.
pub async fn run(args: CertsArgs) -> anyhow::Result<ExitCode> {
    let store = RedisMap::connect(&args.redis, Duration::from_secs(5))
        .await
        .with_context(|| format!("cannot reach the store at {}: is redis-server running? (--redis URL or VITRINE_REDIS)", args.redis))?;
    match &args.action {
        CertsAction::List => {
            let certs = store.cert_hosts().await?;
            let now = now_secs();
            for (host, renew_ms) in &certs {
                match store.cert_get(host).await? {
                    Some(raw) => match CertEntry::parse(host, &raw) {
                        Ok(e) => {
                            let state = if e.not_after < now {
                                "EXPIRED"
                            } else {
                                "valid"
                            };
                            crate::outln!(
                                "{host}\t{state} until {}\trenewal due {}",
                                date(e.not_after),
                                date_ms(*renew_ms)
                            )?;
                        }
                        Err(e) => crate::outln!("{host}\tUNUSABLE: {e}")?,
                    },
                    None => crate::outln!(
                        "{host}\tmissing entry (renewal scheduled {})",
                        date_ms(*renew_ms)
                    )?,
                }
            }
            let queue = store.queue_all().await?;
            for (host, due) in &queue {
                let status = store.status_get(host).await?;
                let error = status
                    .last_error
                    .map(|e| format!("\tlast error ({} attempts): {e}", status.attempts))
                    .unwrap_or_default();
                crate::outln!("{host}\tqueued, next attempt {}{error}", date_ms(*due))?;
            }
            crate::errln!("{} certificates, {} hosts queued", certs.len(), queue.len());
        }
        CertsAction::Status { host } => {
            let host = normalise(host)?;
            let host = host.as_str();
            match store.cert_get(host).await? {
                Some(raw) => match CertEntry::parse(host, &raw) {
                    Ok(e) => crate::outln!(
                        "certificate: valid from {} until {}{}",
                        date(e.not_before),
                        date(e.not_after),
                        if e.not_after < now_secs() {
                            " (EXPIRED)"
                        } else {
                            ""
                        }
                    )?,
                    Err(e) => crate::outln!("certificate: unusable: {e}")?,
                },
                None => crate::outln!("certificate: none")?,
            }
            if let Some(renew) = store.renewal_of(host).await? {
                crate::outln!("renewal due: {}", date_ms(renew))?;
                match store.renewal_info_of(host).await? {
                    Some(ask) => crate::outln!(
                        "renewal information: in the window the CA suggests, asked again {}",
                        date_ms(ask)
                    )?,
                    None => crate::outln!(
                        "renewal information: not offered by the CA (renewal two thirds into \
                         the validity)"
                    )?,
                }
            }
            match store
                .queue_all()
                .await?
                .into_iter()
                .find(|(h, _)| h == host)
            {
                Some((_, due)) => crate::outln!("queued: next attempt {}", date_ms(due))?,
                None => crate::outln!("queued: no")?,
            }
            let status = store.status_get(host).await?;
            crate::outln!("failed attempts in a row: {}", status.attempts)?;
            if let Some(e) = status.last_error {
                crate::outln!("last error: {e}")?;
            }
        }
        CertsAction::Renew { host } => {
            let host = normalise(host)?;
            let now_ms = (now_secs() as u64) * 1000;
            store.queue_add(host.as_str(), now_ms, true).await?;
            crate::outln!(
                "{host} queued for an order now: a publisher started with --acme-directory takes \
                 it within seconds (see `vitrine certs status {host}`)"
            )?;
        }
        CertsAction::Import { host, chain, key } => {
            let host = normalise(host)?;
            let Some(key_file) = &args.cert_key_file else {
                bail!("import seals the private key: give --cert-key-file FILE (the publishers' sealing key)");
            };
            let sealer = Sealer::from_file(key_file)?;
            let read = |p: &std::path::Path| {
                std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let entry = CertEntry::new(host.as_str(), &read(chain)?, &read(key)?, &sealer)?;
            // The same checks as a handshake: names the host, key opens and matches.
            entry.certified_key(host.as_str(), &sealer)?;
            let renew_ms = (entry.renew_at(None).max(0) as u64) * 1000;
            store
                .cert_put(host.as_str(), &entry.to_json(), renew_ms)
                .await?;
            crate::outln!(
                "{host}: certificate stored, valid until {}; every publisher serves it from its next handshake",
                date(entry.not_after)
            )?;
        }
        CertsAction::Revoke { host } => {
            let host = normalise(host)?;
            let (Some(directory), Some(key_file)) = (&args.acme_directory, &args.cert_key_file)
            else {
                bail!("revoke tells the CA: give --acme-directory URL and --cert-key-file FILE (the publishers' sealing key, which opens the ACME account)");
            };
            let sealer = Arc::new(Sealer::from_file(key_file)?);
            let (map, _) = DomainMap::open(
                Some(&args.redis),
                std::path::Path::new("."),
                MapOptions::once(Duration::from_secs(5)),
            )
            .await?;
            let acme = Acme::new(
                AcmeOptions {
                    directory: directory.clone(),
                    directory_ca: args.acme_directory_ca.clone(),
                    email: None,
                    renew_before: None,
                    orders_per_hour: 0,
                },
                store.clone(),
                Arc::new(map),
                sealer,
            );
            acme.revoke(host.as_str()).await?;
            crate::outln!("{host}: certificate revoked at the CA and removed from the store")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn normalise(host: &str) -> anyhow::Result<Host> {
    Host::parse(host.as_bytes()).with_context(|| format!("{host:?} is not a valid host name"))
}
