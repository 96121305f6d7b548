//! Rebuilding an empty metadata database from the bucket alone.

use crate::{
    blob::{BlobKey, BlobStore},
    domain::manifest::{self, ArticleManifest, MediaManifest},
    error::ErrorKind,
    format::captions,
    metadata::{ArticleStore, CaptionStore, MediaStore, ObjectIndex, PictureStore, PosterStore, SearchText},
};
use anyhow::{Context, bail};
use futures::TryStreamExt;

/// What a reindex found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReindexReport {
    pub articles: usize,
    pub media: usize,
    /// Manifests that could not be used (unreadable, or naming missing bytes).
    pub skipped: Vec<String>,
}

async fn read_json<T: serde::de::DeserializeOwned>(blobs: &dyn BlobStore, key: &BlobKey) -> anyhow::Result<T> {
    manifest::read(blobs, key).await?.context("manifest vanished")
}

/// Checks that an object a manifest names exists with the recorded size.
async fn check_object(blobs: &dyn BlobStore, key: &BlobKey, size: u64) -> anyhow::Result<()> {
    match blobs.head(key).await? {
        Some(found) if found == size => Ok(()),
        Some(found) => bail!("{key} has {found} bytes, the manifest says {size}"),
        None => bail!("{key} is missing"),
    }
}

/// Records every clip and article described by manifests in `blobs` into
/// `metadata`, which must be empty (any store with these traits, such as a
/// `dyn MetadataStore`).
pub async fn rebuild(
    blobs: &dyn BlobStore,
    metadata: &(impl ObjectIndex + MediaStore + CaptionStore + PosterStore + PictureStore + ArticleStore + ?Sized),
) -> anyhow::Result<ReindexReport> {
    anyhow::ensure!(metadata.is_empty().await?, "the metadata database is not empty; reindex fills an empty one");
    let mut report = ReindexReport::default();

    let mut keys = blobs.list("media/").try_filter(|key| std::future::ready(key.is_manifest()));
    while let Some(key) = keys.try_next().await? {
        let restored = async {
            let manifest: MediaManifest = read_json(blobs, &key).await?;
            let record = manifest.to_record()?;
            check_object(blobs, &record.object.key, record.object.size_bytes).await?;
            if let Some(rendition) = &record.rendition {
                check_object(blobs, &rendition.key, rendition.size_bytes).await?;
            }
            // A track's words (for search) are read again from its served file.
            let mut tracks = Vec::new();
            for track in manifest.caption_tracks()? {
                check_object(blobs, &track.source.key, track.source.size_bytes).await?;
                check_object(blobs, &track.served.key, track.served.size_bytes).await?;
                let served = blobs.get_bytes(&track.served.key, track.served.size_bytes).await?;
                let cues = captions::read(&served).with_context(|| format!("{} does not read", track.served.key))?;
                tracks.push((track, cues.timed_texts()));
            }
            let poster = manifest.poster()?;
            if let Some(poster) = &poster {
                check_object(blobs, &poster.object.key, poster.object.size_bytes).await?;
            }
            // A picture is derived: one whose object is gone is left out (made
            // again on request), never the clip.
            let mut pictures = Vec::new();
            for picture in manifest.pictures()? {
                let checked = match &picture {
                    Ok(picture) => check_object(blobs, &picture.object.key, picture.object.size_bytes).await,
                    Err(error) => Err(anyhow::anyhow!("{}", error.message)),
                };
                match (picture, checked) {
                    (Ok(picture), Ok(())) => pictures.push(picture),
                    (_, Err(error)) => tracing::warn!(%key, %error, "left out a picture"),
                    (Err(_), Ok(())) => {}
                }
            }
            metadata.insert_media(&record).await?;
            metadata.restore_caption_tracks(&tracks).await?;
            if let Some(poster) = &poster {
                metadata.restore_poster(poster).await?;
            }
            metadata.restore_pictures(&pictures).await?;
            anyhow::Ok(())
        };
        match restored.await {
            Ok(()) => report.media += 1,
            Err(error) => {
                tracing::warn!(%key, %error, "skipped a media manifest");
                report.skipped.push(format!("{key}: {error:#}"));
            }
        }
    }

    let mut keys = blobs.list("articles/").try_filter(|key| std::future::ready(key.is_manifest()));
    while let Some(key) = keys.try_next().await? {
        let restored = async {
            let manifest: ArticleManifest = read_json(blobs, &key).await?;
            let mut export = manifest.to_export()?;
            for revision in &export.revisions {
                check_object(blobs, &revision.body.key, revision.body.size_bytes).await?;
            }
            // Clips linked here but without a manifest of their own. One
            // whose bytes are gone (deleted while this manifest could not be
            // rewritten) is left out, and its link with it.
            let mut missing = Vec::new();
            for media in &export.media {
                let mut stored = true;
                for object in std::iter::once(&media.object).chain(&media.rendition) {
                    stored &= blobs.head(&object.key).await? == Some(object.size_bytes);
                }
                if !stored {
                    tracing::warn!(%key, media = %media.id, "left out a linked clip whose bytes are gone");
                    missing.push(media.id.clone());
                    continue;
                }
                match metadata.insert_media(media).await {
                    Err(e) if e.kind != ErrorKind::AlreadyExists => return Err(e.into()),
                    _ => {}
                }
            }
            if !missing.is_empty() {
                export.media.retain(|media| !missing.contains(&media.id));
                for record in std::iter::once(&mut export.current).chain(&mut export.revisions) {
                    // A reference of the body stays, without its clip; an added one goes.
                    record.media.retain_mut(|link| {
                        if !link.media_id.as_ref().is_some_and(|m| missing.contains(m)) {
                            return true;
                        }
                        link.media_id = None;
                        link.in_body
                    });
                }
            }
            let current = &export.current;
            let body = blobs.get_bytes(&current.body.key, current.body.size_bytes).await?;
            let body = String::from_utf8(body.to_vec()).context("body is not UTF-8")?;
            metadata.restore_article(&export, &SearchText { body }).await?;
            anyhow::Ok(())
        };
        match restored.await {
            Ok(()) => report.articles += 1,
            Err(error) => {
                tracing::warn!(%key, %error, "skipped an article manifest");
                report.skipped.push(format!("{key}: {error:#}"));
            }
        }
    }
    Ok(report)
}
