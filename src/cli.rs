//! The command line: clap definitions only. Every option can also come from a `VITRINE_*`
//! environment variable; validation into typed settings happens in [`crate::cmd`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Vitrine publishes professional mini-sites: Host -> domain map -> site XML -> XSL theme -> HTML.
#[derive(Debug, Parser)]
#[command(name = "vitrine", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Worker threads the async runtime should have: set for `serve` (see
    /// [`ServeArgs::io_threads`]), tokio's default (one per core) for every other command.
    pub fn runtime_threads(&self) -> Option<usize> {
        match &self.command {
            Command::Serve(args) => Some(args.io_threads()),
            Command::Replay(args) => Some(args.threads()),
            _ => None,
        }
    }
}

impl ServeArgs {
    /// Reactor threads: the given number, else one per four cores (at least one). The reactor
    /// only parses requests and writes responses (tens of microseconds each) while renders
    /// take hundreds on their own threads; on 2 cores one reactor thread gave 15-25 % more
    /// pages/s at lower CPU per page than two, whose idle workers kept waking to look for
    /// work to steal (bench/README.md, "Threads").
    pub fn io_threads(&self) -> usize {
        self.io_threads
            .unwrap_or_else(|| crate::page::default_threads() / 4)
            .max(1)
    }

    /// Render threads: the given number, else one per core plus one, so that a core whose
    /// render thread is between jobs (reading the next site file, handing a page back) has
    /// another render ready to run.
    pub fn render_threads(&self) -> usize {
        self.render_threads
            .unwrap_or_else(|| crate::page::default_threads() + 1)
            .max(1)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the sites over HTTP.
    Serve(Box<ServeArgs>),
    /// Read and edit the Redis domain map by hand.
    Domains(DomainsArgs),
    /// The certificates in the shared store: list, status, renew, revoke.
    Certs(CertsArgs),
    /// Replay access logs against a server and report throughput and latency.
    Replay(crate::replay::ReplayArgs),
    /// Render one page as the server would send it, or every page into a static tree (--all).
    Render(RenderArgs),
    /// Check stylesheets, site XMLs, renders and the domain map before a deploy.
    Check(CheckArgs),
    /// Report the libxml2/libxslt in use, which fast paths are on, and the self-test.
    Doctor,
    /// Write site XML files (and the domain map) from back-office records (JSON Lines).
    Export(ExportArgs),
    /// Take a site offline: remove its domains from the map, then move its folder to the
    /// archive.
    Unpublish(UnpublishArgs),
}

/// Where sites and themes live.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Sites root: SHARD/ID/site.xml and SHARD/ID/media/.
    #[arg(long, env = "VITRINE_SITES", default_value = "sample-sites")]
    pub sites: PathBuf,
    /// Stylesheets folder: NAME.xsl themes, common/, assets/.
    #[arg(long, env = "VITRINE_STYLESHEETS", default_value = "stylesheets")]
    pub stylesheets: PathBuf,
}

