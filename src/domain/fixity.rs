//! Fixity audits: every object a record names (article bodies, clip
//! originals and renditions) re-read from storage and compared with the
//! size and SHA-256 its record holds, at a bounded read rate so that an
//! audit never starves playback. The scheduled job (`fixity.*` settings)
//! and the AuditFixity RPC both run [`Archive::audit_fixity`].
//!
//! Objects are read one at a time, each key once however many records share
//! it, in key order page by page: memory does not grow with the archive.
//! An object that vanished because its record was deleted meanwhile is not
//! a problem; one that is gone while a record still names it is missing.

use super::Archive;
use crate::{
    blob::{BlobError, BlobKey, BlobStore},
    config::FIXITY_BYTES_PER_SECOND,
    error::{ArchiveError, Reason, Result},
    metadata::{FixityReport, ObjectIndex, ObjectKind, ObjectRef, StoreStatus},
};
use futures::{Stream, TryStreamExt};
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::{num::NonZeroU32, sync::Arc, time::Instant};
use tokio::sync::mpsc;

/// Records listed at once.
const PAGE: u32 = 500;
/// Events buffered for a slow reader of the audit; past that the audit waits.
const EVENTS_BUFFERED: usize = 16;

/// What to audit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixityAudit {
    /// Fraction of the objects checked, each picked at random, in (0, 1].
    pub sample_fraction: f64,
    /// Read rate; `fixity.bytes_per_second` when `None`, and never above it.
    pub bytes_per_second: Option<u64>,
}

impl Default for FixityAudit {
    fn default() -> Self {
        Self { sample_fraction: 1.0, bytes_per_second: None }
    }
}

/// How a stored object differs from its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The bytes stored differ: their size, and their SHA-256 when the size
    /// matched.
    Mismatched { size_bytes: u64, sha256: Option<String> },
    /// A record names the object; the store does not hold it.
    Missing,
}

/// A stored object that is not what its record says.
#[derive(Debug, Clone, PartialEq)]
pub struct FixityProblem {
    pub kind: ObjectKind,
    /// The key and what its record holds.
    pub expected: ObjectRef,
    pub damage: Damage,
}

/// An audit's output: its problems as found, then its report.
#[derive(Debug, Clone, PartialEq)]
pub enum FixityEvent {
    Problem(FixityProblem),
    Finished(FixityReport),
}

/// What reading one object gave.
enum Checked {
    Intact,
    Damaged(Damage),
    /// Gone, and no record names it any more: deleted while the audit ran.
    Deleted,
}

