//! Startup as library code: [`Application::build`] opens the backends and
//! binds both listeners (port 0 allowed), so binaries and tests start the
//! same server and learn its addresses.

use crate::{
    blob,
    client::{CONNECTION_WINDOW_BYTES, MAX_FRAME_BYTES},
    config::{ServerSettings, Settings},
    domain::{Archive, ArticleCache, BodyCache, signing::UrlSigner},
    gateway, metadata,
    proto::FILE_DESCRIPTOR_SET,
    search::SearchIndex,
    service::{
        auth::{Auth, AuthLayer},
        limits::{LimitSettings, LimitsLayer},
        outcome::OutcomeLayer,
        request_id,
    },
};
pub mod admin;
pub mod connections;
mod grpc_web;
mod jobs;
mod keys;
pub mod readiness;
mod services;
pub mod telemetry;

use anyhow::Context;
use connections::ConnectionLimits;
use readiness::Readiness;
use std::{future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::watch};

/// After the shutdown deadline, how long ended upload streams get to send
/// their answer before everything still open is cut.
const STREAMS_ENDING_GRACE: Duration = Duration::from_secs(2);
/// What a client may send on one stream before archived reads it: an upload
/// waiting for a part slot holds this much in HTTP/2 buffers. 2 MiB keeps
/// uploads at full speed on loopback and LAN and, measured during 5 GiB
/// uploads, takes peak RSS from +62.6–64.7 to +60.7–61.8 MiB above idle.
/// Clients keep larger windows ([`crate::client::STREAM_WINDOW_BYTES`]) for
/// reads.
const UPLOAD_STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;

