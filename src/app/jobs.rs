//! The background jobs every replica runs, each on its own interval until
//! the drain starts: purge, upload janitor, change feed chores, sweep,
//! fixity (when scheduled), view flush, metrics upkeep; the search index's
//! projection of the change feed and the article cache's consumer; and the tokens
//! file's reload on SIGHUP.

use crate::{
    config::Settings,
    domain::{Archive, FixityAudit},
    search::projection::Projection,
    service::auth::Auth,
};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::sync::watch;

/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP_SECONDS: u64 = 5;
/// How often the change feed's chores run: manifest repair, then pruning.
const CHANGE_FEED_CHORES_SECONDS: u64 = 60;

/// Starts every job on `archive`, as `settings` schedule them.
pub(super) fn spawn_all(shared: &Archive, settings: &Settings, stop: &watch::Receiver<bool>) {
    let archive = shared.clone();
    let purge_interval = settings.retention.purge_interval_seconds;
    spawn_periodic("purge", First::AtStart, purge_interval, stop.clone(), move || {
        let archive = archive.clone();
        async move { archive.purge_expired().await }
    });
    let archive = shared.clone();
    let janitor_interval = settings.media.upload_janitor_interval_seconds;
    spawn_periodic("upload_janitor", First::AtStart, janitor_interval, stop.clone(), move || {
        let archive = archive.clone();
        async move { archive.expire_uploads().await }
    });
    let archive = shared.clone();
    spawn_periodic("change_feed", First::AtStart, CHANGE_FEED_CHORES_SECONDS, stop.clone(), move || {
        let archive = archive.clone();
        // Manifests a crash left behind, then changes past the feed's
        // retention (never ones the repair has not seen).
        async move {
            let repaired = archive.repair_manifests(crate::domain::manifest::REPAIR_LAG).await?;
            Ok(repaired + archive.prune_changes().await?)
        }
    });
    let archive = shared.clone();
    let (sweep_interval, grace) =
        (settings.retention.sweep_interval_seconds, Duration::from_secs(settings.retention.unreferenced_grace_seconds));
    spawn_periodic("sweep", First::AtStart, sweep_interval, stop.clone(), move || {
        let archive = archive.clone();
        async move { archive.sweep_unreferenced(grace).await.map(|report| report.deleted + report.aborted_uploads) }
    });
    let archive = shared.clone();
    let fixity = settings.fixity.clone();
    spawn_periodic("fixity", First::AfterInterval, fixity.interval_seconds, stop.clone(), move || {
        let archive = archive.clone();
        let audit = FixityAudit { sample_fraction: fixity.sample_fraction, bytes_per_second: None };
        async move { archive.scheduled_fixity_audit(audit).await }
    });
    let archive = shared.clone();
    let flush_interval = settings.metadata.view_flush_interval_seconds;
    spawn_periodic("view_flush", First::AtStart, flush_interval, stop.clone(), move || {
        let archive = archive.clone();
        async move { archive.flush_views().await }
    });

    // The change feed's consumers in this process.
    tokio::spawn(shared.article_cache().clone().follow(shared.metadata().clone(), cancelled_on(stop)));
    if let Some(index) = shared.search_index() {
        let metadata = shared.metadata().clone();
        let projection = Projection::new(index.clone(), metadata.clone(), metadata);
        tokio::spawn(projection.run(cancelled_on(stop)));
    }

    spawn_periodic("metrics_upkeep", First::AtStart, METRICS_UPKEEP_SECONDS, stop.clone(), || async {
        crate::metrics::upkeep();
        Ok(0)
    });
}

/// A token cancelled when `stop` turns true.
fn cancelled_on(stop: &watch::Receiver<bool>) -> tokio_util::sync::CancellationToken {
    let ending = tokio_util::sync::CancellationToken::new();
    let (mut stop, cancel) = (stop.clone(), ending.clone());
    tokio::spawn(async move {
        let _ = stop.wait_for(|stop| *stop).await;
        cancel.cancel();
    });
    ending
}

/// Re-reads the tokens file on every SIGHUP until stopped.
pub(super) fn spawn_auth_reload(auth: Arc<Auth>, mut stop: watch::Receiver<bool>) {
    #[cfg(unix)]
    if auth.is_on() {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be caught: the tokens file is read at start only");
            return;
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = hangups.recv() => match auth.reload() {
                        Ok(count) => tracing::info!(count, "tokens file re-read"),
                        Err(error) => tracing::error!("tokens file not re-read, the old tokens stay: {error:#}"),
                    },
                    _ = stop.changed() => return,
                }
            }
        });
    }
}

/// When a periodic job first runs.
enum First {
    AtStart,
    AfterInterval,
}

/// Runs `task` every `interval_seconds` until stopped (never when 0);
/// `name` labels its logs and metrics.
fn spawn_periodic<F, Fut>(
    name: &'static str,
    first: First,
    interval_seconds: u64,
    mut stop: watch::Receiver<bool>,
    task: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = crate::Result<usize>> + Send,
{
    if interval_seconds == 0 {
        return;
    }
    tokio::spawn(async move {
        let period = Duration::from_secs(interval_seconds);
        let start = match first {
            First::AtStart => tokio::time::Instant::now(),
            First::AfterInterval => tokio::time::Instant::now() + period,
        };
        let mut ticks = tokio::time::interval_at(start, period);
        // A run longer than the interval is followed by a full interval, not at once.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => match task().await {
                    Ok(count) => {
                        crate::metrics::job(name, Ok(count));
                        if count > 0 {
                            tracing::info!(job = name, count, "background job done");
                        }
                    }
                    Err(error) => {
                        crate::metrics::job(name, Err(()));
                        tracing::warn!(job = name, error = ?error.source, "background job failed: {}", error.message);
                    }
                },
                _ = stop.changed() => return,
            }
        }
    });
}
