//! Pictures derived from a clip (the thumbnails made so far, its
//! storyboard) kept like its other files: the bytes under a key of their
//! own, then a record, then the clip's manifest. So a rebuild from the
//! bucket restores them, fixity audits cover them, the clip's deletion
//! removes them and the sweep collects what a crash left without a record.
//! They carry no change in the feed and leave the clip's etag alone, like
//! the poster made after upload: they are derived, and made again when
//! missing.

use super::{Archive, run_to_completion};
use crate::{
    blob::{BlobError, BlobKey},
    error::Result,
    ids::MediaId,
    metadata::{MediaRecord, ObjectRef, PictureAdded, PictureRecord},
};
use bytes::Bytes;

/// A stored picture looked up by name.
pub(super) struct StoredPicture {
    /// Its bytes, when recorded and readable.
    pub bytes: Option<Bytes>,
    /// How many pictures the clip has stored.
    pub stored: u32,
}

impl Archive {
    /// The clip's picture `name`, if stored. A record whose object is gone
    /// is forgotten (the picture is made again, under a new record).
    pub(super) async fn stored_picture(&self, media: &MediaId, name: &str) -> Result<StoredPicture> {
        let lookup = self.metadata.picture(media, name).await?;
        let Some(found) = lookup.found else { return Ok(StoredPicture { bytes: None, stored: lookup.stored }) };
        match self.blobs.get_bytes(&found.object.key, found.object.size_bytes).await {
            Ok(bytes) => Ok(StoredPicture { bytes: Some(bytes), stored: lookup.stored }),
            Err(BlobError::NotFound { key }) => {
                tracing::warn!(%key, media = %media, picture = name, "a recorded picture is missing; made again");
                self.metadata.remove_picture(media, name, &key).await?;
                Ok(StoredPicture { bytes: None, stored: lookup.stored.saturating_sub(1) })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Keeps `bytes` as the clip's picture `name` (its extension names the
    /// object's), then writes the clip's manifest; whether it was kept.
    /// Nothing stays when the clip has `bound` pictures already, another
    /// request kept one of that name first, or the clip is gone.
    pub(super) async fn keep_picture(
        &self,
        media: &MediaRecord,
        name: String,
        bytes: Bytes,
        content_type: &'static str,
        bound: Option<u32>,
    ) -> Result<bool> {
        let extension = name.rsplit_once('.').map_or("bin", |(_, extension)| extension);
        let picture = PictureRecord {
            media_id: media.id.clone(),
            object: ObjectRef::of(BlobKey::new_picture(&media.id, extension), &bytes),
            name,
            content_type: content_type.to_owned(),
            create_time: super::now(),
        };
        let (archive, media) = (self.clone(), media.clone());
        run_to_completion(async move {
            let key = &picture.object.key;
            archive.blobs.put(key, bytes, content_type).await?;
            let added = match archive.metadata.add_picture(&picture, bound).await {
                Ok(added) => added,
                Err(error) => {
                    archive.discard(key).await;
                    return Err(error);
                }
            };
            if added != PictureAdded::Added {
                archive.discard(key).await;
                return Ok(false);
            }
            archive.write_media_manifest_logged(&media).await;
            Ok(true)
        })
        .await
    }
}
