//! One-time upload URLs. A caller with the write scope mints one
//! (CreateUploadUrl); whoever holds it may start one upload with it over
//! tus (the gateway's `/tus/{token}`), with no token of their own. The
//! upload is an ordinary resumable upload of the minter's: same session,
//! limits and checks at its end.
//!
//! The URL's claims are signed, not stored: the upload's id is fixed when
//! the URL is minted, so the session's row is what makes the URL one-time.
//! A URL may start its upload until it expires; the upload then lives as
//! any resumable upload does (its expiry pushed back by each stored part).
//! A session outlives its URL (the URL's lifetime is at most the session's),
//! so the URL can start an upload again only after its upload was
//! cancelled: one URL never makes two clips.

use super::session::UploadCaller;
use crate::domain::{Archive, UploadHeader, now, signing::SignatureError};
use crate::error::Reason;
use crate::{
    error::{ArchiveError, ErrorKind, Result},
    ids::{ArticleId, UploadId},
    metadata::UploadSession,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What an upload URL's signature covers (no other token verifies as one).
const PURPOSE: &str = "UPLOAD";
/// How long a URL may start its upload unless the minter says otherwise.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(3600);

/// What a caller asks of an upload URL.
#[derive(Debug, Clone, Default)]
pub struct UploadUrlRequest {
    pub max_size_bytes: i64,
    pub ttl: Option<Duration>,
    pub article: Option<ArticleId>,
    pub sha256: Option<String>,
}

/// A minted upload URL.
#[derive(Debug, Clone)]
pub struct UploadUrl {
    pub url: String,
    pub expire_time: DateTime<Utc>,
    pub upload: UploadId,
}

/// What an upload URL allows, as signed into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadGrant {
    /// The upload it starts.
    pub upload: String,
    /// Unix seconds after which it starts none.
    pub expires: i64,
    pub max_size: u64,
    /// The minter: the upload's owner.
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl UploadGrant {
    pub fn upload_id(&self) -> Result<UploadId> {
        UploadId::parse(&self.upload)
    }

    /// Who uses the upload: the minter, through the URL.
    pub fn caller(&self) -> UploadCaller {
        UploadCaller { name: self.owner.clone(), may_take_over: false }
    }

    pub fn article(&self) -> Option<ArticleId> {
        self.article.as_deref().and_then(|article| ArticleId::parse(article).ok())
    }
}

impl Archive {
    /// Mints a one-time upload URL for `by`.
    pub async fn create_upload_url(&self, request: UploadUrlRequest, by: &UploadCaller) -> Result<UploadUrl> {
        let max_upload = self.media_settings.max_upload_bytes;
        let max_size = u64::try_from(request.max_size_bytes).ok().filter(|size| (1..=max_upload).contains(size));
        let max_size = max_size.ok_or_else(|| {
            ArchiveError::new(
                Reason::InvalidUploadSize,
                format!("max_size_bytes must be from 1 to media.max_upload_bytes ({max_upload})"),
            )
        })?;
        let longest = Duration::from_secs(self.media_settings.upload_session_ttl_seconds);
        let ttl = request.ttl.unwrap_or(DEFAULT_URL_TTL.min(longest));
        if ttl.is_zero() || ttl > longest {
            return Err(ArchiveError::new(
                Reason::InvalidTtl,
                format!("ttl must be positive and at most media.upload_session_ttl_seconds ({} s)", longest.as_secs()),
            ));
        }
        let sha256 = request.sha256.map(|sha256| sha256.to_ascii_lowercase());
        if let Some(sha256) = &sha256
            && (sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ArchiveError::new(Reason::InvalidSha256, "sha256 must be 64 hex digits"));
        }
        if let Some(article) = &request.article {
            // Refused now rather than after the bytes moved.
            self.metadata.get_article(article, None).await?;
        }
        let expire_time = now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let upload = UploadId::generate();
        let grant = UploadGrant {
            upload: upload.to_string(),
            expires: expire_time.timestamp(),
            max_size,
            owner: by.name.clone(),
            article: request.article.map(|article| article.to_string()),
            sha256,
        };
        let claims = serde_json::to_vec(&grant).map_err(|e| ArchiveError::internal("signing an upload URL", e))?;
        let token = self.signer.sign_claims(PURPOSE, &claims);
        tracing::info!(%upload, max_size, expires = %expire_time, "upload URL minted");
        Ok(UploadUrl { url: format!("{}/tus/{token}", self.gateway_base_url), expire_time, upload })
    }

    /// The grant of an upload URL's token, if this service signed it.
    pub fn upload_grant(&self, token: &str) -> std::result::Result<UploadGrant, SignatureError> {
        let claims = self.signer.verify_claims(PURPOSE, token)?;
        serde_json::from_slice(&claims).map_err(|_| SignatureError::Invalid)
    }

    /// Starts the upload of `grant` for a clip of `length` bytes.
    pub async fn start_granted_upload(
        &self,
        grant: &UploadGrant,
        length: u64,
        filename: String,
        content_type: String,
    ) -> Result<UploadSession> {
        if now().timestamp() >= grant.expires {
            return Err(ArchiveError::new(Reason::UploadExpired, "this upload URL has expired; ask for a new one"));
        }
        if length > grant.max_size {
            return Err(ArchiveError::new(
                Reason::UploadTooLarge,
                format!("this upload URL takes at most {} bytes, not {length}", grant.max_size),
            ));
        }
        let id = grant.upload_id()?;
        match self.metadata.get_upload(&id).await {
            Ok(_) => return Err(used(&id)),
            Err(error) if error.kind == ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let header = UploadHeader {
            filename,
            content_type,
            media_id: String::new(),
            sha256: grant.sha256.clone().unwrap_or_default(),
            size_bytes: length as i64,
        };
        // Two first requests at once: the session's key lets one in.
        self.open_session(header, id.clone(), &grant.owner, Some(length))
            .await
            .map_err(|error| if error.reason == Reason::UploadUrlUsed { used(&id) } else { error })
    }
}

fn used(id: &UploadId) -> ArchiveError {
    ArchiveError::new(
        Reason::UploadUrlUsed,
        format!("this upload URL has started upload {id} already; resume that one (HEAD, then PATCH)"),
    )
}