impl Archive {
    /// Starts an audit and streams what it finds; it stops when the stream
    /// is dropped. The stream ends after [`FixityEvent::Finished`], or with
    /// the error that stopped the audit (storage or database unavailable).
    pub fn audit_fixity(&self, audit: FixityAudit) -> Result<impl Stream<Item = Result<FixityEvent>> + Send + 'static> {
        let fraction = audit.sample_fraction;
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(ArchiveError::new(
                Reason::InvalidAuditOption,
                format!("sample_fraction must be within (0, 1], got {fraction}"),
            ));
        }
        let ceiling = self.fixity.bytes_per_second;
        let rate = match audit.bytes_per_second {
            None => ceiling,
            Some(rate) if FIXITY_BYTES_PER_SECOND.contains(&rate) => rate.min(ceiling),
            Some(rate) => {
                return Err(ArchiveError::new(
                    Reason::InvalidAuditOption,
                    format!(
                        "bytes_per_second must be within {}..{}, got {rate}",
                        FIXITY_BYTES_PER_SECOND.start(),
                        FIXITY_BYTES_PER_SECOND.end()
                    ),
                ));
            }
        };
        // Every audit shares the server's ceiling; one asked to go slower
        // also keeps its own rate.
        let own = (rate < ceiling).then(|| Arc::new(Pace::new(rate)));
        let pace = Paces { shared: self.fixity_pace.clone(), own };
        let (events, receiver) = mpsc::channel(EVENTS_BUFFERED);
        let auditor = Auditor { blobs: self.blobs.clone(), records: self.metadata.clone() };
        let status: Arc<dyn StoreStatus> = self.metadata.clone();
        tokio::spawn(async move {
            let outcome = auditor.run_audit(fraction, &pace, &events).await;
            match outcome {
                Ok(Some(report)) => {
                    crate::metrics::fixity_finished(report.damaged());
                    // Kept for GetArchiveStatistics (the console shows the last one).
                    if let Err(error) = status.record_fixity_audit(&report).await {
                        tracing::warn!(error = ?error.source, "fixity audit not recorded: {}", error.message);
                    }
                    let _ = events.send(Ok(FixityEvent::Finished(report))).await;
                }
                Ok(None) => tracing::info!("fixity audit stopped: its caller went away"),
                Err(error) => {
                    tracing::warn!(error = ?error.source, "fixity audit failed: {}", error.message);
                    let _ = events.send(Err(error)).await;
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(receiver))
    }

    /// The scheduled audit: runs one to its end (problems are logged) and
    /// returns how many objects it checked.
    pub async fn scheduled_fixity_audit(&self, audit: FixityAudit) -> Result<usize> {
        let mut events = std::pin::pin!(self.audit_fixity(audit)?);
        while let Some(event) = events.try_next().await? {
            if let FixityEvent::Finished(report) = event {
                return Ok(report.checked as usize);
            }
        }
        Err(ArchiveError::internal("auditing fixity", anyhow::anyhow!("the audit ended without a report")))
    }
}

/// What an audit reads: the stored objects, and the records naming them.
struct Auditor {
    blobs: Arc<dyn BlobStore>,
    records: Arc<dyn ObjectIndex>,
}

impl Auditor {
    /// The audit itself; `None` when the reader went away.
    async fn run_audit(
        &self,
        fraction: f64,
        pace: &Paces,
        events: &mpsc::Sender<Result<FixityEvent>>,
    ) -> Result<Option<FixityReport>> {
        let (start_time, started) = (chrono::Utc::now(), Instant::now());
        let mut report = FixityReport {
            checked: 0,
            mismatched: 0,
            missing: 0,
            skipped: 0,
            bytes_read: 0,
            start_time,
            duration: Default::default(),
        };
        tracing::info!(sample_fraction = fraction, "fixity audit started");
        for kind in ObjectKind::ALL {
            let mut after: Option<BlobKey> = None;
            loop {
                let page = self.records.recorded_objects(kind, after.as_ref(), PAGE).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.key.clone());
                for object in page {
                    if events.is_closed() {
                        return Ok(None);
                    }
                    if fraction < 1.0 && rand::random::<f64>() >= fraction {
                        report.skipped += 1;
                        continue;
                    }
                    let (checked, bytes_read) = self.check_object(&object, pace).await?;
                    report.bytes_read += bytes_read;
                    let damage = match checked {
                        Checked::Deleted => continue,
                        Checked::Intact => {
                            report.checked += 1;
                            crate::metrics::fixity_object(kind.as_str(), "ok", bytes_read);
                            continue;
                        }
                        Checked::Damaged(damage) => damage,
                    };
                    let result = match damage {
                        Damage::Missing => {
                            report.missing += 1;
                            "missing"
                        }
                        Damage::Mismatched { .. } => {
                            report.checked += 1;
                            report.mismatched += 1;
                            "mismatched"
                        }
                    };
                    crate::metrics::fixity_object(kind.as_str(), result, bytes_read);
                    let problem = FixityProblem { kind, expected: object, damage };
                    log_problem(&problem);
                    if events.send(Ok(FixityEvent::Problem(problem))).await.is_err() {
                        return Ok(None);
                    }
                }
            }
        }
        report.duration = started.elapsed();
        let (checked, mismatched, missing) = (report.checked, report.mismatched, report.missing);
        if report.damaged() > 0 {
            tracing::error!(checked, mismatched, missing, bytes = report.bytes_read, "fixity audit found damage");
        } else {
            tracing::info!(checked, mismatched, missing, bytes = report.bytes_read, "fixity audit finished");
        }
        Ok(Some(report))
    }

    /// Reads one object at the audit's rate; returns what it is and the
    /// bytes read.
    async fn check_object(&self, object: &ObjectRef, pace: &Paces) -> Result<(Checked, u64)> {
        let Some(size) = self.blobs.head(&object.key).await? else {
            return Ok((self.gone(&object.key).await?, 0));
        };
        if size != object.size_bytes {
            return Ok((Checked::Damaged(Damage::Mismatched { size_bytes: size, sha256: None }), 0));
        }
        let mut stream = match self.blobs.get(&object.key, 0..size).await {
            Ok(stream) => stream,
            Err(BlobError::NotFound { .. }) => return Ok((self.gone(&object.key).await?, 0)),
            Err(error) => return Err(error.into()),
        };
        let (mut hash, mut read) = (Sha256::new(), 0u64);
        loop {
            let chunk = match stream.try_next().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // Deleted mid-read, or the store failed.
                Err(error) => match self.blobs.head(&object.key).await? {
                    None => return Ok((self.gone(&object.key).await?, read)),
                    Some(_) => return Err(ArchiveError::unavailable("reading an object to audit", error)),
                },
            };
            hash.update(&chunk);
            read += chunk.len() as u64;
            pace.pay(chunk.len()).await;
        }
        let sha256 = hex::encode(hash.finalize());
        if read == object.size_bytes && sha256 == object.sha256 {
            Ok((Checked::Intact, read))
        } else {
            Ok((Checked::Damaged(Damage::Mismatched { size_bytes: read, sha256: Some(sha256) }), read))
        }
    }

    /// An object the store does not hold: missing if a record still names it.
    async fn gone(&self, key: &BlobKey) -> Result<Checked> {
        let named = self.records.referenced_objects(std::slice::from_ref(key)).await?;
        Ok(if named.contains(key) { Checked::Damaged(Damage::Missing) } else { Checked::Deleted })
    }
}

