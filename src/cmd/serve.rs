//! `vitrine serve`: load themes, open the domain map, start the render pool and the theme
//! watcher, then serve until SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::fsx::Root;
use crate::map::redis::MapCache;
use crate::map::{DomainMap, MapOptions};
use crate::observe::access_log::{self, AccessLog};
use crate::page::Pages;
use crate::render::{Limits, RenderPool, Themes};
use crate::server::budget::Budgets;
use crate::server::{AppState, Https, Server, ServerOptions};
use crate::tls::acme::{Acme, AcmeOptions};
use crate::tls::front::OnDemand;
use crate::tls::{Sealer, TlsFront};
use crate::watch::{self, ThemeWatcher};

/// A server ready to run, with what must stay alive while it runs.
pub struct Prepared {
    /// The bound server.
    pub server: Server,
    /// Shared state (themes, map, pool), for callers that inspect it.
    pub state: Arc<AppState>,
    /// The stylesheet watcher, if enabled.
    pub watcher: Option<ThemeWatcher>,
}

/// Validates the arguments and builds everything short of serving.
pub async fn prepare(args: &ServeArgs) -> anyhow::Result<Prepared> {
    let sites_dir = &args.data.sites;
    let styles_dir = &args.data.stylesheets;
    if !sites_dir.is_dir() {
        bail!(
            "sites folder {} does not exist: pass --sites DIR (or VITRINE_SITES)",
            sites_dir.display()
        );
    }
    if !styles_dir.is_dir() {
        bail!(
            "stylesheets folder {} does not exist: pass --stylesheets DIR (or VITRINE_STYLESHEETS)",
            styles_dir.display()
        );
    }
    let (themes, outcomes) = Themes::load(styles_dir)?;
    watch::log_outcomes(&outcomes);
    if themes.names().is_empty() {
        bail!(
            "no theme of {} compiles; fix the errors above before serving",
            styles_dir.display()
        );
    }
    let themes = Arc::new(themes);

    let deadline = Duration::from_millis(args.map_deadline_ms.max(1));
    let cache = std::num::NonZeroUsize::new(args.map_cache_entries)
        .filter(|_| args.map_cache_ttl > 0)
        .map(|entries| MapCache {
            entries,
            ttl: Duration::from_secs(args.map_cache_ttl),
        });
    let options = MapOptions {
        deadline,
        cache,
        stale_for: Duration::from_secs(args.stale_for),
        probe: true,
    };
    let (map, conflicts) = DomainMap::open(args.redis.as_deref(), sites_dir, options)
        .await
        .with_context(|| match &args.redis {
            Some(url) => format!("cannot use the domain map at {url}: is redis-server running there? (omit --redis to serve from an in-memory map of the sites folder)"),
            None => format!("cannot build the in-memory domain map of {}", sites_dir.display()),
        })?;
    for c in conflicts {
        tracing::warn!("{}", c.0);
    }

    let sites = Root::open(sites_dir)
        .with_context(|| format!("cannot open sites folder {}", sites_dir.display()))?;
    let assets_dir = styles_dir.join("assets");
    let assets = Root::open(&assets_dir).with_context(|| {
        format!(
            "cannot open theme assets folder {} (create it, even empty)",
            assets_dir.display()
        )
    })?;
    let threads = args.render_threads();
    let pool =
        RenderPool::new(threads, args.render_queue).context("cannot start render threads")?;

    let access_log = match &args.access_log {
        Some(path) => Some(AccessLog::start(access_log::Options {
            target: access_log::Target::from_arg(path),
            format: args.access_log_format,
            client: args.access_log_client_address,
            capacity: access_log::DEFAULT_CAPACITY,
        })?),
        None => None,
    };

    let map = Arc::new(map);
    let https = https_setup(args, &map).await?;
    let state = Arc::new(AppState {
        pages: Pages {
            map: map.clone(),
            sites: Arc::new(sites),
            themes: themes.clone(),
            pool,
            limits: Limits::default(),
        },
        assets,
        media_hardlinks: args.media_hardlinks,
        https: https.as_ref().map(|(listener, front)| Https {
            front: front.clone(),
            // The port bound (port 0 picks one), which redirects must name.
            port: listener.local_addr().map_or(443, |a| a.port()),
        }),
        access_log,
    });
    let watcher = if args.no_watch {
        None
    } else {
        Some(watch::watch_themes(themes, watch::log_outcomes).context(
            "cannot watch the stylesheets folder (use --no-watch to serve without hot reload)",
        )?)
    };
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is another server using it? (--listen ADDR)",
            args.listen
        )
    })?;
    let budgets = Budgets::from_process(args.max_connections, args.max_open_files, threads)?;
    budgets.log();
    let options = ServerOptions {
        max_connections: budgets.connections,
        max_open_files: budgets.open_files,
        header_read_timeout: Duration::from_secs(args.header_timeout.max(1)),
        send_timeout: Duration::from_secs(args.send_timeout.max(1)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    let mut server = Server::new(listener, state.clone(), options);
    if let Some((listener, front)) = https {
        server = server.with_tls(listener, front);
    }
    tracing::info!(
        "serving {} with themes [{}] and the {} on http://{} ({} render threads, {} io threads)",
        sites_dir.display(),
        state.pages.themes.names().join(", "),
        state.pages.map.describe(),
        server.local_addr()?,
        threads,
        args.io_threads()
    );
    log_domains(&state.pages.map);
    if let Some(addr) = server.tls_addr() {
        tracing::info!(
            "HTTPS on {addr}, certificates from the store in Redis{}",
            match &args.acme_directory {
                Some(d) => format!(", ordered and renewed with ACME at {d}"),
                None => " (no --acme-directory: none are ordered)".to_owned(),
            }
        );
    }
    Ok(Prepared {
        server,
        state,
        watcher,
    })
}

/// The HTTPS listener and its front, when `--listen-https` is given; the ACME worker is
/// started when `--acme-directory` is too.
async fn https_setup(
    args: &ServeArgs,
    map: &Arc<DomainMap>,
) -> anyhow::Result<Option<(TcpListener, Arc<TlsFront>)>> {
    let Some(addr) = args.listen_https else {
        if args.acme_directory.is_some() {
            bail!("--acme-directory needs --listen-https ADDR: certificates are for the HTTPS listener");
        }
        return Ok(None);
    };
    let DomainMap::Redis { map: store, .. } = &**map else {
        bail!("--listen-https needs --redis URL: certificates are kept in Redis, shared by every publisher");
    };
    let Some(key_file) = &args.cert_key_file else {
        bail!("--listen-https needs --cert-key-file FILE, the key that seals private keys in Redis (make one with `head -c 32 /dev/urandom > FILE; chmod 600 FILE`, the same file on every publisher)");
    };
    let sealer = Arc::new(Sealer::from_file(key_file)?);
    let wake = Arc::new(tokio::sync::Notify::new());
    let on_demand =
        (args.acme_directory.is_some() && args.acme_on_demand_wait > 0).then(|| OnDemand {
            wake: wake.clone(),
            wait: Duration::from_secs(args.acme_on_demand_wait),
        });
    let front = Arc::new(TlsFront::new(
        map.clone(),
        store.clone(),
        sealer.clone(),
        on_demand,
    ));
    if let Some(directory) = &args.acme_directory {
        let acme = Arc::new(Acme::new(
            AcmeOptions {
                directory: directory.clone(),
                directory_ca: args.acme_directory_ca.clone(),
                email: args.acme_email.clone(),
                renew_before: args.acme_renew_before.map(Duration::from_secs),
                orders_per_hour: args.acme_orders_per_hour,
            },
            store.clone(),
            map.clone(),
            sealer,
        ));
        tokio::spawn(acme.run(wake));
    }
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}: is another server using it? (--listen-https ADDR)")
    })?;
    Ok(Some((listener, front)))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutdown requested; draining connections");
}

