//! What the records name: the objects they keep (what the sweep and fixity
//! audits ask), the multipart uploads sessions still write, emptiness.

use super::{
    SqlMetadataStore,
    builder::{Arg, SqlBuilder},
    errors::{stored_id, stored_key},
    timing::timed,
};
use crate::{
    blob::BlobKey,
    error::{ArchiveError, Result},
    ids::MediaId,
    metadata::{ObjectIndex, ObjectKind, ObjectRef},
};
use async_trait::async_trait;
use sqlx::{Any, Executor, Row};
use std::collections::HashSet;

/// Of `keys`, those a record names: a body of any revision, a clip's
/// original or rendition, a caption track's files, a poster, a picture, or
/// the object of an unfinished upload session (a finished one's clip names
/// what it keeps). Through a pool or inside a
/// transaction.
pub(super) async fn referenced_in<'c>(
    executor: impl Executor<'c, Database = Any>,
    keys: &[BlobKey],
) -> Result<HashSet<BlobKey>> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let mut sql = SqlBuilder::new("WITH candidates (object_key) AS (VALUES ");
    for (i, key) in keys.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" }).bind(Arg::Text(key.as_str().to_owned())).push(")");
    }
    sql.push(
        ") SELECT object_key FROM candidates c WHERE \
         EXISTS (SELECT 1 FROM article_revisions r WHERE r.body_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM media m WHERE m.blob_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM media m WHERE m.rendition_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM caption_tracks t WHERE t.source_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM caption_tracks t WHERE t.served_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM posters p WHERE p.object_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM media_pictures p WHERE p.object_key = c.object_key) \
         OR EXISTS (SELECT 1 FROM upload_sessions u WHERE u.blob_key = c.object_key AND u.finished = 0)",
    );
    let rows = sql.fetch_all(executor).await?;
    rows.iter().map(|row| stored_key(&row.try_get::<String, _>("object_key")?)).collect()
}

#[async_trait]
impl ObjectIndex for SqlMetadataStore {
    async fn recorded_objects(&self, kind: ObjectKind, after: Option<&BlobKey>, limit: u32) -> Result<Vec<ObjectRef>> {
        timed!("recorded_objects", async {
            // Each kind's key column is indexed: a page is an index range.
            let (table, key, size, sha256) = match kind {
                ObjectKind::ArticleBody => ("article_revisions", "body_key", "body_size", "body_sha256"),
                ObjectKind::MediaOriginal => ("media", "blob_key", "size_bytes", "sha256"),
                ObjectKind::MediaRendition => ("media", "rendition_key", "rendition_size", "rendition_sha256"),
                ObjectKind::CaptionSource => ("caption_tracks", "source_key", "source_size", "source_sha256"),
                ObjectKind::CaptionServed => ("caption_tracks", "served_key", "served_size", "served_sha256"),
                ObjectKind::Poster => ("posters", "object_key", "size_bytes", "sha256"),
                ObjectKind::Picture => ("media_pictures", "object_key", "size_bytes", "sha256"),
            };
            let mut sql = SqlBuilder::new(&format!(
                "SELECT {key} AS object_key, MAX({size}) AS size, MAX({sha256}) AS sha256 \
                 FROM {table} WHERE {key} IS NOT NULL"
            ));
            if let Some(after) = after {
                sql.push(&format!(" AND {key} > ")).bind(Arg::Text(after.as_str().to_owned()));
            }
            sql.push(&format!(" GROUP BY {key} ORDER BY {key}")).limit(limit);
            let rows = sql.fetch_all(&self.readers).await?;
            rows.iter()
                .map(|row| {
                    Ok(ObjectRef {
                        key: stored_key(&row.try_get::<String, _>("object_key")?)?,
                        size_bytes: row.try_get::<i64, _>("size")?.max(0) as u64,
                        sha256: row.try_get::<String, _>("sha256")?,
                    })
                })
                .collect()
        })
    }

    async fn is_empty(&self) -> Result<bool> {
        timed!("is_empty", async {
            let count: i64 =
                sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM articles) + (SELECT COUNT(*) FROM media)")
                    .fetch_one(&self.readers)
                    .await?;
            Ok(count == 0)
        })
    }

    async fn referenced_objects(&self, keys: &[BlobKey]) -> Result<HashSet<BlobKey>> {
        timed!("referenced_objects", referenced_in(&self.readers, keys))
    }

    async fn recorded_media(&self, ids: &[MediaId]) -> Result<HashSet<MediaId>> {
        timed!("recorded_media", async {
            if ids.is_empty() {
                return Ok(HashSet::new());
            }
            let mut sql = SqlBuilder::new("SELECT id FROM media WHERE id IN (");
            for (i, id) in ids.iter().enumerate() {
                sql.push(if i == 0 { "" } else { ", " }).bind(Arg::Text(id.as_str().to_owned()));
            }
            sql.push(")");
            let rows = sql.fetch_all(&self.readers).await?;
            rows.iter().map(|row| stored_id(MediaId::parse, &row.try_get::<String, _>("id")?)).collect()
        })
    }

    async fn multipart_ids_in_use(&self, multipart_ids: &[String]) -> Result<HashSet<String>> {
        timed!("multipart_ids_in_use", async {
            if multipart_ids.is_empty() {
                return Ok(Default::default());
            }
            let mut sql =
                SqlBuilder::new("SELECT multipart_id FROM upload_sessions WHERE finished = 0 AND multipart_id IN (");
            for (i, id) in multipart_ids.iter().enumerate() {
                sql.push(if i == 0 { "" } else { ", " }).bind(Arg::Text(id.clone()));
            }
            sql.push(")");
            let rows = sql.fetch_all(&self.readers).await?;
            rows.iter().map(|row| row.try_get::<String, _>("multipart_id").map_err(ArchiveError::from)).collect()
        })
    }
}