/// `vitrine serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VITRINE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub data: DataArgs,
    /// Redis URL of the domain map (redis://HOST:PORT/DB). Without it, an in-memory map is
    /// built from the domains the site XMLs declare.
    #[arg(long, env = "VITRINE_REDIS")]
    pub redis: Option<String>,
    /// Address of the HTTPS listener (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 by ALPN).
    /// Needs --redis (the shared certificate store) and --cert-key-file.
    #[arg(long, env = "VITRINE_LISTEN_HTTPS")]
    pub listen_https: Option<SocketAddr>,
    /// ACME directory URL: with it, certificates are ordered and renewed (HTTP-01, answered
    /// by the plain listener, which must be reachable on port 80 of every domain).
    #[arg(long, env = "VITRINE_ACME_DIRECTORY")]
    pub acme_directory: Option<String>,
    /// Extra CA certificate (PEM) to trust for the ACME server's own HTTPS (a private ACME
    /// server such as pebble).
    #[arg(long, env = "VITRINE_ACME_DIRECTORY_CA")]
    pub acme_directory_ca: Option<PathBuf>,
    /// Contact address given to the ACME CA (expiry warnings, incidents).
    #[arg(long, env = "VITRINE_ACME_EMAIL")]
    pub acme_email: Option<String>,
    /// The key that seals private keys in the store: a file of exactly 32 bytes that only
    /// the publishers can read (`head -c 32 /dev/urandom > FILE`); the same on every
    /// publisher.
    #[arg(long, env = "VITRINE_CERT_KEY_FILE")]
    pub cert_key_file: Option<PathBuf>,
    /// Renew a certificate at the latest this many seconds before it expires (renewal
    /// otherwise comes two thirds into its validity).
    #[arg(long, env = "VITRINE_ACME_RENEW_BEFORE")]
    pub acme_renew_before: Option<u64>,
    /// Most certificate orders started per hour, all publishers together.
    #[arg(long, env = "VITRINE_ACME_ORDERS_PER_HOUR", default_value_t = 100)]
    pub acme_orders_per_hour: u64,
    /// Seconds a first handshake for a mapped host without a certificate waits for the
    /// on-demand order (then it fails; the next one gets the certificate). 0: no ordering
    /// at handshakes.
    #[arg(long, env = "VITRINE_ACME_ON_DEMAND_WAIT", default_value_t = 10)]
    pub acme_on_demand_wait: u64,
    /// Serve files of a site's media/ folder that have more than one hard link. Refused by
    /// default: a hard link planted there (to /etc/hostname, a key...) is beyond what a
    /// path check can see, since it is the file itself, not a link to follow.
    #[arg(long, env = "VITRINE_MEDIA_HARDLINKS")]
    pub media_hardlinks: bool,
    /// Render threads (parse + transform); default: one per core, plus one.
    #[arg(long, env = "VITRINE_RENDER_THREADS")]
    pub render_threads: Option<usize>,
    /// Threads of the async reactor (HTTP connections, the domain map); default: one per
    /// four cores, at least one.
    #[arg(long, env = "VITRINE_IO_THREADS")]
    pub io_threads: Option<usize>,
    /// Renders allowed to wait for a thread before new ones are refused with 503.
    #[arg(long, env = "VITRINE_RENDER_QUEUE", default_value_t = 256)]
    pub render_queue: usize,
    /// Most client connections open at once.
    #[arg(long, env = "VITRINE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Seconds a client may take to send its request headers; also the longest a
    /// connection stays open with no request in progress.
    #[arg(long, env = "VITRINE_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a response may go without the client taking any of its bytes (a 64 KiB
    /// chunk of a file, or a page); then it is abandoned (HTTP/2: that stream, or the
    /// connection if none of its responses progress; HTTP/1: the connection). A download
    /// that is slow but moving continues.
    #[arg(long, env = "VITRINE_SEND_TIMEOUT", default_value_t = 30)]
    pub send_timeout: u64,
    /// Most media and asset responses open at once, process-wide; beyond, 503 with
    /// Retry-After. Default: what the descriptor limit leaves after the connections, up
    /// to 8192.
    #[arg(long, env = "VITRINE_MAX_OPEN_FILES")]
    pub max_open_files: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "VITRINE_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// Milliseconds a domain-map lookup may take before the request gets 503.
    #[arg(long, env = "VITRINE_MAP_DEADLINE_MS", default_value_t = 250)]
    pub map_deadline_ms: u64,
    /// Do not watch the stylesheets folder for changes.
    #[arg(long, env = "VITRINE_NO_WATCH")]
    pub no_watch: bool,
    /// Seconds after its last confirmation by Redis during which a host's answer is still
    /// served while Redis is down (0: never serve a stale answer).
    #[arg(long, env = "VITRINE_STALE_FOR", default_value_t = 3600)]
    pub stale_for: u64,
    /// Seconds a Redis answer may be kept in process (server-assisted client-side caching:
    /// Redis pushes an invalidation when the key changes; this bounds an entry's life
    /// anyway). 0: ask Redis on every request.
    #[arg(long, env = "VITRINE_MAP_CACHE_TTL", default_value_t = 60)]
    pub map_cache_ttl: u64,
    /// Most hosts kept by that cache.
    #[arg(long, env = "VITRINE_MAP_CACHE_ENTRIES", default_value_t = 100_000)]
    pub map_cache_entries: usize,
    /// Write an access log to this file (`-`: standard output), one line per request.
    /// SIGUSR1 reopens the file, for logrotate.
    #[arg(long, env = "VITRINE_ACCESS_LOG", value_name = "PATH")]
    pub access_log: Option<PathBuf>,
    /// Access-log line format: Apache's vhost_combined (read by `vitrine replay`, GoAccess
    /// and the usual tools), or one JSON object per line with durations, map origin and
    /// content coding too.
    #[arg(
        long,
        env = "VITRINE_ACCESS_LOG_FORMAT",
        value_enum,
        default_value = "vhost_combined"
    )]
    pub access_log_format: crate::observe::access_log::Format,
    /// What the access log keeps of client addresses: `mask` (the network: IPv4 /24,
    /// IPv6 /48), `keep` (whole), or `hide` (`-`).
    #[arg(
        long,
        env = "VITRINE_ACCESS_LOG_CLIENT_ADDRESS",
        value_enum,
        default_value = "mask"
    )]
    pub access_log_client_address: crate::observe::access_log::ClientAddress,
}