/// An audit's rates: the server's, shared by every audit, and its own
/// when it asked for less.
struct Paces {
    shared: Arc<Pace>,
    own: Option<Arc<Pace>>,
}

impl Paces {
    async fn pay(&self, bytes: usize) {
        if let Some(own) = &self.own {
            own.pay(bytes).await;
        }
        self.shared.pay(bytes).await;
    }
}

/// How much of a second's reads may come at once: 1/16, so that an audit
/// (or the first second of one) is never read faster than its rate by more
/// than that and one chunk.
const BURST_FRACTION: u32 = 16;

/// Reads paced to a rate; a sixteenth of a second's worth may come at once.
pub(crate) struct Pace {
    limiter: governor::DefaultDirectRateLimiter,
    burst: u32,
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pace").field("burst_bytes", &self.burst).finish()
    }
}

impl Pace {
    /// At most `bytes_per_second` (clamped to 1..u32::MAX).
    pub(crate) fn new(bytes_per_second: u64) -> Self {
        let rate = NonZeroU32::new(u32::try_from(bytes_per_second).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.get() / BURST_FRACTION).unwrap_or(NonZeroU32::MIN);
        Self { limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)), burst: burst.get() }
    }

    /// Waits until `bytes` more fit the rate, in pieces of at most the burst.
    async fn pay(&self, bytes: usize) {
        let mut left = u64::try_from(bytes).unwrap_or(u64::MAX);
        while let Some(piece) = NonZeroU32::new(left.min(u64::from(self.burst)) as u32) {
            // A piece within the burst always fits, once enough time passed.
            let _ = self.limiter.until_n_ready(piece).await;
            left -= u64::from(piece.get());
        }
    }
}

fn log_problem(problem: &FixityProblem) {
    let (kind, key) = (problem.kind.as_str(), problem.expected.key.as_str());
    let (expected_size, expected_sha256) = (problem.expected.size_bytes, problem.expected.sha256.as_str());
    match &problem.damage {
        Damage::Missing => tracing::error!(kind, key, expected_size, "fixity: a recorded object is missing"),
        Damage::Mismatched { size_bytes, sha256 } => tracing::error!(
            kind,
            key,
            expected_size,
            expected_sha256,
            actual_size = size_bytes,
            actual_sha256 = sha256.as_deref().unwrap_or(""),
            "fixity: a stored object differs from its record"
        ),
    }
}