/// Reopens the access log's file on every SIGUSR1 (logrotate renames the file, then
/// signals), until the runtime ends. Listened for even without an access log: a
/// logrotate rule left behind must not kill the server (SIGUSR1's default action).
pub fn reopen_on_sigusr1(state: Arc<AppState>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut usr1 = signal(SignalKind::user_defined1())
        .context("cannot listen for SIGUSR1, which reopens the access log")?;
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            match &state.access_log {
                Some(log) => log.reopen(),
                None => tracing::info!("SIGUSR1 ignored: there is no --access-log to reopen"),
            }
        }
    });
    Ok(())
}

/// Runs `vitrine serve`.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let prepared = prepare(&args).await?;
    reopen_on_sigusr1(prepared.state.clone())?;
    let _watcher = prepared.watcher;
    prepared.server.run(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Without Redis the start-up log is where an operator finds the hosts to ask for (README,
/// "Looking at a sample site"): one debug line each, since 70,000 sites would drown the
/// info level. With Redis, `vitrine domains list` answers and a scan here would be a waste.
fn log_domains(map: &DomainMap) {
    let DomainMap::Memory(memory) = map else {
        return;
    };
    if !tracing::enabled!(tracing::Level::DEBUG) {
        tracing::info!(
            "{} domains served (VITRINE_LOG=debug lists them)",
            memory.len()
        );
        return;
    }
    for (host, path) in memory.entries() {
        tracing::debug!("domain {host} -> {path}");
    }
}
