//! What the listeners and callers get: the three ports, limits, TLS,
//! timeouts; the gateway's signing keys and CORS; auth.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// TOML file of the clients' token digests and scopes (`archivectl token
    /// new` prints entries); re-read on SIGHUP. Unset: auth is off.
    pub tokens_file: Option<String>,
    /// Calls per second each token (each name) may make; 0: no limit.
    /// With auth off all callers share one budget.
    pub requests_per_second: u32,
    /// Calls a token may make at once above its rate (0: the rate).
    pub burst: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// gRPC listen address; port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// HTTP media gateway listen address; port 0 picks a free port.
    pub gateway_addr: SocketAddr,
    /// Base URL of the gateway as viewers reach it; the bound address when unset.
    pub gateway_public_url: Option<String>,
    /// Operators' HTTP listener: `/metrics`, `/readyz` and `/healthz`
    /// (the gateway serves media and `/healthz` only); port 0 picks a free
    /// port. Keep it off the viewers' network.
    pub admin_addr: SocketAddr,
    /// A new connection on any port must send its opening within this:
    /// the HTTP/2 preface, or its first HTTP/1.1 request head. On the
    /// gateway and the admin port every later request head too, and a
    /// keep-alive connection idle this long is closed.
    pub header_read_timeout_seconds: u64,
    /// HTTP/2 connections (both ports) are pinged this often…
    pub http2_keepalive_interval_seconds: u64,
    /// …and closed when a ping is not answered within this.
    pub http2_keepalive_timeout_seconds: u64,
    /// Largest gRPC message accepted (bytes); bounds a chunk's size.
    pub max_message_bytes: usize,
    /// Concurrent requests per connection.
    pub concurrency_limit_per_connection: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// How often object storage and the database are checked for
    /// readiness (grpc.health, `/readyz`); 0: never.
    pub readiness_interval_seconds: u64,
    /// On SIGTERM: how long health says NOT_SERVING while new connections
    /// are still taken, so load balancers notice first.
    pub shutdown_delay_seconds: u64,
    /// Then: how long calls in flight may take to finish before upload
    /// streams are ended (UNAVAILABLE, resumable) and the rest cut.
    pub shutdown_deadline_seconds: u64,
    /// Calls of the three services in flight at once, all connections
    /// together (streams until their last byte); 0: no limit. Each may be
    /// a ReadMedia stream whose reader stopped, holding about two chunks
    /// (`app::connections::stalled_read_stream_bytes`): 192 keeps the
    /// worst case within deploy/kubernetes' 1600 MiB (docs/operations.md).
    pub max_in_flight_requests: usize,
    /// Longest a unary call may take (a client's shorter grpc-timeout is
    /// honoured too); 0: no ceiling.
    pub unary_timeout_seconds: u64,
    /// gRPC-Web (HTTP/1.1 and HTTP/2) on the gRPC port too, for browser
    /// tools: same services, same tokens; pages of the gateway's
    /// `cors_allowed_origins` may call it. Off by default: with auth off
    /// and any origin allowed, any page a user opens could call it.
    pub grpc_web: bool,
    pub tls: TlsSettings,
}

/// TLS on the gRPC port (rustls). The gateway stays plain HTTP: put it
/// behind the ingress that terminates TLS for viewers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain of the server; with `key_file`, TLS is on.
    pub cert_file: Option<String>,
    /// PEM private key of that certificate.
    pub key_file: Option<String>,
    /// PEM CA certificates; when set, clients must present a certificate
    /// they signed (mutual TLS).
    pub client_ca_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// HMAC keys for playback URLs: the first signs, every one verifies.
    /// When empty, a key is generated once into `key_file`.
    pub keys: Vec<SigningKeySettings>,
    pub key_file: String,
    /// Origins whose pages may read clips cross-origin (`*`: any).
    pub cors_allowed_origins: Vec<String>,
    /// Longest a media request may take to its response headers (504
    /// after); the body then streams at the viewer's pace.
    pub request_timeout_seconds: u64,
    /// Media requests handled at once; more wait their turn.
    pub max_concurrent_requests: usize,
    /// The web console at `/console/` (docs/console.md); off, `/console/*` is 404.
    pub console: bool,
    /// How long a console session lasts after its token was exchanged.
    pub console_session_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeySettings {
    pub id: String,
    #[serde(skip_serializing)]
    pub secret: SecretString,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            gateway_addr: SocketAddr::from(([127, 0, 0, 1], 50052)),
            gateway_public_url: None,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 50053)),
            header_read_timeout_seconds: 10,
            http2_keepalive_interval_seconds: 30,
            http2_keepalive_timeout_seconds: 20,
            max_message_bytes: 8 * 1024 * 1024,
            concurrency_limit_per_connection: 256,
            max_concurrent_streams: 256,
            readiness_interval_seconds: 5,
            shutdown_delay_seconds: 5,
            shutdown_deadline_seconds: 30,
            max_in_flight_requests: 192,
            unary_timeout_seconds: 30,
            grpc_web: false,
            tls: TlsSettings::default(),
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            key_file: "./data/gateway.key".into(),
            cors_allowed_origins: vec!["*".into()],
            request_timeout_seconds: 30,
            max_concurrent_requests: 512,
            console: true,
            console_session_seconds: 8 * 3600,
        }
    }
}
