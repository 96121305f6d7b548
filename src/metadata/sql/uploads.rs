//! Resumable upload sessions in SQL.

use super::{
    Objects, SqlMetadataStore,
    errors::{stored_id, stored_key},
    insert_media_row,
    rows::{from_micros, micros},
    timing::timed,
};
use crate::error::Reason;
use crate::{
    blob::CompletedPart,
    error::{ArchiveError, Result},
    ids::{MediaId, UploadId},
    metadata::{MediaRecord, UploadProgress, UploadSession, UploadSessionStore, changes::Change},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};

fn upload_not_found(id: &UploadId) -> ArchiveError {
    ArchiveError::new(Reason::UploadNotFound, format!("upload {id} does not exist or has expired"))
}

fn upload_moved(id: &UploadId) -> ArchiveError {
    ArchiveError::new(
        Reason::UploadMovedOn,
        format!("another stream moved upload {id} on; query it and resume from its committed offset"),
    )
}

fn session_from_row(row: &AnyRow) -> Result<UploadSession> {
    let get_i64 = |column: &str| row.try_get::<i64, _>(column).map_err(ArchiveError::from);
    let get_text = |column: &str| row.try_get::<String, _>(column).map_err(ArchiveError::from);
    let sha256_state = hex::decode(get_text("sha256_state")?)
        .map_err(|e| ArchiveError::internal("reading an upload", anyhow::Error::new(e)))?;
    Ok(UploadSession {
        id: stored_id(UploadId::parse, &get_text("id")?)?,
        media_id: stored_id(MediaId::parse, &get_text("media_id")?)?,
        filename: get_text("filename")?,
        content_type: get_text("content_type")?,
        key: stored_key(&get_text("blob_key")?)?,
        multipart_id: get_text("multipart_id")?,
        part_size: get_i64("part_size")? as u64,
        progress: UploadProgress {
            committed_offset: get_i64("committed_offset")? as u64,
            parts_done: get_i64("parts_done")? as i32,
            sha256_state,
            crc32c: get_i64("crc32c")? as u32,
        },
        create_time: from_micros(get_i64("create_time_us")?),
        expire_time: from_micros(get_i64("expire_time_us")?),
        finished: get_i64("finished")? != 0,
        owner: get_text("owner")?,
        declared_size: row.try_get::<Option<i64>, _>("declared_size")?.map(|size| size as u64),
        tail_bytes: get_i64("tail_bytes")? as u64,
    })
}

#[async_trait]
impl UploadSessionStore for SqlMetadataStore {
    async fn insert_upload(&self, session: &UploadSession) -> Result<()> {
        timed!("insert_upload", async {
            let progress = &session.progress;
            let inserted = sqlx::query(
                "INSERT INTO upload_sessions (id, media_id, filename, content_type, blob_key, multipart_id, part_size, \
                 committed_offset, parts_done, sha256_state, crc32c, create_time_us, expire_time_us, finished, owner, \
                 declared_size, tail_bytes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            )
            .bind(session.id.as_str())
            .bind(session.media_id.as_str())
            .bind(&session.filename)
            .bind(&session.content_type)
            .bind(session.key.as_str())
            .bind(&session.multipart_id)
            .bind(session.part_size as i64)
            .bind(progress.committed_offset as i64)
            .bind(i64::from(progress.parts_done))
            .bind(hex::encode(&progress.sha256_state))
            .bind(i64::from(progress.crc32c))
            .bind(micros(&session.create_time))
            .bind(micros(&session.expire_time))
            .bind(i64::from(session.finished))
            .bind(&session.owner)
            .bind(session.declared_size.map(|size| size as i64))
            .bind(session.tail_bytes as i64)
            .execute(&self.writer)
            .await;
            match inserted {
                Ok(_) => Ok(()),
                // Only an upload URL names its upload's id in advance.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    Err(ArchiveError::new(Reason::UploadUrlUsed, format!("upload {} exists already", session.id)))
                }
                Err(error) => Err(error.into()),
            }
        })
    }

