//! Clip records in SQL: recording (own bytes or a copy's shared ones),
//! reads, and deletion (which detaches a clip from articles with `force`).
//!
//! A copy shares another clip's objects, and deleting a clip deletes the
//! objects no record names any more. The two must not interleave so that a
//! copy ends up naming deleted bytes: a copy is inserted only while a record
//! still names its objects, in one statement that (PostgreSQL) share-locks
//! that record, and deletion locks the clip's row before it looks for other
//! records. SQLite has one writer at a time.

use super::{
    Dialect, SqlMetadataStore,
    builder::{Arg, SqlBuilder},
    captions::tracks_of,
    errors::{media_not_found, stored_id},
    local::Rows,
    objects::referenced_in,
    pictures::pictures_of,
    posters::poster_of,
    rows::{media_from_row, micros},
    timing::timed,
};
use crate::error::Reason;
use crate::{
    blob::BlobKey,
    error::{ArchiveError, Result},
    ids::{ArticleId, MediaId},
    metadata::{
        DeletedMedia, MediaCursor, MediaRecord, MediaStore,
        changes::{Change, ChangeKind},
    },
};
use async_trait::async_trait;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

/// Whose objects a new clip record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Objects {
    /// Bytes this clip's upload wrote (or a restore found): recorded as they are.
    Own,
    /// Another recorded clip's: recorded only while a record still names them.
    Shared,
}

/// Attempts of a deletion whose clip keeps being linked meanwhile.
const DELETE_ATTEMPTS: usize = 3;

/// Articles named in an error message, at most this many.
const NAMED_ARTICLES: usize = 5;

const MEDIA_COLUMNS: &str = "id, filename, content_type, size_bytes, sha256, blob_key, create_time_us, crc32c, \
     mp4_info, rendition_key, rendition_size, rendition_sha256, revision";

fn copy_source_gone(media: &MediaRecord) -> ArchiveError {
    ArchiveError::new(
        Reason::CopySourceGone,
        format!("the stored bytes media {} would share are being deleted; send the bytes", media.id.name()),
    )
}

/// Records a clip, through a pool or inside a transaction.
pub(super) async fn insert_media_row<'c>(
    executor: impl Executor<'c, Database = Any>,
    dialect: Dialect,
    media: &MediaRecord,
    objects: Objects,
) -> Result<()> {
    let mp4 = media
        .mp4
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| ArchiveError::internal("encoding MP4 facts", e))?;
    let rendition = media.rendition.as_ref();
    let values = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13";
    let sql = match objects {
        Objects::Own => format!("INSERT INTO media ({MEDIA_COLUMNS}) VALUES ({values})"),
        Objects::Shared => {
            let lock = if dialect == Dialect::Postgres { " FOR KEY SHARE" } else { "" };
            format!(
                "INSERT INTO media ({MEDIA_COLUMNS}) SELECT {values} WHERE EXISTS (SELECT 1 FROM media \
                 WHERE blob_key = $14 AND rendition_key IS NOT DISTINCT FROM $15 LIMIT 1{lock})"
            )
        }
    };
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(media.id.as_str())
        .bind(&media.filename)
        .bind(&media.content_type)
        .bind(media.object.size_bytes as i64)
        .bind(&media.object.sha256)
        .bind(media.object.key.as_str())
        .bind(micros(&media.create_time))
        .bind(i64::from(media.crc32c))
        .bind(mp4)
        .bind(rendition.map(|r| r.key.to_string()))
        .bind(rendition.map(|r| r.size_bytes as i64))
        .bind(rendition.map(|r| r.sha256.clone()))
        .bind(media.revision);
    if objects == Objects::Shared {
        query = query.bind(media.object.key.as_str()).bind(rendition.map(|r| r.key.to_string()));
    }
    match query.execute(executor).await {
        Ok(done) if done.rows_affected() == 0 => Err(copy_source_gone(media)),
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(ArchiveError::new(Reason::MediaExists, format!("media {} already exists", media.id.name())))
        }
        Err(e) => Err(e.into()),
    }
}

