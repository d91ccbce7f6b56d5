//! The TLS front: every HTTPS connection's handshake, from its ClientHello to the stream
//! hyper serves.
//!
//! 1. Read the ClientHello (`LazyConfigAcceptor`), without choosing a certificate yet.
//! 2. Its SNI name must be a valid, normalised host **in the domain map**: anything else
//!    is refused, so no certificate is ever served (or ordered) for a name nobody mapped.
//! 3. Make sure the host's certificate is in process: one cached `GET` of its store entry
//!    (client tracking: no round trip while Redis's copy is unchanged, a renewal arrives
//!    with the invalidation), parsed and unsealed only when the entry changed. A mapped
//!    host without one is queued for an order and the handshake waits a bounded time for
//!    it (on demand), then fails cleanly; the next handshake gets it.
//! 4. Finish the handshake with the one shared `ServerConfig`, whose resolver hands rustls
//!    the host's certificate from the in-process table (TLS 1.2 and 1.3, ALPN h2 and
//!    http/1.1).
//!
//! While Redis is down, hosts whose certificate is in process keep their handshakes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::entry::{now_secs, CertEntry};
use super::seal::Sealer;
use super::TlsError;
use crate::map::redis::RedisMap;
use crate::map::DomainMap;
use crate::observe::tally;
use crate::site::Host;

/// Most certificates kept in process (about 3 KiB each); the least recently loaded go first.
const IN_PROCESS: usize = 100_000;

/// Certificates in process, by host, with the raw store entry they were made from.
#[derive(Debug, Default)]
struct Table {
    current: HashMap<String, (Arc<str>, Arc<CertifiedKey>)>,
    previous: HashMap<String, (Arc<str>, Arc<CertifiedKey>)>,
}

/// The resolver rustls asks during a handshake: the in-process table, by SNI.
#[derive(Debug, Default)]
struct InProcess {
    table: Mutex<Table>,
}

impl InProcess {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every update is one insert or remove: a poisoned lock is still consistent.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, host: &str) -> Option<(Arc<str>, Arc<CertifiedKey>)> {
        let t = self.lock();
        t.current
            .get(host)
            .or_else(|| t.previous.get(host))
            .cloned()
    }

    fn insert(&self, host: &str, raw: Arc<str>, key: Arc<CertifiedKey>) {
        let mut t = self.lock();
        t.previous.remove(host);
        if t.current.len() >= IN_PROCESS / 2 && !t.current.contains_key(host) {
            t.previous = std::mem::take(&mut t.current);
        }
        t.current.insert(host.to_owned(), (raw, key));
    }

    fn remove(&self, host: &str) {
        let mut t = self.lock();
        t.current.remove(host);
        t.previous.remove(host);
    }
}

impl ResolvesServerCert for InProcess {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.get(hello.server_name()?).map(|(_, key)| key)
    }
}

/// On-demand ordering at the first handshake.
#[derive(Debug, Clone)]
pub struct OnDemand {
    /// Wakes this publisher's ACME worker.
    pub wake: Arc<Notify>,
    /// How long a first handshake waits for its certificate.
    pub wait: Duration,
}

/// The TLS side of the server; cheap to share.
pub struct TlsFront {
    map: Arc<DomainMap>,
    store: RedisMap,
    sealer: Arc<Sealer>,
    config: Arc<ServerConfig>,
    certs: Arc<InProcess>,
    on_demand: Option<OnDemand>,
    /// Entries refused, by host, with the raw value: logged once per value.
    refused: Mutex<HashMap<String, Arc<str>>>,
}

impl TlsFront {
    /// A front resolving hosts through `map` and certificates through `store`.
    pub fn new(
        map: Arc<DomainMap>,
        store: RedisMap,
        sealer: Arc<Sealer>,
        on_demand: Option<OnDemand>,
    ) -> TlsFront {
        let certs = Arc::new(InProcess::default());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsFront {
            map,
            store,
            sealer,
            config: Arc::new(config),
            certs,
            on_demand,
            refused: Mutex::new(HashMap::new()),
        }
    }

    /// How long a first handshake may wait for an on-demand certificate.
    pub fn on_demand_wait(&self) -> Duration {
        self.on_demand.as_ref().map_or(Duration::ZERO, |o| o.wait)
    }

