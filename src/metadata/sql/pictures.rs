//! Pictures derived from a clip in SQL: looked up by name, recorded under a
//! bound (the clip's row locked, so concurrent requests on any replica
//! count alike), listed for the manifest, restored.

use super::{
    Dialect, SqlMetadataStore,
    errors::{stored_id, stored_key},
    rows::{from_micros, micros},
    timing::timed,
};
use crate::{
    blob::BlobKey,
    error::Result,
    ids::MediaId,
    metadata::{ObjectRef, PictureAdded, PictureLookup, PictureRecord, PictureStore},
};
use async_trait::async_trait;
use sqlx::{Any, AssertSqlSafe, Executor, Row, any::AnyRow};

const PICTURE_COLUMNS: &str = "media_id, name, object_key, size_bytes, sha256, content_type, create_time_us";

fn picture_from_row(row: &AnyRow) -> Result<PictureRecord> {
    Ok(PictureRecord {
        media_id: stored_id(MediaId::parse, &row.try_get::<String, _>("media_id")?)?,
        name: row.try_get("name")?,
        object: ObjectRef {
            key: stored_key(&row.try_get::<String, _>("object_key")?)?,
            size_bytes: row.try_get::<i64, _>("size_bytes")?.max(0) as u64,
            sha256: row.try_get("sha256")?,
        },
        content_type: row.try_get("content_type")?,
        create_time: from_micros(row.try_get("create_time_us")?),
    })
}

async fn picture_named<'c>(
    executor: impl Executor<'c, Database = Any>,
    media: &MediaId,
    name: &str,
) -> Result<Option<PictureRecord>> {
    let sql = format!("SELECT {PICTURE_COLUMNS} FROM media_pictures WHERE media_id = $1 AND name = $2");
    let row = sqlx::query(AssertSqlSafe(sql)).bind(media.as_str()).bind(name).fetch_optional(executor).await?;
    row.as_ref().map(picture_from_row).transpose()
}

/// The pictures of `media` (through a pool or inside a transaction).
pub(super) async fn pictures_of<'c>(
    executor: impl Executor<'c, Database = Any>,
    media: &MediaId,
) -> Result<Vec<PictureRecord>> {
    let sql = format!("SELECT {PICTURE_COLUMNS} FROM media_pictures WHERE media_id = $1 ORDER BY name");
    let rows = sqlx::query(AssertSqlSafe(sql)).bind(media.as_str()).fetch_all(executor).await?;
    rows.iter().map(picture_from_row).collect()
}

async fn insert_picture<'c>(executor: impl Executor<'c, Database = Any>, picture: &PictureRecord) -> Result<u64> {
    let sql = format!(
        "INSERT INTO media_pictures ({PICTURE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
    );
    let done = sqlx::query(AssertSqlSafe(sql))
        .bind(picture.media_id.as_str())
        .bind(picture.name.as_str())
        .bind(picture.object.key.as_str())
        .bind(picture.object.size_bytes as i64)
        .bind(picture.object.sha256.as_str())
        .bind(picture.content_type.as_str())
        .bind(micros(&picture.create_time))
        .execute(executor)
        .await?;
    Ok(done.rows_affected())
}

#[async_trait]
impl PictureStore for SqlMetadataStore {
    async fn picture(&self, media: &MediaId, name: &str) -> Result<PictureLookup> {
        timed!("picture", async {
            let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media_pictures WHERE media_id = $1")
                .bind(media.as_str())
                .fetch_one(&self.readers)
                .await?;
            let found = picture_named(&self.readers, media, name).await?;
            Ok(PictureLookup { found, stored: u32::try_from(stored).unwrap_or(u32::MAX) })
        })
    }

    async fn add_picture(&self, picture: &PictureRecord, bound: Option<u32>) -> Result<PictureAdded> {
        timed!("add_picture", async {
            let media = &picture.media_id;
            // The clip's row locked (SQLite: the one writer) while counting.
            let lock = if self.dialect == Dialect::Postgres { " FOR UPDATE" } else { "" };
            let mut tx = self.begin_write().await?;
            let exists = sqlx::query(AssertSqlSafe(format!("SELECT id FROM media WHERE id = $1{lock}")))
                .bind(media.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(PictureAdded::MediaGone);
            }
            if let Some(found) = picture_named(&mut *tx, media, &picture.name).await? {
                return Ok(PictureAdded::Exists(found));
            }
            if let Some(bound) = bound {
                let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media_pictures WHERE media_id = $1")
                    .bind(media.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                if stored >= i64::from(bound) {
                    return Ok(PictureAdded::Full);
                }
            }
            insert_picture(&mut *tx, picture).await?;
            tx.commit().await?;
            Ok(PictureAdded::Added)
        })
    }

    async fn pictures(&self, media: &MediaId) -> Result<Vec<PictureRecord>> {
        timed!("pictures", pictures_of(&self.readers, media))
    }

    async fn remove_picture(&self, media: &MediaId, name: &str, object_key: &BlobKey) -> Result<()> {
        timed!("remove_picture", async {
            sqlx::query("DELETE FROM media_pictures WHERE media_id = $1 AND name = $2 AND object_key = $3")
                .bind(media.as_str())
                .bind(name)
                .bind(object_key.as_str())
                .execute(&self.writer)
                .await?;
            Ok(())
        })
    }

    async fn restore_pictures(&self, pictures: &[PictureRecord]) -> Result<()> {
        timed!("restore_pictures", async {
            let mut tx = self.begin_write().await?;
            for picture in pictures {
                insert_picture(&mut *tx, picture).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