/// `vitrine domains`.
#[derive(Debug, Clone, Args)]
pub struct DomainsArgs {
    /// Redis URL of the domain map. Global, like every option of `domains` and `certs`: it
    /// may come before or after the action.
    #[arg(
        long,
        env = "VITRINE_REDIS",
        default_value = "redis://127.0.0.1:6379",
        global = true
    )]
    pub redis: String,
    /// Sites root, to check that paths exist.
    #[arg(
        long,
        env = "VITRINE_SITES",
        default_value = "sample-sites",
        global = true
    )]
    pub sites: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub action: DomainsAction,
}

/// `vitrine certs`.
#[derive(Debug, Clone, Args)]
pub struct CertsArgs {
    /// Redis URL of the domain map and certificate store (before or after the action).
    #[arg(
        long,
        env = "VITRINE_REDIS",
        default_value = "redis://127.0.0.1:6379",
        global = true
    )]
    pub redis: String,
    /// ACME directory URL (for `revoke`, which tells the CA).
    #[arg(long, env = "VITRINE_ACME_DIRECTORY", global = true)]
    pub acme_directory: Option<String>,
    /// Extra CA certificate (PEM) for the ACME server's own HTTPS.
    #[arg(long, env = "VITRINE_ACME_DIRECTORY_CA", global = true)]
    pub acme_directory_ca: Option<PathBuf>,
    /// The sealing key (for `revoke`: the ACME account is sealed in the store).
    #[arg(long, env = "VITRINE_CERT_KEY_FILE", global = true)]
    pub cert_key_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: CertsAction,
}

/// `vitrine certs ...` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum CertsAction {
    /// Every certificate (host, expiry, renewal) and every host waiting for one.
    List,
    /// One host: its certificate, its order status (attempts, last error, next attempt).
    Status {
        /// Host name.
        host: String,
    },
    /// Order a host's certificate again now (a publisher with --acme-directory does it).
    Renew {
        /// Host name.
        host: String,
    },
    /// Revoke a host's certificate at the CA and remove it from the store.
    Revoke {
        /// Host name.
        host: String,
    },
    /// Store a certificate obtained elsewhere (its key is sealed with --cert-key-file); it
    /// is served by every publisher from its next handshake, and renewed by ACME when due.
    Import {
        /// Host name (the certificate must name it).
        host: String,
        /// The chain, leaf first (PEM).
        #[arg(long)]
        chain: PathBuf,
        /// The leaf's private key (PEM, PKCS#8, SEC1 or PKCS#1).
        #[arg(long)]
        key: PathBuf,
    },
}

