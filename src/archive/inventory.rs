//! What is stored: clips page by page, and the archive's counts.

use super::{
    Archive,
    page_token::{self, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
};
use crate::{
    error::Result,
    metadata::{ArchiveStatistics, MediaCursor, MediaRecord},
};

/// What a clip listing's token is bound to (it has no filters).
const MEDIA_LISTING: &str = "media";

impl Archive {
    /// One page of clips, newest first, and the token of the next.
    pub async fn list_media(&self, page_size: i32, token: &str) -> Result<(Vec<MediaRecord>, String)> {
        let page_size = page_token::page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let fingerprint = page_token::fingerprint(&MEDIA_LISTING);
        let after: Option<MediaCursor> = page_token::decode(token, &fingerprint)?;
        let mut media = self.metadata.list_media(after.as_ref(), page_size + 1).await?;
        let next_token = if media.len() > page_size as usize {
            media.truncate(page_size as usize);
            let last = &media[media.len() - 1];
            let cursor =
                MediaCursor { create_time_micros: last.create_time.timestamp_micros(), id: last.id.to_string() };
            page_token::encode(cursor, fingerprint)?
        } else {
            String::new()
        };
        Ok((media, next_token))
    }

    /// What the archive holds: articles, revisions, views, clips, stored bytes, open uploads.
    pub async fn statistics(&self) -> Result<ArchiveStatistics> {
        self.metadata.statistics().await
    }
}
