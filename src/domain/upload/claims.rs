//! Claims on resumable uploads: while a stream of this process writes an
//! upload, no other stream of this process does (another replica's stream
//! is kept off by the session's compare-and-swap progress).

use crate::error::Reason;
use crate::{
    domain::Archive,
    error::{ArchiveError, Result},
    ids::UploadId,
};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

/// How long a new stream waits for an earlier stream of the same upload
/// (in this process) to record its last parts.
const CLAIM_WAIT: Duration = Duration::from_secs(15);
/// Uploads a stream of this process is writing.
#[derive(Debug, Default)]
pub(crate) struct ActiveUploads {
    ids: Mutex<HashSet<UploadId>>,
    /// Wakes the streams waiting for a claim whenever one is released.
    released: tokio::sync::Notify,
}

impl ActiveUploads {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<UploadId>> {
        self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A claim on an upload: while it lives, no other stream of this process
/// writes the upload.
pub(crate) struct ActiveUpload {
    active: Arc<ActiveUploads>,
    id: UploadId,
}

impl Drop for ActiveUpload {
    fn drop(&mut self) {
        self.active.ids().remove(&self.id);
        self.active.released.notify_waiters();
    }
}

impl Archive {
    /// Waits until no other stream of this process writes upload `id`.
    pub(super) async fn claim_upload(&self, id: &UploadId) -> Result<ActiveUpload> {
        let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
        loop {
            // Created before the attempt, so a release in between still wakes it.
            let released = self.active_uploads.released.notified();
            if let Some(claim) = self.try_claim(id) {
                return Ok(claim);
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Err(ArchiveError::new(
                    Reason::UploadBusy,
                    format!("another stream is still writing upload {id}; retry later"),
                ));
            }
        }
    }

    pub(super) fn try_claim(&self, id: &UploadId) -> Option<ActiveUpload> {
        let claimed = self.active_uploads.ids().insert(id.clone());
        claimed.then(|| ActiveUpload { active: self.active_uploads.clone(), id: id.clone() })
    }
}
