//! Readiness: a cheap check of object storage and the database every few
//! seconds. While either fails, grpc.health reports the three services
//! NOT_SERVING and the gateway's `/readyz` answers 503; both turn back
//! when the check passes again. Shutdown turns them NOT_SERVING for good.

use crate::{
    blob::BlobKey,
    domain::Archive,
    proto::v1::{
        article_service_server::ArticleServiceServer, media_service_server::MediaServiceServer,
        metadata_service_server::MetadataServiceServer,
    },
    service::{ArticleGrpc, MediaGrpc, MetadataGrpc},
};
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;
use tonic_health::server::HealthReporter;

/// A check slower than this counts as a failure.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether archived should get traffic: shared by grpc.health and `/readyz`.
#[derive(Debug, Clone)]
pub struct Readiness {
    ready: watch::Sender<bool>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self { ready: watch::Sender::new(true) }
    }
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Follows readiness (the gateway's `/readyz`).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// Returns whether this changed it.
    pub fn set(&self, ready: bool) -> bool {
        self.ready.send_if_modified(|current| std::mem::replace(current, ready) != ready)
    }
}

/// Why a backend is not usable, or `Ok`.
async fn check(archive: &Archive) -> Result<(), String> {
    let probe = BlobKey::parse("readiness-probe").expect("a valid key");
    let storage = tokio::time::timeout(CHECK_TIMEOUT, archive.blobs().head(&probe));
    let database = tokio::time::timeout(CHECK_TIMEOUT, archive.metadata().ping());
    let (storage, database) = tokio::join!(storage, database);
    match (storage, database) {
        (Ok(Ok(_)), Ok(Ok(()))) => Ok(()),
        (Err(_), _) => Err("object storage did not answer in time".into()),
        (Ok(Err(error)), _) => Err(format!("object storage: {error}")),
        (_, Err(_)) => Err("the database did not answer in time".into()),
        (_, Ok(Err(error))) => Err(format!("the database: {}", error.message)),
    }
}

pub async fn set_all(health: &HealthReporter, serving: bool) {
    let status = if serving { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
    health.set_service_status("", status).await;
    health.set_service_status(<ArticleServiceServer<ArticleGrpc> as tonic::server::NamedService>::NAME, status).await;
    health.set_service_status(<MetadataServiceServer<MetadataGrpc> as tonic::server::NamedService>::NAME, status).await;
    health.set_service_status(<MediaServiceServer<MediaGrpc> as tonic::server::NamedService>::NAME, status).await;
}

/// Checks every `interval` until stopped, flipping health on each change.
pub fn spawn(
    archive: Archive,
    health: HealthReporter,
    readiness: Arc<Readiness>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            let outcome = check(&archive).await;
            if readiness.set(outcome.is_ok()) {
                match &outcome {
                    Ok(()) => tracing::info!("backends answer again: SERVING"),
                    Err(why) => tracing::error!("not ready, NOT_SERVING: {why}"),
                }
                set_all(&health, outcome.is_ok()).await;
            }
        }
    });
}