fn article_names(ids: &[ArticleId]) -> String {
    let mut names: Vec<String> = ids.iter().take(NAMED_ARTICLES).map(ArticleId::name).collect();
    if ids.len() > NAMED_ARTICLES {
        names.push(format!("and {} more", ids.len() - NAMED_ARTICLES));
    }
    names.join(", ")
}

impl SqlMetadataStore {
    /// One attempt; `None` (rolled back) when an article linked the clip
    /// between locking the articles and locking the clip.
    async fn try_delete_media_record(&self, id: &MediaId, force: bool) -> Result<Option<DeletedMedia>> {
        let lock = if self.dialect == Dialect::Postgres { " FOR UPDATE" } else { "" };
        let mut tx = self.begin_write().await?;
        // Locks are taken in one order everywhere: articles, then clips (as
        // AttachMedia and UpdateArticle do), so that none waits in a cycle.
        let linking = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, legal_hold FROM articles \
             WHERE id IN (SELECT article_id FROM article_media WHERE media_id = $1) ORDER BY id{lock}"
        )))
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut detached = Vec::with_capacity(linking.len());
        let mut held = Vec::new();
        for row in &linking {
            let article = stored_id(ArticleId::parse, &row.try_get::<String, _>("id")?)?;
            if row.try_get::<i64, _>("legal_hold")? != 0 {
                held.push(article.clone());
            }
            detached.push(article);
        }

        let row = sqlx::query("SELECT * FROM media WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| media_not_found(id))?;
        let media = media_from_row(&row)?;
        // Every clip naming these bytes: deletions of clips sharing them
        // queue, so the last one sees that it is the last, and copies wait
        // (then find the bytes still named, or not).
        let sharing: Vec<String> =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT id FROM media WHERE blob_key = $1 ORDER BY id{lock}")))
                .bind(media.object.key.as_str())
                .fetch_all(&mut *tx)
                .await?;
        if !sharing.iter().any(|other| other == id.as_str()) {
            return Err(media_not_found(id)); // deleted meanwhile
        }
        // With the clip locked no new link can commit; one that did before is seen here.
        let linked_now: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT article_id FROM article_media WHERE media_id = $1 ORDER BY article_id")
                .bind(id.as_str())
                .fetch_all(&mut *tx)
                .await?;
        if !linked_now.iter().eq(detached.iter().map(ArticleId::as_str)) {
            return Ok(None);
        }

        if !held.is_empty() {
            return Err(ArchiveError::new(
                Reason::LegalHold,
                format!("media {} is linked from {} under legal hold", id.name(), article_names(&held)),
            ));
        }
        if !detached.is_empty() && !force {
            return Err(ArchiveError::new(
                Reason::MediaInUse,
                format!(
                    "media {} is linked from {}; delete it with force to detach it",
                    id.name(),
                    article_names(&detached)
                ),
            ));
        }
        let links = sqlx::query(
            "SELECT article_id, reference FROM article_media WHERE media_id = $1 ORDER BY article_id, position",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut changes = Vec::with_capacity(links.len() + 1);
        for link in &links {
            let article = stored_id(ArticleId::parse, &link.try_get::<String, _>("article_id")?)?;
            let reference: String = link.try_get("reference")?;
            changes.push(Change::link(ChangeKind::MediaDetached, &article, &reference, id));
        }
        changes.push(Change::media_deleted(id));
        // A clip's tracks, poster and pictures are its own: never shared,
        // gone with it.
        let tracks = tracks_of(&mut *tx, id).await?;
        let poster = poster_of(&mut *tx, id).await?;
        let pictures = pictures_of(&mut *tx, id).await?;
        for statement in [
            "DELETE FROM article_media WHERE media_id = $1 AND in_body = 0",
            "UPDATE article_media SET media_id = NULL WHERE media_id = $1",
            "DELETE FROM caption_tracks WHERE media_id = $1",
            "DELETE FROM posters WHERE media_id = $1",
            "DELETE FROM media_pictures WHERE media_id = $1",
            "DELETE FROM media WHERE id = $1",
        ] {
            sqlx::query(statement).bind(id.as_str()).execute(&mut *tx).await?;
        }

        let own: Vec<BlobKey> = std::iter::once(&media.object).chain(&media.rendition).map(|o| o.key.clone()).collect();
        let still_named = referenced_in(&mut *tx, &own).await?;
        self.commit_with(tx, &changes).await?;
        let files = tracks.into_iter().flat_map(|track| [track.source.key, track.served.key]);
        let files = files.chain(poster.map(|poster| poster.object.key));
        let files = files.chain(pictures.into_iter().map(|picture| picture.object.key)).collect();
        let unreferenced = own.into_iter().filter(|key| !still_named.contains(key)).collect();
        Ok(Some(DeletedMedia { detached, unreferenced, files }))
    }

    /// Records a clip on its own (not inside an upload's transaction).
    pub(super) async fn record_media(&self, media: &MediaRecord, objects: Objects) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_media_row(&mut *tx, self.dialect, media, objects).await?;
        self.commit_with(tx, &[Change::media_uploaded(media)]).await
    }

    /// A clip's record (untimed: for the store's own reads).
    pub(super) async fn media_record(&self, id: &MediaId) -> Result<MediaRecord> {
        let mut sql = SqlBuilder::new("SELECT * FROM media WHERE id = ");
        sql.bind(Arg::Text(id.as_str().to_owned()));
        let mut record = None;
        self.read(sql, Rows::Few, |row| {
            record = Some(media_from_row(row)?);
            Ok(())
        })
        .await?;
        record.ok_or_else(|| media_not_found(id))
    }
}

