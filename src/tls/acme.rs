//! Obtaining and renewing certificates with ACME (RFC 8555, `instant-acme`), shared by every
//! publisher through the store.
//!
//! One worker runs in each `vitrine serve` started with `--acme-directory`. It takes due
//! hosts from the shared queue (`vitrine:acme:queue`: filled by the exporter when a domain is
//! added, by a first handshake for a mapped host without a certificate, and by the renewal
//! scan), and orders each under a per-host lock, so one publisher orders a name at a time:
//!
//! 1. the host must still be in the domain map (an unmapped name is dropped, never ordered);
//! 2. the global order budget of the hour (all publishers, `--acme-orders-per-hour`) must not
//!    be spent, else the host waits for the next hour;
//! 3. HTTP-01: the key authorisation goes to the store, where any publisher's plain listener
//!    answers the CA's request for it; the challenge is set ready and the order polled;
//! 4. finalize with a new key pair, fetch the chain, store it with the key sealed, and
//!    schedule its renewal: at a random point of the window the CA suggests when it offers
//!    renewal information (ARI, RFC 9773), asked again when the CA says to (so a CA that
//!    revokes early moves every renewal forward), else two thirds into its validity;
//!    `--acme-renew-before` before its end caps either.
//!
//! A failure is recorded (attempts, last error) and the host re-queued after an exponential
//! back-off (1 min, doubling, at most a day), so a restart or a CA outage never becomes a
//! retry storm: the queue, not the process, remembers when the next attempt is due.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::sync::{Notify, OnceCell};

use super::entry::{now_secs, CertEntry};
use super::seal::Sealer;
use super::TlsError;
use crate::map::redis::certs::ACCOUNT_KEY;
use crate::map::redis::RedisMap;
use crate::map::DomainMap;
use crate::site::Host;

/// How a publisher orders certificates.
#[derive(Debug, Clone)]
pub struct AcmeOptions {
    /// The ACME directory URL.
    pub directory: String,
    /// Extra CA certificate (PEM) for the ACME server's own HTTPS.
    pub directory_ca: Option<std::path::PathBuf>,
    /// Contact address given to the CA.
    pub email: Option<String>,
    /// Renew at the latest this long before expiry.
    pub renew_before: Option<Duration>,
    /// Most orders started per hour, all publishers together.
    pub orders_per_hour: u64,
}

/// First back-off after a failed order; it doubles at each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
/// Longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// How long one order may hold its lock.
const ORDER_LOCK: Duration = Duration::from_secs(120);
/// How often the worker looks at the queue and the renewals without being woken.
const SCAN_EVERY: Duration = Duration::from_secs(5);
/// Bounds of the CA's `Retry-After` for renewal information: not more often than every
/// minute (a CA's mistake must not become a flood), at least once a day.
const ARI_RECHECK: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(24 * 3600));

/// The ACME side of one publisher.
pub struct Acme {
    options: AcmeOptions,
    store: RedisMap,
    map: Arc<DomainMap>,
    sealer: Arc<Sealer>,
    account: OnceCell<Account>,
    /// This publisher's name in locks.
    owner: String,
}

fn now_ms() -> u64 {
    (now_secs() as u64) * 1000
}

impl Acme {
    /// The ACME side for `options`, storing through `store`.
    pub fn new(
        options: AcmeOptions,
        store: RedisMap,
        map: Arc<DomainMap>,
        sealer: Arc<Sealer>,
    ) -> Acme {
        let owner = format!("{}-{}", std::process::id(), now_ms());
        Acme {
            options,
            store,
            map,
            sealer,
            account: OnceCell::new(),
            owner,
        }
    }

