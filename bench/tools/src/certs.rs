//! `vitrine-bench gen-certs`: fills a certificate store with certificates from a private CA,
//! as many as a directory publisher holds, so that start-up time, memory and cold handshakes
//! can be measured against a full store without an ACME server. Each host gets its own key
//! and leaf, sealed and stored exactly as `vitrine certs import` stores one (through
//! `vitrine`'s own [`CertEntry`] and store), so what the publisher reads is what it would
//! read in production.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use vitrine::map::redis::RedisMap;
use vitrine::tls::entry::CertEntry;
use vitrine::tls::Sealer;

use crate::BenchError;

/// `vitrine-bench gen-certs`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenCertsArgs {
    /// The store (the publishers' Redis).
    #[arg(long, value_name = "URL")]
    pub redis: String,

    /// The publishers' sealing key (32 bytes).
    #[arg(long, value_name = "FILE")]
    pub cert_key_file: PathBuf,

    /// How many hosts: `c00000.<domain>`, `c00001.<domain>`...
    #[arg(long, default_value_t = 70_000)]
    pub count: u32,

    /// The domain under which the hosts are named.
    #[arg(long, default_value = "certs.test")]
    pub domain: String,

    /// Where to write the private CA's certificate (PEM), for clients to trust.
    #[arg(long, value_name = "FILE")]
    pub ca_out: PathBuf,

    /// Where to write the host names, one a line.
    #[arg(long, value_name = "FILE")]
    pub hosts_out: PathBuf,
}

/// Runs `vitrine-bench gen-certs`.
pub fn gen_certs(args: GenCertsArgs) -> Result<(), BenchError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| BenchError::Certs(format!("{what}: {e}"));
    let sealer = Sealer::from_file(&args.cert_key_file).map_err(|e| fail("sealing key", &e))?;
    let ca_key = KeyPair::generate().map_err(|e| fail("CA key", &e))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA", &e))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "vitrine-bench private CA");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(|e| fail("CA", &e))?;
    write(&args.ca_out, ca.pem().as_bytes())?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail("runtime", &e))?;
    let started = Instant::now();
    let hosts = runtime.block_on(async {
        let store = RedisMap::connect(&args.redis, Duration::from_secs(5))
            .await
            .map_err(|e| fail("store", &e))?;
        let mut hosts = String::new();
        for i in 0..args.count {
            let host = format!("c{i:05}.{}", args.domain);
            let key = KeyPair::generate().map_err(|e| fail(&host, &e))?;
            let leaf = CertificateParams::new(vec![host.clone()])
                .and_then(|p| p.signed_by(&key, &ca))
                .map_err(|e| fail(&host, &e))?;
            let chain = format!("{}{}", leaf.pem(), ca.pem());
            let entry = CertEntry::new(&host, &chain, &key.serialize_pem(), &sealer)
                .map_err(|e| fail(&host, &e))?;
            let renew_ms = (entry.renew_at(None).max(0) as u64) * 1000;
            store
                .cert_put(&host, &entry.to_json(), renew_ms)
                .await
                .map_err(|e| fail(&host, &e))?;
            hosts.push_str(&host);
            hosts.push('\n');
        }
        Ok::<_, BenchError>(hosts)
    })?;
    write(&args.hosts_out, hosts.as_bytes())?;
    eprintln!(
        "{} certificates stored in {:.1} s",
        args.count,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<(), BenchError> {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|source| BenchError::Write {
            path: path.clone(),
            source,
        })
}