#[async_trait]
impl MediaStore for SqlMetadataStore {
    async fn insert_media(&self, media: &MediaRecord) -> Result<()> {
        timed!("insert_media", self.record_media(media, Objects::Own))
    }

    async fn insert_media_copy(&self, media: &MediaRecord) -> Result<()> {
        timed!("insert_media_copy", self.record_media(media, Objects::Shared))
    }

    async fn delete_media(&self, id: &MediaId, force: bool) -> Result<DeletedMedia> {
        timed!("delete_media", async {
            for _ in 0..DELETE_ATTEMPTS {
                if let Some(deleted) = self.try_delete_media_record(id, force).await? {
                    return Ok(deleted);
                }
            }
            Err(ArchiveError::new(
                Reason::ConcurrentChange,
                format!("media {} kept being linked to articles while it was deleted; retry", id.name()),
            ))
        })
    }

    async fn get_media(&self, id: &MediaId) -> Result<MediaRecord> {
        timed!("get_media", self.media_record(id))
    }

    async fn find_media_by_content(&self, sha256: &str, size_bytes: u64) -> Result<Option<MediaRecord>> {
        timed!("find_media_by_content", async {
            let row = sqlx::query(
                "SELECT * FROM media WHERE sha256 = $1 AND size_bytes = $2 ORDER BY create_time_us LIMIT 1",
            )
            .bind(sha256)
            .bind(size_bytes as i64)
            .fetch_optional(&self.readers)
            .await?;
            row.as_ref().map(media_from_row).transpose()
        })
    }

    async fn list_media(&self, after: Option<&MediaCursor>, limit: u32) -> Result<Vec<MediaRecord>> {
        timed!("list_media", async {
            let mut sql = SqlBuilder::new("SELECT * FROM media WHERE 1 = 1");
            if let Some(after) = after {
                sql.after_position("create_time_us", "id", after.create_time_micros, &after.id);
            }
            sql.push(" ORDER BY create_time_us DESC, id DESC").limit(limit);
            sql.fetch_all(&self.readers).await?.iter().map(media_from_row).collect()
        })
    }
}