pub struct Application {
    settings: Settings,
    archive: Archive,
    auth: Arc<Auth>,
    grpc_listener: TcpListener,
    gateway_listener: TcpListener,
    admin_listener: TcpListener,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        crate::metrics::install();
        let blobs = blob::open(&settings.storage, settings.media.chunk_size_bytes)
            .await
            .with_context(|| format!("opening storage {}", settings.storage.url))?;
        let metadata = metadata::open(&settings.metadata)
            .await
            .with_context(|| format!("opening metadata {}", settings.metadata.url))?;
        let signer = Arc::new(UrlSigner::new(keys::signing_keys(&settings)?)?);
        let grpc_listener = TcpListener::bind(settings.server.grpc_addr)
            .await
            .with_context(|| format!("binding gRPC on {}", settings.server.grpc_addr))?;
        let gateway_listener = TcpListener::bind(settings.server.gateway_addr)
            .await
            .with_context(|| format!("binding the media gateway on {}", settings.server.gateway_addr))?;
        let admin_listener = TcpListener::bind(settings.server.admin_addr)
            .await
            .with_context(|| format!("binding the admin listener on {}", settings.server.admin_addr))?;
        let gateway_base_url = match &settings.server.gateway_public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", gateway_listener.local_addr()?),
        };
        let bodies = BodyCache::new(settings.storage.body_cache_bytes);
        let (media, retention) = (settings.media.clone(), settings.retention.clone());
        let archive = Archive::new(blobs, metadata, signer, media, retention, gateway_base_url, bodies)
            .with_fixity(settings.fixity.clone())
            .with_changes(settings.changes.clone())
            .with_message_limit(settings.server.max_message_bytes)
            .with_search(open_search(&settings).await?)
            .with_article_cache(ArticleCache::new(settings.metadata.article_cache_bytes));
        let auth = Arc::new(open_auth(&settings)?);
        Ok(Self { settings, archive, auth, grpc_listener, gateway_listener, admin_listener })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_listener.local_addr().expect("a bound listener has an address")
    }

    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/metrics`, `/readyz` and `/healthz` answer.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener.local_addr().expect("a bound listener has an address")
    }

    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Where a person opens the web console, when it is on.
    pub fn console_url(&self) -> Option<String> {
        self.settings.gateway.console.then(|| format!("{}/console/", self.archive.gateway_base_url))
    }

    /// Serves gRPC and the gateway until `shutdown` completes, then stops
    /// gracefully: health NOT_SERVING and background jobs stopped at once;
    /// new connections still taken for `server.shutdown_delay_seconds`;
    /// then the listeners close and calls in flight get
    /// `server.shutdown_deadline_seconds` to finish; then open upload
    /// streams are ended (UNAVAILABLE, resumable) and whatever is left is
    /// cut. View counts are flushed last.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        // Draining: jobs and readiness checks stop. Closing: listeners stop.
        let (drain_tx, stop_rx) = watch::channel(false);
        let (close_tx, close_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        jobs::spawn_all(&self.archive, &self.settings, &stop_rx);
        jobs::spawn_auth_reload(self.auth.clone(), stop_rx.clone());

        let server = &self.settings.server;
        let max_message = server.max_message_bytes;
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        readiness::set_all(&health_reporter, true).await;
        let ready = Arc::new(Readiness::default());
        let interval = Duration::from_secs(server.readiness_interval_seconds);
        readiness::spawn(self.archive.clone(), health_reporter.clone(), ready.clone(), interval, stop_rx.clone());
        let (delay, deadline) =
            (Duration::from_secs(server.shutdown_delay_seconds), Duration::from_secs(server.shutdown_deadline_seconds));
        let stages = ShutdownStages { drain: drain_tx, close: close_tx, delay, deadline };
        spawn_shutdown(shutdown, stages, self.archive.clone(), ready.clone(), health_reporter);
        // v1 for current tools, v1alpha for gRPC's own Python client and
        // older tools, which speak only that.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let (reflection, reflection_v1alpha) = (reflection().build_v1()?, reflection().build_v1alpha()?);

        let grpc_web =
            grpc_web::layers(server.grpc_web, &self.settings.gateway.cors_allowed_origins, self.auth.is_on());
        // One set of limits for every way in (the console's calls count too).
        let call_limits = LimitsLayer::new(limit_settings(&self.settings));
        // What every call passes, outermost first, whichever port it came in on.
        macro_rules! call_layers {
            ($grpc_web:expr, $auth:expr) => {
                tower::ServiceBuilder::new()
                    .layer($grpc_web)
                    .layer(OutcomeLayer::new(max_message))
                    .layer(request_id::set())
                    .layer(
                        tower_http::trace::TraceLayer::new_for_grpc()
                            .make_span_with(request_id::span)
                            // The outcome layer logs each failed call at the level its code deserves.
                            .on_failure(()),
                    )
                    .layer(request_id::propagate())
                    .layer($auth)
                    .layer(call_limits.clone())
            };
        }
        let layers = call_layers!(tower::util::option_layer(grpc_web), AuthLayer::new(self.auth.clone()));
        let console = self.settings.gateway.console.then(|| {
            let sessions = self.sessions();
            let layers =
                call_layers!(tonic_web::GrpcWebLayer::new(), AuthLayer::sessions(self.auth.clone(), sessions.clone()));
            let services = tonic::service::Routes::new(self.article_service())
                .add_service(self.metadata_service())
                .add_service(self.media_service());
            let rpc = tower::ServiceExt::<axum::extract::Request>::map_response(
                layers.service(services),
                axum::response::IntoResponse::into_response,
            );
            let rpc = tower::util::BoxCloneSyncService::new(rpc);
            gateway::Console { auth: self.auth.clone(), sessions, rpc, host: self.gateway_host() }
        });
        let limits = ConnectionLimits::of(server);
        let grpc = tls(tonic::transport::Server::builder(), server)?
            // gRPC-Web comes over HTTP/1.1 too; HTTP/2 clients are unaffected.
            .accept_http1(server.grpc_web)
            .layer(layers)
            .concurrency_limit_per_connection(server.concurrency_limit_per_connection)
            .max_concurrent_streams(Some(server.max_concurrent_streams))
            .initial_stream_window_size(Some(UPLOAD_STREAM_WINDOW_BYTES))
            .initial_connection_window_size(Some(CONNECTION_WINDOW_BYTES))
            .max_frame_size(MAX_FRAME_BYTES)
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(self.article_service())
            .add_service(self.metadata_service())
            .add_service(self.media_service())
            .serve_with_incoming_shutdown(
                connections::grpc_incoming(self.grpc_listener, limits, server.tls.cert_file.is_some()),
                stopped(close_rx.clone()),
            );

        let router = gateway::router(self.archive.clone(), &self.settings.gateway, console);
        let gateway = connections::serve_http(self.gateway_listener, router, limits, stopped(close_rx.clone()));
        // The admin port stays open through the shutdown delay and deadline
        // (readiness says 503 meanwhile) and closes with the rest.
        let admin = connections::serve_http(
            self.admin_listener,
            admin::router(ready.subscribe()),
            limits,
            stopped(close_rx.clone()),
        );

        let archive = self.archive.clone();
        let cut_off = async move {
            stopped(close_rx).await;
            tokio::time::sleep(deadline).await;
            tracing::warn!("shutdown deadline passed: ending open upload streams");
            archive.end_streams();
            tokio::time::sleep(STREAMS_ENDING_GRACE).await;
        };
        let served = tokio::select! {
            served = async {
                tokio::try_join!(
                    async { grpc.await.context("gRPC server") },
                    async { gateway.await.context("media gateway") },
                    async { admin.await.context("admin listener") },
                )
            } => served.map(drop),
            () = cut_off => {
                tracing::warn!("calls still open after the shutdown deadline were cut");
                Ok(())
            }
        };
        // Views recorded since the last flush reach the manifests before exit.
        match self.archive.flush_views().await {
            Ok(count) => tracing::info!(count, "view counts flushed to manifests"),
            Err(error) => tracing::warn!(error = ?error.source, "view counts not flushed: {}", error.message),
        }
        served?;
        Ok(())
    }
}

/// The first two stages of a shutdown: draining (jobs, readiness checks and
/// watches stop; health says NOT_SERVING) and, `delay` later, closing (the
/// listeners stop taking connections). The third, cutting what is still
/// open `deadline` after that, is `run_until`'s.
struct ShutdownStages {
    drain: watch::Sender<bool>,
    close: watch::Sender<bool>,
    delay: Duration,
    deadline: Duration,
}

fn spawn_shutdown(
    shutdown: impl Future<Output = ()> + Send + 'static,
    stages: ShutdownStages,
    archive: Archive,
    ready: Arc<Readiness>,
    health: tonic_health::server::HealthReporter,
) {
    let ShutdownStages { drain, close, delay, deadline } = stages;
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!(?delay, ?deadline, "shutting down: NOT_SERVING; connections still taken for the delay");
        let _ = drain.send(true);
        archive.end_watches();
        ready.set(false);
        readiness::set_all(&health, false).await;
        tokio::time::sleep(delay).await;
        tracing::info!("listeners closed; calls in flight have the deadline to finish");
        let _ = close.send(true);
    });
}

/// What `archived check` does: the settings validated, the files they name
/// read and parsed (tokens, TLS certificates and keys, the gateway key),
/// nothing opened or created. Returns the effective settings as TOML,
/// secrets left out.
pub fn check(settings: &Settings) -> anyhow::Result<String> {
    settings.validate()?;
    open_auth(settings)?;
    tls(tonic::transport::Server::builder(), &settings.server)?;
    if settings.gateway.keys.is_empty() {
        let path = Path::new(&settings.gateway.key_file);
        if path.exists() {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()))?;
        }
    }
    Ok(toml::to_string_pretty(settings)?)
}

/// This replica's search index, as it is on disk (the projection job
/// rebuilds or updates it).
async fn open_search(settings: &Settings) -> anyhow::Result<Arc<SearchIndex>> {
    let search = settings.search.clone();
    let index = tokio::task::spawn_blocking(move || {
        SearchIndex::open(Path::new(&search.index_dir), search.writer_memory_bytes)
    })
    .await??;
    Ok(Arc::new(index))
}

/// TLS (and mutual TLS) on the gRPC port when `server.tls` says so; the
/// handshake must end within `server.header_read_timeout_seconds`.
fn tls(builder: tonic::transport::Server, server: &ServerSettings) -> anyhow::Result<tonic::transport::Server> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let settings = &server.tls;
    let (Some(cert), Some(key)) = (&settings.cert_file, &settings.key_file) else { return Ok(builder) };
    let read = |path: &str| std::fs::read(path).with_context(|| format!("reading {path}"));
    let mut config = ServerTlsConfig::new()
        .identity(Identity::from_pem(read(cert)?, read(key)?))
        .timeout(Duration::from_secs(server.header_read_timeout_seconds));
    if let Some(ca) = &settings.client_ca_file {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    tracing::info!(mutual = settings.client_ca_file.is_some(), "gRPC over TLS");
    builder.tls_config(config).context("server.tls")
}

fn limit_settings(settings: &Settings) -> LimitSettings {
    let server = &settings.server;
    LimitSettings {
        max_in_flight: server.max_in_flight_requests,
        requests_per_second: settings.auth.requests_per_second,
        burst: settings.auth.burst,
        unary_timeout: (server.unary_timeout_seconds > 0).then(|| Duration::from_secs(server.unary_timeout_seconds)),
    }
}

/// The tokens `[auth] tokens_file` lists, or auth off (and a warning).
fn open_auth(settings: &Settings) -> anyhow::Result<Auth> {
    match &settings.auth.tokens_file {
        Some(path) => {
            let auth = Auth::from_file(Path::new(path))?;
            tracing::info!(file = %path, "auth on: every call needs a bearer token");
            Ok(auth)
        }
        None => {
            tracing::warn!("AUTH IS OFF: any caller may read, change and delete anything; set [auth] tokens_file");
            Ok(Auth::off())
        }
    }
}