/// `vitrine domains ...` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum DomainsAction {
    /// Print the site file a host maps to.
    Get {
        /// Host name (any case, port, IDN form).
        host: String,
    },
    /// Map a host to a site file (path relative to the sites root).
    Set {
        /// Host name.
        host: String,
        /// SHARD/ID/site.xml.
        path: String,
    },
    /// Remove a host from the map.
    Rm {
        /// Host name.
        host: String,
    },
    /// List every mapped host.
    List,
    /// Import "HOST PATH" lines from a file ("-" for stdin); blank lines and # comments
    /// skipped. The whole file is checked first: with a bad line, nothing is imported.
    Import {
        /// The file.
        file: PathBuf,
        /// Import the good lines even if some are refused (the exit status is still 1).
        #[arg(long)]
        partial: bool,
    },
}

/// `vitrine render`.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// Host to render for, as a browser sends it (any case, port, IDN form).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub host: Option<String>,
    /// Page id or path (`tarifs`, `/tarifs`); default: the home page.
    #[arg(conflicts_with = "all")]
    pub page: Option<String>,
    /// Render every page of every site into --out (a static tree for nginx).
    #[arg(long, requires = "out")]
    pub all: bool,
    /// Output folder of --all; created if absent, must be empty.
    #[arg(long, requires = "all")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Redis URL of the domain map, as for `serve`; without it, the in-memory map of the
    /// domains the site XMLs declare. Not used by --all, which maps every declared domain.
    #[arg(long, env = "VITRINE_REDIS")]
    pub redis: Option<String>,
    /// Threads of --all; default: one per core.
    #[arg(long, env = "VITRINE_RENDER_THREADS")]
    pub threads: Option<usize>,
}

/// `vitrine check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Redis URL of the domain map to check against the sites (both directions).
    #[arg(long, env = "VITRINE_REDIS")]
    pub redis: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Threads; default: one per core.
    #[arg(long, env = "VITRINE_RENDER_THREADS")]
    pub threads: Option<usize>,
}

/// `vitrine export`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from", "watch"])))]
pub struct ExportArgs {
    /// JSON Lines file of back-office records, one site per line; `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Watch this inbox folder: every `*.jsonl` renamed into it (or closed after writing) is
    /// exported, then moved to `done/`, or to `failed/` with `NAME.errors.json` beside it.
    #[arg(long, value_name = "INBOX")]
    pub watch: Option<PathBuf>,
    /// Export only the records of these site ids.
    #[arg(long, value_name = "ID", num_args = 1..)]
    pub only: Vec<String>,
    /// Sites root, where the site folders are written (SHARD/ID/site.xml). Required (or
    /// VITRINE_SITES): a default would let a run from the repository overwrite
    /// sample-sites.
    #[arg(long, env = "VITRINE_SITES", value_name = "DIR")]
    pub sites: Option<PathBuf>,
    /// Stylesheets folder, for the names of the themes that exist.
    #[arg(long, env = "VITRINE_STYLESHEETS", default_value = "stylesheets")]
    pub stylesheets: PathBuf,
    /// Archive of unpublished sites (their media come back when they are exported again);
    /// default SITES/.archive.
    #[arg(long, env = "VITRINE_ARCHIVE")]
    pub archive: Option<PathBuf>,
    /// Redis URL of the domain map to keep in step. Without it, only files are written.
    #[arg(long, env = "VITRINE_REDIS")]
    pub redis: Option<String>,
    /// Print a machine-readable summary (and the failures) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Threads that build and validate XML; default: one per core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Threads that write files (fsync-bound); default: four per core.
    #[arg(long)]
    pub writers: Option<usize>,
}