    fn acme_err(what: &str, e: impl std::fmt::Display) -> TlsError {
        TlsError::Acme(format!("{what}: {e}"))
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, TlsError> {
        match &self.options.directory_ca {
            Some(ca) => Account::builder_with_root(ca)
                .map_err(|e| Self::acme_err(&format!("the CA file {}", ca.display()), e)),
            None => Account::builder().map_err(|e| Self::acme_err("the HTTPS client", e)),
        }
    }

    /// The account shared by every publisher: restored from the store, or created once
    /// (under a lock) and stored sealed.
    async fn account(&self) -> Result<&Account, TlsError> {
        self.account
            .get_or_try_init(|| async {
                for _ in 0..50 {
                    if let Some(sealed) = self.store.account_get().await.map_err(store_err)? {
                        let json = self.sealer.open(ACCOUNT_KEY, &sealed)?;
                        let credentials: AccountCredentials = serde_json::from_slice(&json)
                            .map_err(|e| Self::acme_err("the stored account", e))?;
                        return self
                            .builder()?
                            .from_credentials(credentials)
                            .await
                            .map_err(|e| Self::acme_err("restoring the account", e));
                    }
                    if self
                        .store
                        .lock("account", &self.owner, ORDER_LOCK)
                        .await
                        .map_err(store_err)?
                    {
                        let contact = self.options.email.as_ref().map(|e| format!("mailto:{e}"));
                        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                        let created = self
                            .builder()?
                            .create(
                                &NewAccount {
                                    contact: &contacts,
                                    terms_of_service_agreed: true,
                                    only_return_existing: false,
                                },
                                self.options.directory.clone(),
                                None,
                            )
                            .await;
                        let _ = self.store.unlock("account", &self.owner).await;
                        let (account, credentials) =
                            created.map_err(|e| Self::acme_err("creating the account", e))?;
                        let json = serde_json::to_vec(&credentials)
                            .map_err(|e| Self::acme_err("the account", e))?;
                        let sealed = self.sealer.seal(ACCOUNT_KEY, &json);
                        self.store.account_put(&sealed).await.map_err(store_err)?;
                        return Ok(account);
                    }
                    // Another publisher is creating it.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(TlsError::Acme(
                    "no ACME account after 10 s: check the other publishers' logs".into(),
                ))
            })
            .await
    }

    /// Orders `host`'s certificate now, under its lock. `Ok(false)` if another publisher
    /// holds the lock.
    pub async fn order(&self, host: &str) -> Result<bool, TlsError> {
        if !self
            .store
            .lock(host, &self.owner, ORDER_LOCK)
            .await
            .map_err(store_err)?
        {
            return Ok(false);
        }
        let result = self.order_locked(host).await;
        let _ = self.store.unlock(host, &self.owner).await;
        result.map(|()| true)
    }

