//! Caption tracks in SQL, and how any change of a clip's files runs: it
//! locks the clip's row, checks the etag it was asked to match, writes,
//! bumps the clip's revision and records the change, in one transaction.

use super::{
    Dialect, SqlMetadataStore,
    errors::{media_not_found, stored_id, stored_key},
    rows::{from_micros, media_from_row, micros},
    timing::timed,
};
use crate::{
    error::{ArchiveError, Reason, Result},
    format::captions::{CaptionFormat, TimedText, TrackKind},
    ids::MediaId,
    metadata::{CaptionStore, CaptionTrackRecord, MediaRecord, ObjectRef, TrackChange, changes::Change},
};
use async_trait::async_trait;
use sqlx::{Any, AssertSqlSafe, Executor, Row, Transaction, any::AnyRow};

const TRACK_COLUMNS: &str = "media_id, track_id, language, kind, label, source_format, source_key, source_size, \
     source_sha256, served_key, served_size, served_sha256, cue_count, end_ms, update_time_us";

fn track_from_row(row: &AnyRow) -> Result<CaptionTrackRecord> {
    let damaged = |what: &str, value: &str| {
        ArchiveError::internal("reading metadata", anyhow::anyhow!("bad stored caption {what} {value:?}"))
    };
    let kind: String = row.try_get("kind")?;
    let format: String = row.try_get("source_format")?;
    Ok(CaptionTrackRecord {
        media_id: stored_id(MediaId::parse, &row.try_get::<String, _>("media_id")?)?,
        track_id: row.try_get("track_id")?,
        language: row.try_get("language")?,
        kind: TrackKind::parse(&kind).ok_or_else(|| damaged("kind", &kind))?,
        label: row.try_get("label")?,
        source_format: CaptionFormat::parse(&format).ok_or_else(|| damaged("format", &format))?,
        source: ObjectRef {
            key: stored_key(&row.try_get::<String, _>("source_key")?)?,
            size_bytes: row.try_get::<i64, _>("source_size")?.max(0) as u64,
            sha256: row.try_get("source_sha256")?,
        },
        served: ObjectRef {
            key: stored_key(&row.try_get::<String, _>("served_key")?)?,
            size_bytes: row.try_get::<i64, _>("served_size")?.max(0) as u64,
            sha256: row.try_get("served_sha256")?,
        },
        cue_count: row.try_get::<i64, _>("cue_count")?.max(0) as u32,
        end_ms: row.try_get::<i64, _>("end_ms")?.max(0) as u64,
        update_time: from_micros(row.try_get("update_time_us")?),
    })
}

/// The stored form of a track's words (`cues`, JSON).
pub(super) fn cues_from_json(json: &str) -> Result<Vec<TimedText>> {
    serde_json::from_str(json).map_err(|e| ArchiveError::internal("reading caption words", e))
}

async fn insert_track<'c>(
    executor: impl Executor<'c, Database = Any>,
    track: &CaptionTrackRecord,
    cues: &[TimedText],
) -> Result<()> {
    let cues = serde_json::to_string(cues).map_err(|e| ArchiveError::internal("encoding caption words", e))?;
    let values = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16";
    sqlx::query(AssertSqlSafe(format!("INSERT INTO caption_tracks ({TRACK_COLUMNS}, cues) VALUES ({values})")))
        .bind(track.media_id.as_str())
        .bind(&track.track_id)
        .bind(&track.language)
        .bind(track.kind.as_str())
        .bind(&track.label)
        .bind(track.source_format.as_str())
        .bind(track.source.key.as_str())
        .bind(track.source.size_bytes as i64)
        .bind(&track.source.sha256)
        .bind(track.served.key.as_str())
        .bind(track.served.size_bytes as i64)
        .bind(&track.served.sha256)
        .bind(i64::from(track.cue_count))
        .bind(track.end_ms as i64)
        .bind(micros(&track.update_time))
        .bind(cues)
        .execute(executor)
        .await?;
    Ok(())
}

fn stale_etag(media: &MediaId) -> ArchiveError {
    ArchiveError::new(
        Reason::EtagMismatch,
        format!("media {} (its tracks or poster) changed since it was read; read it again and retry", media.name()),
    )
}

