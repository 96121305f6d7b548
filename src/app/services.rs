//! The three services as archived mounts them (on the gRPC port and, for
//! the web console, on the gateway), and the console's sessions.

use super::Application;
use crate::{
    proto::v1::{
        article_service_server::ArticleServiceServer, media_service_server::MediaServiceServer,
        metadata_service_server::MetadataServiceServer,
    },
    service::{ArticleGrpc, MediaGrpc, MetadataGrpc, auth::Sessions},
};
use std::time::Duration;

impl Application {
    pub(super) fn article_service(&self) -> ArticleServiceServer<ArticleGrpc> {
        let max = self.settings.server.max_message_bytes;
        ArticleServiceServer::new(ArticleGrpc::new(self.archive.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }

    pub(super) fn metadata_service(&self) -> MetadataServiceServer<MetadataGrpc> {
        let max = self.settings.server.max_message_bytes;
        MetadataServiceServer::new(MetadataGrpc::new(self.archive.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }

    pub(super) fn media_service(&self) -> MediaServiceServer<MediaGrpc> {
        let max = self.settings.server.max_message_bytes;
        MediaServiceServer::new(MediaGrpc::new(self.archive.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }

    /// The host of the gateway's public URL (the address it is bound to
    /// when none is set).
    pub(super) fn gateway_host(&self) -> String {
        let url = &self.archive.gateway_base_url;
        url.parse::<axum::http::Uri>().ok().and_then(|uri| uri.host().map(str::to_owned)).unwrap_or_default()
    }

    /// The console's sessions: signed by the gateway's keys, `Secure` when
    /// the gateway is reached over HTTPS.
    pub(super) fn sessions(&self) -> Sessions {
        let gateway = &self.settings.gateway;
        let public_url = self.settings.server.gateway_public_url.as_deref().unwrap_or_default();
        let secure = public_url.get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
        if !self.auth.is_on() {
            tracing::warn!(
                "the web console is on without tokens: whoever reaches the gateway may change the archive \
                 through it; configure [auth] tokens_file or set gateway.console = false"
            );
        } else if !secure {
            tracing::warn!(
                "console session cookies go without Secure: set server.gateway_public_url to the https:// \
                 URL viewers use, unless the gateway is reached over plain HTTP on purpose"
            );
        }
        Sessions::new(
            self.archive.signer().clone(),
            Duration::from_secs(gateway.console_session_seconds.max(60)),
            secure,
        )
    }
}