    async fn order_locked(&self, host: &str) -> Result<(), TlsError> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(host.to_owned())];
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| Self::acme_err("new order", e))?;
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| Self::acme_err("authorization", e))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(TlsError::Acme(format!("authorization is {other:?}"))),
            }
            let mut challenge = authz
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| TlsError::Acme("the CA offers no HTTP-01 challenge".into()))?;
            let key_auth = challenge.key_authorization();
            self.store
                .token_put(&challenge.token, key_auth.as_str())
                .await
                .map_err(store_err)?;
            challenge
                .set_ready()
                .await
                .map_err(|e| Self::acme_err("challenge", e))?;
        }
        let retries = RetryPolicy::default().timeout(Duration::from_secs(60));
        let status = order
            .poll_ready(&retries)
            .await
            .map_err(|e| Self::acme_err("waiting for the order", e))?;
        if status != OrderStatus::Ready {
            return Err(TlsError::Acme(format!(
                "the order is {status:?}: the CA could not fetch http://{host}/.well-known/acme-challenge/ from a publisher"
            )));
        }
        let key_pem = order
            .finalize()
            .await
            .map_err(|e| Self::acme_err("finalize", e))?;
        let chain = order
            .poll_certificate(&retries)
            .await
            .map_err(|e| Self::acme_err("certificate", e))?;
        let entry = CertEntry::new(host, &chain, &key_pem, &self.sealer)?;
        let (renew_ms, ask_ms) = self.renewal(host, &entry, None).await;
        self.store
            .cert_put(host, &entry.to_json(), renew_ms)
            .await
            .map_err(store_err)?;
        self.store
            .renewal_set(host, renew_ms, ask_ms)
            .await
            .map_err(store_err)?;
        self.store.queue_remove(host).await.map_err(store_err)?;
        tracing::info!(
            "certificate for {host} obtained, valid until {} (renewal due at {})",
            httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + Duration::from_secs(entry.not_after as u64)
            ),
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(renew_ms))
        );
        Ok(())
    }

    /// When to renew `entry` (ms since the epoch), and when to ask the CA's renewal
    /// information again (`None` when the CA offers none). `current` is the renewal
    /// scheduled so far: kept while it lies in the CA's window, so asking again does not
    /// move it about.
    async fn renewal(
        &self,
        host: &str,
        entry: &CertEntry,
        current: Option<u64>,
    ) -> (u64, Option<u64>) {
        let fallback = entry.renew_at(self.options.renew_before).max(0) as u64 * 1000;
        let cap = |ms: u64| match self.options.renew_before {
            Some(t) => ms.min((entry.not_after - t.as_secs() as i64).max(0) as u64 * 1000),
            None => ms,
        };
        match self.renewal_info(entry).await {
            Ok(Some((start, end, retry))) => {
                // A uniformly random point of the window (RFC 9773 §4.2), so that a CA's
                // many certificates of one day are not all renewed in the same second.
                let span = end.saturating_sub(start);
                let mut r = [0u8; 8];
                let offset = match ring::rand::SecureRandom::fill(
                    &ring::rand::SystemRandom::new(),
                    &mut r,
                ) {
                    Ok(()) if span > 0 => u64::from_le_bytes(r) % span,
                    _ => span / 2,
                };
                let at = match current {
                    Some(ms) if (start..=end).contains(&ms) => ms,
                    _ => start + offset,
                };
                let retry = retry.clamp(ARI_RECHECK.0, ARI_RECHECK.1);
                tracing::debug!(
                    "{host}: the CA suggests renewing between {} and {}",
                    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(start)),
                    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_millis(end))
                );
                (cap(at), Some(now_ms() + retry.as_millis() as u64))
            }
            Ok(None) => (fallback, None),
            Err(e) => {
                // The CA offers it but did not answer: keep asking, renew on time meanwhile.
                tracing::warn!(
                    "{host}: renewal information unavailable ({e}); the renewal stays as \
                     scheduled, asked again in a day"
                );
                (
                    current.unwrap_or(fallback),
                    Some(now_ms() + ARI_RECHECK.1.as_millis() as u64),
                )
            }
        }
    }

    /// The CA's suggested renewal window for `entry` (start and end in ms since the epoch)
    /// and when to ask again; `Ok(None)` if the CA offers no renewal information.
    async fn renewal_info(
        &self,
        entry: &CertEntry,
    ) -> Result<Option<(u64, u64, Duration)>, TlsError> {
        let leaf = CertificateDer::pem_slice_iter(entry.chain_pem.as_bytes())
            .next()
            .ok_or_else(|| TlsError::Acme("the stored chain is empty".into()))?
            .map_err(|e| Self::acme_err("the stored chain", e))?;
        let id = CertificateIdentifier::try_from(&leaf)
            .map_err(|e| Self::acme_err("the certificate's identifier", e))?;
        match self.account().await?.renewal_info(&id).await {
            Ok((info, retry)) => {
                let w = info.suggested_window;
                let start = w.start.unix_timestamp().max(0) as u64 * 1000;
                let end = w.end.unix_timestamp().max(0) as u64 * 1000;
                Ok(Some((start, end.max(start), retry)))
            }
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(e) => Err(Self::acme_err("renewal information", e)),
        }
    }

    /// Revokes `host`'s certificate at the CA and removes it from the store (every
    /// publisher stops serving it at its next handshake).
    pub async fn revoke(&self, host: &str) -> Result<(), TlsError> {
        let raw = self
            .store
            .cert_get(host)
            .await
            .map_err(store_err)?
            .ok_or_else(|| TlsError::NoCertificate(host.to_owned()))?;
        let entry = CertEntry::parse(host, &raw)?;
        let leaf = CertificateDer::pem_slice_iter(entry.chain_pem.as_bytes())
            .next()
            .ok_or_else(|| TlsError::Acme("the stored chain is empty".into()))?
            .map_err(|e| Self::acme_err("the stored chain", e))?;
        self.account()
            .await?
            .revoke(&instant_acme::RevocationRequest {
                certificate: &leaf,
                reason: None,
            })
            .await
            .map_err(|e| Self::acme_err("revocation", e))?;
        self.store.cert_remove(host).await.map_err(store_err)?;
        Ok(())
    }

    /// Handles one due host: dropped if unmapped, ordered if the hour's budget allows, else
    /// moved to the next hour; failures back off.
    async fn handle(&self, host: &str) -> Result<(), TlsError> {
        let mapped = match Host::parse(host.as_bytes()) {
            Ok(h) => self
                .map
                .resolve(&h)
                .await
                .map_err(|e| TlsError::Map(e.to_string()))?
                .is_some(),
            Err(_) => false,
        };
        if !mapped {
            tracing::info!(
                "{host} is no longer in the domain map: its certificate order is dropped"
            );
            self.store.queue_remove(host).await.map_err(store_err)?;
            return Ok(());
        }
        if let Some(raw) = self.store.cert_get(host).await.map_err(store_err)? {
            // Due as scheduled (the CA's window or two thirds in), not as recomputed here:
            // the CA may have moved the renewal forward.
            let due = match self.store.renewal_of(host).await.map_err(store_err)? {
                Some(ms) => ms,
                None => CertEntry::parse(host, &raw).map_or(0, |e| {
                    e.renew_at(self.options.renew_before).max(0) as u64 * 1000
                }),
            };
            if CertEntry::parse(host, &raw).is_ok() && due > now_ms() {
                self.store.queue_remove(host).await.map_err(store_err)?;
                return Ok(());
            }
        }
        let hour = now_ms() / 3_600_000;
        if self.store.orders_this_hour(hour).await.map_err(store_err)?
            > self.options.orders_per_hour
        {
            let next_hour = (hour + 1) * 3_600_000;
            self.store
                .queue_add(host, next_hour, true)
                .await
                .map_err(store_err)?;
            tracing::warn!(
                "the budget of {} certificate orders this hour is spent: {host} waits for the next hour (--acme-orders-per-hour)",
                self.options.orders_per_hour
            );
            return Ok(());
        }
        match self.order(host).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = self.store.status_get(host).await.map_err(store_err)?;
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1 << status.attempts.min(20))
                    .min(MAX_BACKOFF);
                let next = now_ms() + backoff.as_millis() as u64;
                let message = e.to_string();
                self.store
                    .status_failed(host, &message, next)
                    .await
                    .map_err(store_err)?;
                self.store
                    .queue_add(host, next, true)
                    .await
                    .map_err(store_err)?;
                tracing::warn!(
                    "certificate order for {host} failed: {message}; next attempt in {backoff:?}"
                );
                Ok(())
            }
        }
    }

    /// The worker loop: due renewals go to the queue, due hosts are ordered one at a time;
    /// runs until the runtime ends.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>) {
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!("certificate worker: {e}");
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(SCAN_EVERY) => {}
            }
        }
    }

    async fn pass(&self) -> Result<(), TlsError> {
        let now = now_ms();
        for host in self.store.renewals_due(now, 100).await.map_err(store_err)? {
            self.store
                .queue_add(&host, now, false)
                .await
                .map_err(store_err)?;
        }
        for host in self.store.queue_due(now, 20).await.map_err(store_err)? {
            self.handle(&host).await?;
        }
        for host in self
            .store
            .renewal_info_due(now, 20)
            .await
            .map_err(store_err)?
        {
            let Some(raw) = self.store.cert_get(&host).await.map_err(store_err)? else {
                self.store
                    .renewal_info_drop(&host)
                    .await
                    .map_err(store_err)?;
                continue;
            };
            let entry = match CertEntry::parse(&host, &raw) {
                Ok(entry) => entry,
                Err(e) => {
                    // `certs status` and the handshake report a bad entry; here it only
                    // must not stop the other hosts' questions.
                    tracing::warn!("{host}: {e}; its renewal information is not asked");
                    self.store
                        .renewal_info_drop(&host)
                        .await
                        .map_err(store_err)?;
                    continue;
                }
            };
            let current = self.store.renewal_of(&host).await.map_err(store_err)?;
            let (renew_ms, ask_ms) = self.renewal(&host, &entry, current).await;
            self.store
                .renewal_set(&host, renew_ms, ask_ms)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }
}

fn store_err(e: crate::map::MapError) -> TlsError {
    TlsError::Map(e.to_string())
}
