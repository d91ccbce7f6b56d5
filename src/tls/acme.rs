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
//!    schedule its renewal (two thirds into its validity, or `--acme-renew-before` before
//!    its end, whichever comes first).
//!
//! A failure is recorded (attempts, last error) and the host re-queued after an exponential
//! back-off (1 min, doubling, at most a day), so a restart or a CA outage never becomes a
//! retry storm: the queue, not the process, remembers when the next attempt is due.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
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
        let renew_ms = (entry.renew_at(self.options.renew_before).max(0) as u64) * 1000;
        self.store
            .cert_put(host, &entry.to_json(), renew_ms)
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

    /// Revokes `host`'s certificate at the CA and removes it from the store (every
    /// publisher stops serving it at its next handshake).
    pub async fn revoke(&self, host: &str) -> Result<(), TlsError> {
        use rustls::pki_types::pem::PemObject;
        let raw = self
            .store
            .cert_get(host)
            .await
            .map_err(store_err)?
            .ok_or_else(|| TlsError::NoCertificate(host.to_owned()))?;
        let entry = CertEntry::parse(host, &raw)?;
        let leaf = rustls::pki_types::CertificateDer::pem_slice_iter(entry.chain_pem.as_bytes())
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
            let current = CertEntry::parse(host, &raw)
                .is_ok_and(|e| e.renew_at(self.options.renew_before) > now_secs());
            if current {
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
        Ok(())
    }
}

fn store_err(e: crate::map::MapError) -> TlsError {
    TlsError::Map(e.to_string())
}