    async fn get_upload(&self, id: &UploadId) -> Result<UploadSession> {
        timed!("get_upload", async {
            let row = sqlx::query("SELECT * FROM upload_sessions WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.readers)
                .await?
                .ok_or_else(|| upload_not_found(id))?;
            session_from_row(&row)
        })
    }

    async fn upload_parts(&self, id: &UploadId) -> Result<Vec<CompletedPart>> {
        timed!("upload_parts", async {
            let rows = sqlx::query(
                "SELECT part_number, etag, size_bytes FROM upload_parts WHERE upload_id = $1 ORDER BY part_number",
            )
            .bind(id.as_str())
            .fetch_all(&self.readers)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(CompletedPart {
                        number: row.try_get::<i64, _>("part_number")? as i32,
                        etag: row.try_get("etag")?,
                        size: row.try_get::<i64, _>("size_bytes")? as u64,
                    })
                })
                .collect()
        })
    }

    async fn advance_upload(
        &self,
        id: &UploadId,
        from_offset: u64,
        progress: &UploadProgress,
        parts: &[CompletedPart],
        expire_time: DateTime<Utc>,
    ) -> Result<()> {
        timed!("advance_upload", async {
            let mut tx = self.begin_write().await?;
            let moved = sqlx::query(
                // Stored parts take in whatever the tail held.
                "UPDATE upload_sessions SET committed_offset = $1, parts_done = $2, sha256_state = $3, crc32c = $4, \
                 expire_time_us = $5, tail_bytes = 0 WHERE id = $6 AND committed_offset = $7 AND finished = 0",
            )
            .bind(progress.committed_offset as i64)
            .bind(i64::from(progress.parts_done))
            .bind(hex::encode(&progress.sha256_state))
            .bind(i64::from(progress.crc32c))
            .bind(micros(&expire_time))
            .bind(id.as_str())
            .bind(from_offset as i64)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() == 0 {
                return Err(upload_moved(id));
            }
            for part in parts {
                // A part sent again by a later stream replaces the earlier one.
                sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1 AND part_number = $2")
                    .bind(id.as_str())
                    .bind(i64::from(part.number))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO upload_parts (upload_id, part_number, etag, size_bytes) VALUES ($1, $2, $3, $4)",
                )
                .bind(id.as_str())
                .bind(i64::from(part.number))
                .bind(&part.etag)
                .bind(part.size as i64)
                .execute(&mut *tx)
                .await?;
            }
            Ok(tx.commit().await?)
        })
    }

    async fn set_upload_tail(
        &self,
        id: &UploadId,
        committed_offset: u64,
        from_tail: u64,
        to_tail: u64,
        expire_time: DateTime<Utc>,
    ) -> Result<()> {
        timed!("set_upload_tail", async {
            let moved = sqlx::query(
                "UPDATE upload_sessions SET tail_bytes = $1, expire_time_us = $2 \
                 WHERE id = $3 AND committed_offset = $4 AND tail_bytes = $5 AND finished = 0",
            )
            .bind(to_tail as i64)
            .bind(micros(&expire_time))
            .bind(id.as_str())
            .bind(committed_offset as i64)
            .bind(from_tail as i64)
            .execute(&self.writer)
            .await?;
            if moved.rows_affected() == 0 {
                return Err(upload_moved(id));
            }
            Ok(())
        })
    }

    async fn finish_upload(&self, id: &UploadId, media: &MediaRecord, expire_time: DateTime<Utc>) -> Result<()> {
        timed!("finish_upload", async {
            let mut tx = self.begin_write().await?;
            let finished = sqlx::query(
                "UPDATE upload_sessions SET finished = 1, committed_offset = $1, expire_time_us = $2 \
                 WHERE id = $3 AND finished = 0",
            )
            .bind(media.object.size_bytes as i64)
            .bind(micros(&expire_time))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            if finished.rows_affected() == 0 {
                return Err(upload_moved(id));
            }
            sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
            // A clip whose bytes turned out to be stored already shares them.
            let own_key: String = sqlx::query_scalar("SELECT blob_key FROM upload_sessions WHERE id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?;
            let objects = if own_key == media.object.key.as_str() { Objects::Own } else { Objects::Shared };
            insert_media_row(&mut *tx, self.dialect, media, objects).await?;
            self.commit_with(tx, &[Change::media_uploaded(media)]).await
        })
    }

    async fn expired_uploads(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<UploadSession>> {
        timed!("expired_uploads", async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM upload_sessions WHERE expire_time_us < $1 ORDER BY expire_time_us{}",
                super::builder::limit(limit)
            )))
            .bind(micros(&now))
            .fetch_all(&self.readers)
            .await?;
            rows.iter().map(session_from_row).collect()
        })
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<()> {
        timed!("delete_upload", async {
            let mut tx = self.begin_write().await?;
            for statement in
                ["DELETE FROM upload_parts WHERE upload_id = $1", "DELETE FROM upload_sessions WHERE id = $1"]
            {
                sqlx::query(statement).bind(id.as_str()).execute(&mut *tx).await?;
            }
            Ok(tx.commit().await?)
        })
    }

    async fn count_open_uploads(&self) -> Result<i64> {
        timed!("count_open_uploads", async {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM upload_sessions WHERE finished = 0")
                .fetch_one(&self.readers)
                .await?)
        })
    }
}
