//! A clip's poster in SQL: set (as any change of a clip's files, see
//! `captions.rs`), read, restored.

use super::{
    SqlMetadataStore,
    errors::{media_not_found, stored_id, stored_key},
    rows::{from_micros, media_from_row, micros},
    timing::timed,
};
use crate::{
    error::Result,
    ids::MediaId,
    metadata::{ObjectRef, PosterChange, PosterRecord, PosterStore, changes::Change},
};
use async_trait::async_trait;
use sqlx::{Any, Executor, Row, any::AnyRow};

const POSTER_COLUMNS: &str = "media_id, object_key, size_bytes, sha256, content_type, time_ms, update_time_us";

fn poster_from_row(row: &AnyRow) -> Result<PosterRecord> {
    Ok(PosterRecord {
        media_id: stored_id(MediaId::parse, &row.try_get::<String, _>("media_id")?)?,
        object: ObjectRef {
            key: stored_key(&row.try_get::<String, _>("object_key")?)?,
            size_bytes: row.try_get::<i64, _>("size_bytes")?.max(0) as u64,
            sha256: row.try_get("sha256")?,
        },
        content_type: row.try_get("content_type")?,
        time_ms: row.try_get::<Option<i64>, _>("time_ms")?.map(|ms| ms.max(0) as u64),
        update_time: from_micros(row.try_get("update_time_us")?),
    })
}

/// The poster of `media` (through a pool or inside a transaction).
pub(super) async fn poster_of<'c>(
    executor: impl Executor<'c, Database = Any>,
    media: &MediaId,
) -> Result<Option<PosterRecord>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {POSTER_COLUMNS} FROM posters WHERE media_id = $1")))
        .bind(media.as_str())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(poster_from_row).transpose()
}

/// The statement that inserts `poster` after `sql` (its columns bound as
/// `$1 … $7` in [`POSTER_COLUMNS`] order).
fn bound_insert(sql: String, poster: &PosterRecord) -> super::rows::AnyQuery<'static> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(poster.media_id.as_str().to_owned())
        .bind(poster.object.key.as_str().to_owned())
        .bind(poster.object.size_bytes as i64)
        .bind(poster.object.sha256.clone())
        .bind(poster.content_type.clone())
        .bind(poster.time_ms.map(|ms| ms as i64))
        .bind(micros(&poster.update_time))
}

async fn insert_poster<'c>(executor: impl Executor<'c, Database = Any>, poster: &PosterRecord) -> Result<()> {
    let sql = format!("INSERT INTO posters ({POSTER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
    bound_insert(sql, poster).execute(executor).await?;
    Ok(())
}

impl SqlMetadataStore {
    /// A poster made from the clip while it has none: derived, like a
    /// rendition, so the clip's revision stays (no read-modify-write of the
    /// clip races the poster made after its upload).
    async fn add_made_poster(&self, poster: &PosterRecord) -> Result<Option<PosterChange>> {
        let mut tx = self.begin_write().await?;
        let media = sqlx::query("SELECT * FROM media WHERE id = $1")
            .bind(poster.media_id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| media_not_found(&poster.media_id))?;
        let media = media_from_row(&media)?;
        // Inserted only while there is none: a concurrent insert fails the
        // primary key (PostgreSQL) or waited for the one writer (SQLite).
        let sql = format!(
            "INSERT INTO posters ({POSTER_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE NOT EXISTS (SELECT 1 FROM posters WHERE media_id = $1) ON CONFLICT DO NOTHING"
        );
        let inserted = bound_insert(sql, poster).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((inserted.rows_affected() == 1).then_some(PosterChange { media, previous: None }))
    }
}

#[async_trait]
impl PosterStore for SqlMetadataStore {
    async fn set_poster(
        &self,
        poster: &PosterRecord,
        only_if_none: bool,
        expected_etag: Option<&str>,
    ) -> Result<Option<PosterChange>> {
        timed!("set_poster", async {
            if only_if_none {
                return self.add_made_poster(poster).await;
            }
            let (mut tx, media) = self.begin_clip_change(&poster.media_id, expected_etag).await?;
            let previous = poster_of(&mut *tx, &poster.media_id).await?;
            sqlx::query("DELETE FROM posters WHERE media_id = $1")
                .bind(poster.media_id.as_str())
                .execute(&mut *tx)
                .await?;
            insert_poster(&mut *tx, poster).await?;
            self.finish_clip_change(tx, &media, Change::poster_set(&media)).await?;
            Ok(Some(PosterChange { media, previous }))
        })
    }

    async fn poster(&self, media: &MediaId) -> Result<Option<PosterRecord>> {
        timed!("poster", poster_of(&self.readers, media))
    }

    async fn restore_poster(&self, poster: &PosterRecord) -> Result<()> {
        timed!("restore_poster", insert_poster(&self.writer, poster))
    }
}