pub(super) fn track_not_found(media: &MediaId, track_id: &str) -> ArchiveError {
    ArchiveError::new(
        Reason::CaptionTrackNotFound,
        format!("media {} has no caption track {}", media.name(), crate::error::quoted(track_id)),
    )
}

/// The tracks of `media` (through a pool or inside a transaction).
pub(super) async fn tracks_of<'c>(
    executor: impl Executor<'c, Database = Any>,
    media: &MediaId,
) -> Result<Vec<CaptionTrackRecord>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {TRACK_COLUMNS} FROM caption_tracks WHERE media_id = $1 ORDER BY track_id"
    )))
    .bind(media.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter().map(track_from_row).collect()
}

impl SqlMetadataStore {
    /// Locks the clip's row, checks `expected_etag`, and gives the clip at
    /// its next revision (written by [`Self::finish_clip_change`]): how a
    /// change of a clip's files (tracks, poster) begins.
    pub(super) async fn begin_clip_change(
        &self,
        media: &MediaId,
        expected_etag: Option<&str>,
    ) -> Result<(Transaction<'static, Any>, MediaRecord)> {
        let lock = if self.dialect == Dialect::Postgres { " FOR UPDATE" } else { "" };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(AssertSqlSafe(format!("SELECT * FROM media WHERE id = $1{lock}")))
            .bind(media.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| media_not_found(media))?;
        let mut record = media_from_row(&row)?;
        if expected_etag.is_some_and(|etag| etag != record.etag()) {
            return Err(stale_etag(media));
        }
        record.revision += 1;
        Ok((tx, record))
    }

    /// Writes the clip's new revision and commits with `change`.
    pub(super) async fn finish_clip_change(
        &self,
        mut tx: Transaction<'static, Any>,
        media: &MediaRecord,
        change: Change,
    ) -> Result<()> {
        sqlx::query("UPDATE media SET revision = $1 WHERE id = $2")
            .bind(media.revision)
            .bind(media.id.as_str())
            .execute(&mut *tx)
            .await?;
        self.commit_with(tx, &[change]).await
    }

    /// Removes the clip's track `track_id` in `tx`, giving it when there was one.
    async fn take_track(
        tx: &mut Transaction<'static, Any>,
        media: &MediaId,
        track_id: &str,
    ) -> Result<Option<CaptionTrackRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM caption_tracks WHERE media_id = $1 AND track_id = $2 RETURNING {TRACK_COLUMNS}"
        )))
        .bind(media.as_str())
        .bind(track_id)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(track_from_row).transpose()
    }
}

#[async_trait]
impl CaptionStore for SqlMetadataStore {
    async fn put_caption_track(
        &self,
        track: &CaptionTrackRecord,
        cues: &[TimedText],
        expected_etag: Option<&str>,
    ) -> Result<TrackChange> {
        timed!("put_caption_track", async {
            let (mut tx, media) = self.begin_clip_change(&track.media_id, expected_etag).await?;
            let previous = Self::take_track(&mut tx, &track.media_id, &track.track_id).await?;
            insert_track(&mut *tx, track, cues).await?;
            self.finish_clip_change(tx, &media, Change::captions_changed(&media, &track.track_id)).await?;
            Ok(TrackChange { media, previous })
        })
    }

    async fn delete_caption_track(
        &self,
        media: &MediaId,
        track_id: &str,
        expected_etag: Option<&str>,
    ) -> Result<TrackChange> {
        timed!("delete_caption_track", async {
            let (mut tx, record) = self.begin_clip_change(media, expected_etag).await?;
            let Some(previous) = Self::take_track(&mut tx, media, track_id).await? else {
                return Err(track_not_found(media, track_id));
            };
            self.finish_clip_change(tx, &record, Change::captions_changed(&record, track_id)).await?;
            Ok(TrackChange { media: record, previous: Some(previous) })
        })
    }

    async fn caption_tracks(&self, media: &MediaId) -> Result<Vec<CaptionTrackRecord>> {
        timed!("caption_tracks", tracks_of(&self.readers, media))
    }

    async fn restore_caption_tracks(&self, tracks: &[(CaptionTrackRecord, Vec<TimedText>)]) -> Result<()> {
        timed!("restore_caption_tracks", async {
            let mut tx = self.begin_write().await?;
            for (track, cues) in tracks {
                insert_track(&mut *tx, track, cues).await?;
            }
            Ok(tx.commit().await?)
        })
    }
}