/// `vitrine unpublish`.
#[derive(Debug, Clone, Args)]
pub struct UnpublishArgs {
    /// Site id.
    pub id: String,
    /// Sites root. Required (or VITRINE_SITES), as for `export`.
    #[arg(long, env = "VITRINE_SITES", value_name = "DIR")]
    pub sites: Option<PathBuf>,
    /// Archive folder; default SITES/.archive.
    #[arg(long, env = "VITRINE_ARCHIVE")]
    pub archive: Option<PathBuf>,
    /// Redis URL of the domain map. Without it, only the folder is moved.
    #[arg(long, env = "VITRINE_REDIS")]
    pub redis: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Cli {
        Cli::try_parse_from(["vitrine", "serve"].iter().chain(args)).unwrap()
    }

    fn serve_args(cli: &Cli) -> &ServeArgs {
        match &cli.command {
            Command::Serve(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn thread_counts_given_are_kept_and_zero_means_one() {
        let cli = serve(&["--io-threads", "3", "--render-threads", "5"]);
        assert_eq!(cli.runtime_threads(), Some(3));
        assert_eq!(serve_args(&cli).render_threads(), 5);
        let cli = serve(&["--io-threads", "0", "--render-threads", "0"]);
        assert_eq!(cli.runtime_threads(), Some(1));
        assert_eq!(serve_args(&cli).render_threads(), 1);
    }

    #[test]
    fn the_access_log_is_off_by_default_and_masks_addresses_when_on() {
        use crate::observe::access_log::{ClientAddress, Format};
        let cli = serve(&[]);
        let args = serve_args(&cli);
        assert_eq!(args.access_log, None);
        assert_eq!(args.access_log_format, Format::VhostCombined);
        assert_eq!(args.access_log_client_address, ClientAddress::Mask);
        let cli = serve(&[
            "--access-log",
            "-",
            "--access-log-format",
            "json",
            "--access-log-client-address",
            "hide",
        ]);
        let args = serve_args(&cli);
        assert_eq!(args.access_log.as_deref(), Some(std::path::Path::new("-")));
        assert_eq!(args.access_log_format, Format::Json);
        assert_eq!(args.access_log_client_address, ClientAddress::Hide);
        assert!(Cli::try_parse_from(["vitrine", "serve", "--access-log-format", "clf"]).is_err());
    }

    #[test]
    fn default_threads_follow_the_cores() {
        let cores = crate::page::default_threads();
        let cli = serve(&[]);
        assert_eq!(cli.runtime_threads(), Some((cores / 4).max(1)));
        assert_eq!(serve_args(&cli).render_threads(), cores + 1);
        // Other commands keep tokio's own default.
        let cli = Cli::try_parse_from(["vitrine", "check"]).unwrap();
        assert_eq!(cli.runtime_threads(), None);
    }

    #[test]
    fn domains_and_certs_options_come_before_or_after_the_action() {
        let redis_of = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Domains(d) => (d.redis, d.sites),
            Command::Certs(c) => (c.redis, PathBuf::new()),
            other => panic!("parsed as {other:?}"),
        };
        let url = "redis://db:6380/2";
        for args in [
            &["vitrine", "domains", "--redis", url, "--sites", "s", "list"][..],
            &["vitrine", "domains", "list", "--redis", url, "--sites", "s"],
            &[
                "vitrine",
                "domains",
                "--sites",
                "s",
                "set",
                "a.fr",
                "x/a/site.xml",
                "--redis",
                url,
            ],
            &[
                "vitrine", "domains", "import", "--redis", url, "f.txt", "--sites", "s",
            ],
        ] {
            assert_eq!(
                redis_of(args),
                (url.to_owned(), PathBuf::from("s")),
                "{args:?}"
            );
        }
        assert_eq!(
            redis_of(&["vitrine", "domains", "list"]).0,
            "redis://127.0.0.1:6379"
        );
        for args in [
            &["vitrine", "certs", "list", "--redis", url][..],
            &["vitrine", "certs", "--redis", url, "status", "a.fr"],
        ] {
            assert_eq!(redis_of(args).0, url, "{args:?}");
        }
    }
}
