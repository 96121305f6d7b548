//! ArticleService: creating, importing, reading, changing, deleting and
//! restoring articles, their revisions and legal holds.

use super::{
    Archive,
    bounds::{self, check_fields},
    new_etag, now,
    page_token::{self, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    run_to_completion, sha256_hex,
};
use crate::{
    blob::BlobKey,
    error::{ArchiveError, ErrorKind, Reason, Result},
    format::export,
    ids::ArticleId,
    metadata::{ArticleRecord, ObjectRef, SearchText},
};
use bytes::Bytes;
use chrono::{DateTime, Utc};

const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The fields of an article a client sets.
#[derive(Debug, Clone, Default)]
pub struct ArticleFields {
    pub title: String,
    pub body: String,
    pub author: String,
    pub keywords: Vec<String>,
    /// Now when unset.
    pub publish_time: Option<DateTime<Utc>>,
    pub publish_utc_offset_seconds: i32,
    pub view_count: i64,
}

/// Fields to change, by `update_mask` path.
#[derive(Debug, Clone)]
pub struct ArticleUpdate {
    pub fields: ArticleFields,
    pub mask: Vec<String>,
    pub etag: String,
}

/// Where a body goes and what it is: a new object of its own.
fn body_object(id: &ArticleId, body: &str) -> ObjectRef {
    let key = BlobKey::new_article_body(id);
    ObjectRef { key, size_bytes: body.len() as u64, sha256: sha256_hex(body.as_bytes()) }
}

/// Longest `request_id` (AIP-155 suggests a UUID: 36 characters).
const MAX_REQUEST_ID_CHARS: usize = 128;

/// The id of a new article: the client's, else one derived from its
/// `request_id` (so that a retry finds what the first call made: `true`),
/// else a generated one.
fn new_article_id(article_id: &str, request_id: &str, method: &str) -> Result<(ArticleId, bool)> {
    if !article_id.is_empty() || request_id.is_empty() {
        return Ok((ArticleId::chosen_or_generated(article_id)?, false));
    }
    let valid = request_id.len() <= MAX_REQUEST_ID_CHARS
        && request_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if !valid {
        return Err(ArchiveError::new(
            Reason::InvalidRequestId,
            format!("request_id must be 1-{MAX_REQUEST_ID_CHARS} characters of [A-Za-z0-9-_.:] (a UUID is best)"),
        ));
    }
    let digest = sha256_hex(format!("archive.v1.ArticleService/{method}\n{request_id}").as_bytes());
    Ok((ArticleId::parse(&format!("r{}", &digest[..31]))?, true))
}

impl Archive {
    async fn store_body(&self, object: &ObjectRef, body: &str) -> Result<()> {
        self.blobs.put(&object.key, Bytes::copy_from_slice(body.as_bytes()), TEXT_CONTENT_TYPE).await?;
        Ok(())
    }

    /// Deletes an object whose metadata commit failed; the caller's error wins.
    pub(crate) async fn discard(&self, key: &BlobKey) {
        if let Err(error) = self.blobs.delete(key).await {
            tracing::warn!(%key, error = ?error, "could not delete an unreferenced object");
        }
    }

    /// Creates an article; returns it with its body. With a `request_id`
    /// (and no `article_id`) a retry answers what the first call made.
    pub async fn create_article(
        &self,
        fields: ArticleFields,
        article_id: &str,
        request_id: &str,
    ) -> Result<(ArticleRecord, String)> {
        check_fields(&fields)?;
        let (id, retry_safe) = new_article_id(article_id, request_id, "CreateArticle")?;
        let body = fields.body.clone();
        match run_to_completion(self.clone().store_new_article(fields, id.clone())).await {
            Ok(record) => Ok((record, body)),
            Err(error) if retry_safe && error.kind == ErrorKind::AlreadyExists => {
                tracing::info!(article = %id, "a retried request: answering the article its first call made");
                let (record, body) = self.get_article(&id, None, true).await?;
                Ok((record, body.unwrap_or_default()))
            }
            Err(error) => Err(error),
        }
    }

    async fn store_new_article(self, fields: ArticleFields, id: ArticleId) -> Result<ArticleRecord> {
        let body = body_object(&id, &fields.body);
        let now = now();
        let record = ArticleRecord {
            id,
            revision: 1,
            etag: new_etag(),
            media: crate::metadata::links_for_body(&fields.body, &[]),
            title: fields.title,
            author: fields.author,
            keywords: fields.keywords,
            publish_time: fields.publish_time.unwrap_or(now),
            publish_utc_offset_seconds: fields.publish_utc_offset_seconds,
            view_count: fields.view_count,
            body,
            create_time: now,
            update_time: now,
            delete_time: None,
            legal_hold: false,
        };
        bounds::check_answer(&record, fields.body.len(), self.max_message_bytes)?;
        self.store_body(&record.body, &fields.body).await?;
        let text = SearchText { body: fields.body };
        if let Err(error) = self.metadata.insert_article(&record, &text).await {
            self.discard(&record.body.key).await;
            return Err(error);
        }
        self.write_article_manifest(&record.id).await;
        Ok(record)
    }

    /// Imports one article in the portal's export format; returns it with its body.
    pub async fn import_article(
        &self,
        export_text: &[u8],
        article_id: &str,
        request_id: &str,
    ) -> Result<(ArticleRecord, String)> {
        if export_text.len() > bounds::MAX_EXPORT_BYTES {
            return Err(ArchiveError::new(
                Reason::BodyTooLarge,
                format!("the export is {} bytes; at most {} are imported", export_text.len(), bounds::MAX_EXPORT_BYTES),
            ));
        }
        let malformed = |e: export::ExportError| ArchiveError::new(Reason::ExportMalformed, format!("export {e}"));
        let parsed = export::parse(export::decode(export_text).map_err(malformed)?).map_err(malformed)?;
        let fields = ArticleFields {
            title: parsed.title,
            body: parsed.body,
            author: parsed.author,
            keywords: parsed.keywords,
            publish_time: Some(parsed.publish_time.with_timezone(&Utc)),
            publish_utc_offset_seconds: parsed.publish_time.offset().local_minus_utc(),
            view_count: parsed.view_count,
        };
        self.create_article(fields, article_id, request_id).await
    }

    /// An article and, when `with_body`, its text.
    pub async fn get_article(
        &self,
        id: &ArticleId,
        revision: Option<i64>,
        with_body: bool,
    ) -> Result<(ArticleRecord, Option<String>)> {
        let record = match revision {
            None => self.current_article(id).await?,
            Some(_) => self.metadata.get_article(id, revision).await?,
        };
        let body = if with_body { Some(self.read_body(&record).await?) } else { None };
        Ok((record, body))
    }

    /// The current revision: from the article cache when it may answer,
    /// else from the database (and then cached).
    async fn current_article(&self, id: &ArticleId) -> Result<ArticleRecord> {
        if let Some(record) = self.article_cache.get(id) {
            return Ok(record);
        }
        let fill = self.article_cache.before_read(id);
        let record = self.metadata.get_article(id, None).await?;
        if let Some(fill) = fill {
            self.article_cache.fill(fill, &record);
        }
        Ok(record)
    }

    /// The text of `record`'s body: from the cache of recent bodies, or
    /// from the store (and then cached).
    async fn read_body(&self, record: &ArticleRecord) -> Result<String> {
        if let Some(body) = self.bodies.get(&record.body.key) {
            return Ok(body.to_string());
        }
        let bytes = self.blobs.get_bytes(&record.body.key, record.body.size_bytes).await?;
        let body =
            String::from_utf8(bytes.to_vec()).map_err(|e| ArchiveError::internal("reading an article body", e))?;
        self.bodies.insert(&record.body.key, body.as_str().into());
        Ok(body)
    }

    pub async fn update_article(&self, id: &ArticleId, update: ArticleUpdate) -> Result<(ArticleRecord, String)> {
        if update.etag.is_empty() {
            return Err(ArchiveError::new(
                Reason::MissingEtag,
                "etag is required: send the etag of the revision you read",
            ));
        }
        if update.mask.is_empty() {
            return Err(ArchiveError::new(Reason::MissingUpdateMask, "update_mask must name at least one field"));
        }
        let current = self.metadata.get_article(id, None).await?;
        if current.etag != update.etag {
            return Err(ArchiveError::new(
                Reason::EtagMismatch,
                format!("article {} was changed since it was read; read it again and retry", id.name()),
            ));
        }
        let mut fields = ArticleFields {
            title: current.title.clone(),
            body: String::new(),
            author: current.author.clone(),
            keywords: current.keywords.clone(),
            publish_time: Some(current.publish_time),
            publish_utc_offset_seconds: current.publish_utc_offset_seconds,
            view_count: current.view_count,
        };
        let mut body_changed = false;
        for path in &update.mask {
            match path.as_str() {
                "title" => fields.title = update.fields.title.clone(),
                "author" => fields.author = update.fields.author.clone(),
                "keywords" => fields.keywords = update.fields.keywords.clone(),
                "publish_time" => {
                    fields.publish_time = Some(update.fields.publish_time.ok_or_else(|| {
                        ArchiveError::new(Reason::MissingPublishTime, "publish_time is in update_mask but not set")
                    })?)
                }
                "publish_utc_offset_seconds" => {
                    fields.publish_utc_offset_seconds = update.fields.publish_utc_offset_seconds
                }
                "body" => {
                    fields.body = update.fields.body.clone();
                    body_changed = true;
                }
                other => {
                    return Err(ArchiveError::new(
                        Reason::InvalidUpdateMask,
                        format!(
                            "update_mask path {} is not one of title, body, author, keywords, publish_time, \
                             publish_utc_offset_seconds",
                            crate::error::quoted(other)
                        ),
                    ));
                }
            }
        }
        check_fields(&fields)?;
        if !body_changed {
            fields.body = self.read_body(&current).await?;
        }
        let body = fields.body.clone();
        let next = run_to_completion(self.clone().store_update(current, fields, body_changed, update.etag)).await?;
        Ok((next, body))
    }

    /// Writes the new body (when it changed), then commits the next revision.
    async fn store_update(
        self,
        current: ArticleRecord,
        fields: ArticleFields,
        body_changed: bool,
        expected_etag: String,
    ) -> Result<ArticleRecord> {
        let body_object = if body_changed { body_object(&current.id, &fields.body) } else { current.body.clone() };
        let next = ArticleRecord {
            revision: current.revision + 1,
            etag: new_etag(),
            media: if body_changed {
                crate::metadata::links_for_body(&fields.body, &current.media)
            } else {
                current.media.clone()
            },
            title: fields.title,
            author: fields.author,
            keywords: fields.keywords,
            publish_time: fields.publish_time.unwrap_or(current.publish_time),
            publish_utc_offset_seconds: fields.publish_utc_offset_seconds,
            body: body_object,
            update_time: now(),
            ..current
        };
        bounds::check_answer(&next, fields.body.len(), self.max_message_bytes)?;
        if body_changed {
            self.store_body(&next.body, &fields.body).await?;
        }
        let text = SearchText { body: fields.body };
        let links = match self.metadata.update_article(&expected_etag, &next, &text).await {
            Ok(links) => links,
            Err(error) => {
                if body_changed {
                    self.discard(&next.body.key).await;
                }
                return Err(error);
            }
        };
        self.write_article_manifest(&next.id).await;
        Ok(ArticleRecord { media: links, ..next })
    }

    pub async fn delete_article(&self, id: &ArticleId, etag: &str) -> Result<()> {
        self.metadata.delete_article(id, (!etag.is_empty()).then_some(etag)).await?;
        self.write_article_manifest(id).await;
        Ok(())
    }

    /// Revisions of an article, newest first, and the token of the next page.
    pub async fn list_revisions(
        &self,
        id: &ArticleId,
        page_size: i32,
        token: &str,
    ) -> Result<(Vec<ArticleRecord>, String)> {
        let page_size = page_token::page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let fingerprint = page_token::fingerprint(id);
        let before: Option<i64> = self.page_tokens.decode(token, &fingerprint)?;
        let mut revisions = self.metadata.list_revisions(id, before, page_size + 1).await?;
        let more = revisions.len() > page_size as usize;
        revisions.truncate(page_size as usize);
        let cut = bounds::cut_to_page_bytes(&mut revisions, |revision| bounds::answer_bytes(revision, 0));
        let next_token = if more || cut {
            self.page_tokens.encode(revisions.last().map_or(0, |r| r.revision), fingerprint)?
        } else {
            String::new()
        };
        Ok((revisions, next_token))
    }

    pub async fn undelete_article(&self, id: &ArticleId) -> Result<ArticleRecord> {
        let record = self.metadata.undelete_article(id).await?;
        self.write_article_manifest(id).await;
        Ok(record)
    }

    pub async fn set_legal_hold(&self, id: &ArticleId, hold: bool) -> Result<ArticleRecord> {
        let record = self.metadata.set_legal_hold(id, hold).await?;
        self.write_article_manifest(id).await;
        Ok(record)
    }
}