    /// The certificate store (for the HTTP-01 answers of the plain listener).
    pub fn store(&self) -> &RedisMap {
        &self.store
    }

    /// Runs the handshake of one connection (steps 1-4 of the module doc).
    pub async fn accept(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, TlsError> {
        let start = LazyConfigAcceptor::new(Acceptor::default(), tcp)
            .await
            .map_err(|e| TlsError::Handshake(e.to_string()))?;
        let sni = start
            .client_hello()
            .server_name()
            .map(str::to_owned)
            .ok_or(TlsError::NoSni)?;
        let host = match Host::parse(sni.as_bytes()) {
            Ok(h) if h.as_str() == sni => h,
            _ => return Err(TlsError::NotMapped(sni)),
        };
        match self.map.resolve(&host).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(TlsError::NotMapped(sni)),
            Err(e) => return Err(TlsError::Map(e.to_string())),
        }
        if !self.ensure(host.as_str()).await? {
            self.order_and_wait(host.as_str()).await?;
        }
        start
            .into_stream(self.config.clone())
            .await
            .map_err(|e| TlsError::Handshake(e.to_string()))
    }

    /// Whether `host` has a usable certificate now: what the plain listener asks, on every
    /// request, before redirecting to HTTPS. One in process answers without going to the
    /// store (a revoked one leaves the table at the next handshake, which goes to the store
    /// anyway); otherwise it is loaded like at a handshake.
    pub async fn has_cert(&self, host: &Host) -> bool {
        if self.certs.get(host.as_str()).is_some() {
            return true;
        }
        self.ensure(host.as_str()).await.unwrap_or(false)
    }

    /// Step 3: loads `host`'s certificate in process if its store entry changed; whether
    /// one is usable.
    async fn ensure(&self, host: &str) -> Result<bool, TlsError> {
        match self.store.cert_get(host).await {
            Ok(Some(raw)) => {
                if let Some((known, _)) = self.certs.get(host) {
                    if *known == *raw {
                        return Ok(true);
                    }
                }
                let raw: Arc<str> = raw.into();
                match self.load(host, &raw) {
                    Ok(key) => {
                        self.certs.insert(host, raw, Arc::new(key));
                        Ok(true)
                    }
                    Err(e) => {
                        self.refuse_once(host, &raw, &e);
                        Ok(self.certs.get(host).is_some())
                    }
                }
            }
            Ok(None) => {
                // Revoked or deleted: stop serving it.
                self.certs.remove(host);
                Ok(false)
            }
            // Redis down: what is in process still serves.
            Err(_) => Ok(self.certs.get(host).is_some()),
        }
    }

    fn load(&self, host: &str, raw: &str) -> Result<CertifiedKey, TlsError> {
        let entry = CertEntry::parse(host, raw)?;
        if entry.not_after < now_secs() {
            return Err(TlsError::BadEntry {
                host: host.to_owned(),
                detail: "the certificate has expired".into(),
            });
        }
        entry.certified_key(host, &self.sealer)
    }

    fn refuse_once(&self, host: &str, raw: &Arc<str>, err: &TlsError) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if refused.get(host).is_some_and(|r| **r == **raw) {
            return;
        }
        if refused.len() > 10_000 {
            refused.clear();
        }
        refused.insert(host.to_owned(), raw.clone());
        tracing::error!("certificate store entry refused: {err}");
    }

    /// Queues an order for `host` and waits, bounded, for its certificate.
    async fn order_and_wait(&self, host: &str) -> Result<(), TlsError> {
        let Some(on_demand) = &self.on_demand else {
            return Err(TlsError::NoCertificate(host.to_owned()));
        };
        let now_ms = (now_secs() as u64) * 1000;
        self.store
            .queue_add(host, now_ms, false)
            .await
            .map_err(|e| TlsError::Map(e.to_string()))?;
        on_demand.wake.notify_one();
        tally::ON_DEMAND.hit_with(format_args!(
            "no certificate yet for {host}: ordered on demand, the handshake waits up to {:?}",
            on_demand.wait
        ));
        let until = Instant::now() + on_demand.wait;
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if self.ensure(host).await? {
                return Ok(());
            }
        }
        Err(TlsError::NoCertificate(host.to_owned()))
    }
}
