//! The commit of a finished upload: identical bytes shared instead of
//! stored twice, an MP4 probed (and given a faststart rendition when its
//! moov comes last), then the record, all or nothing.

use super::stream::MediaUpload;
use crate::{
    domain::{Archive, now},
    error::{ArchiveError, Reason, Result},
    format::{
        media_type,
        mp4::{self, FaststartPlan, Mp4Info},
    },
    metadata::{MediaRecord, ObjectRef},
};
use sha2::Digest;

impl MediaUpload {
    pub(super) async fn commit(self) -> Result<MediaRecord> {
        let (sha256, crc32c) = (hex::encode(self.hasher.clone().finalize()), self.writer.crc32c());
        let Self { archive, id, filename, content_type, writer, size, mut parts, session, .. } = self;
        let upload_id = session.map(|session| {
            parts.extend(session.landed.into_values());
            session.id
        });
        let key = writer.key().clone();
        let record_it = async |record: &MediaRecord, shared: bool| match &upload_id {
            // The session knows its own object: any other is shared.
            Some(upload) => archive.metadata.finish_upload(upload, record, archive.upload_expire_time()).await,
            None if shared => archive.metadata.insert_media_copy(record).await,
            None => archive.metadata.insert_media(record).await,
        };
        // Identical bytes are stored once: share them and drop this copy,
        // unless they are being deleted meanwhile.
        let is_mp4 = media_type::is_mp4(&content_type);
        // Shared bytes never checked as MP4 do not become one: these are
        // checked below like any new bytes.
        let shared = archive.metadata.find_media_by_content(&sha256, size).await?;
        if let Some(stored) = shared.filter(|stored| !is_mp4 || stored.mp4.is_some()) {
            let record = MediaRecord {
                id: id.clone(),
                filename: filename.clone(),
                content_type: content_type.clone(),
                object: stored.object,
                crc32c,
                mp4: stored.mp4,
                rendition: stored.rendition,
                create_time: now(),
                revision: 1,
            };
            match record_it(&record, true).await {
                Ok(()) => {
                    if let Err(error) = writer.abort().await {
                        tracing::warn!(media = %record.id, error = ?error, "duplicate bytes not discarded");
                    }
                    archive.stored(&record, upload_id.as_ref()).await;
                    return Ok(record);
                }
                Err(error) if error.reason == Reason::CopySourceGone => {}
                Err(error) => {
                    if let Err(abort) = writer.abort().await {
                        tracing::warn!(media = %record.id, error = ?abort, "upload not aborted");
                    }
                    return Err(error);
                }
            }
        }
        writer.finish(parts).await?;
        let object = ObjectRef { key, size_bytes: size, sha256 };
        let (mp4, plan) = if is_mp4 {
            match archive.inspect(&object).await {
                Ok((info, plan)) => (Some(info), plan),
                Err(reason) => {
                    archive.discard(&object.key).await;
                    archive.forget_upload(upload_id.as_ref()).await;
                    return Err(ArchiveError::new(
                        Reason::NotMp4,
                        format!("the clip is declared as {} but {reason}; nothing was stored", media_type::MP4),
                    ));
                }
            }
        } else {
            (None, None)
        };
        let rendition = match plan {
            Some(plan) => archive.write_faststart_rendition(&id, &object, &content_type, plan).await,
            None => None,
        };
        let record =
            MediaRecord { id, filename, content_type, object, crc32c, mp4, rendition, create_time: now(), revision: 1 };
        if let Err(error) = record_it(&record, false).await {
            for key in std::iter::once(&record.object).chain(&record.rendition).map(|o| &o.key) {
                archive.discard(key).await;
            }
            return Err(error);
        }
        archive.stored(&record, upload_id.as_ref()).await;
        Ok(record)
    }
}

impl Archive {
    /// What follows a recorded clip: its manifest, its poster, and the
    /// tail its upload kept (the parts took the bytes in).
    async fn stored(&self, record: &MediaRecord, upload: Option<&crate::ids::UploadId>) {
        self.write_media_manifest_logged(record).await;
        self.spawn_poster(record);
        if let Some(upload) = upload
            && let Err(error) = self.drop_upload_tails(upload).await
        {
            tracing::warn!(%upload, error = ?error, "an upload's tail is left for its expiry");
        }
    }

    /// Probes a stored MP4 and plans its faststart rendition when it needs one.
    async fn inspect(&self, object: &ObjectRef) -> std::result::Result<(Mp4Info, Option<FaststartPlan>), String> {
        let max_moov_bytes = self.media_settings.max_moov_bytes;
        let layout =
            crate::domain::scan_stored(self.blobs.as_ref(), &object.key, object.size_bytes, max_moov_bytes).await?;
        mp4::run_parser(move || {
            let info = mp4::probe::probe(&layout)?;
            let plan = if info.faststart {
                None
            } else {
                match mp4::faststart::plan(&layout, max_moov_bytes) {
                    Ok(plan) => plan,
                    Err(reason) => {
                        // Still a valid archive entry; it just plays from the original.
                        tracing::warn!(%reason, "no faststart rendition");
                        None
                    }
                }
            };
            Ok((info, plan))
        })
        .await
    }
}
