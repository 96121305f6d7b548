use super::convert;
use crate::error::Clipped;
use crate::{
    domain::{Archive, FixityAudit, ListArticles, RelatedArticles, SearchArticles},
    ids::{ArticleId, MediaId},
    proto::v1::{self as pb, metadata_service_server::MetadataService},
};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use tonic::{Request, Response, Status};
use tracing::instrument;

#[derive(Debug, Clone)]
pub struct MetadataGrpc {
    archive: Archive,
}

impl MetadataGrpc {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

type AuditFixityStream = Pin<Box<dyn Stream<Item = Result<pb::AuditFixityResponse, Status>> + Send>>;
type WatchChangesStream = Pin<Box<dyn Stream<Item = Result<pb::WatchChangesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl MetadataService for MetadataGrpc {
    type AuditFixityStream = AuditFixityStream;
    type WatchChangesStream = WatchChangesStream;

    #[instrument(skip_all)]
    async fn list_articles(
        &self,
        request: Request<pb::ListArticlesRequest>,
    ) -> Result<Response<pb::ListArticlesResponse>, Status> {
        let request = request.into_inner();
        let listing = ListArticles {
            page_size: request.page_size,
            page_token: request.page_token,
            ..convert::list_filters(
                request.publish_time_start.as_ref(),
                request.publish_time_end.as_ref(),
                request.author,
                request.keyword,
            )?
        };
        let (records, next_page_token) = self.archive.list_articles(&listing).await?;
        let articles = records.iter().map(|record| convert::article(record, None)).collect();
        Ok(Response::new(pb::ListArticlesResponse { articles, next_page_token }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
    async fn get_media(&self, request: Request<pb::GetMediaRequest>) -> Result<Response<pb::GetMediaResponse>, Status> {
        let id = MediaId::from_name(&request.get_ref().name)?;
        let record = self.archive.get_media(&id).await?;
        Ok(Response::new(pb::GetMediaResponse { media: Some(convert::media(&record)) }))
    }

    #[instrument(skip_all)]
    async fn search_articles(
        &self,
        request: Request<pb::SearchArticlesRequest>,
    ) -> Result<Response<pb::SearchArticlesResponse>, Status> {
        let request = request.into_inner();
        let mut authors = request.authors;
        authors.push(request.author);
        let mut keywords = request.keywords;
        keywords.push(request.keyword);
        let search = SearchArticles {
            query: request.query,
            page_size: request.page_size,
            page_token: request.page_token,
            filters: convert::search_filters(
                request.publish_time_start.as_ref(),
                request.publish_time_end.as_ref(),
                authors,
                keywords,
                request.has_media,
            )?,
            order: convert::search_order(request.order_by)?,
            facets: convert::search_facets(&request.facets)?,
            facet_size: request.facet_size,
        };
        let page = self.archive.search_articles(&search).await?;
        Ok(Response::new(pb::SearchArticlesResponse {
            results: page.results.into_iter().map(convert::search_result).collect(),
            next_page_token: page.next_page_token,
            total_size: page.total_size as i64,
            total_size_is_lower_bound: page.total_size_is_lower_bound,
            facets: page.facets.into_iter().map(convert::facet_counts).collect(),
        }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
    async fn list_related_articles(
        &self,
        request: Request<pb::ListRelatedArticlesRequest>,
    ) -> Result<Response<pb::ListRelatedArticlesResponse>, Status> {
        let request = request.into_inner();
        let related = RelatedArticles {
            id: ArticleId::from_name(&request.name)?,
            page_size: request.page_size,
            filters: convert::search_filters(
                request.publish_time_start.as_ref(),
                request.publish_time_end.as_ref(),
                request.authors,
                request.keywords,
                request.has_media,
            )?,
        };
        let results = self.archive.related_articles(&related).await?;
        Ok(Response::new(pb::ListRelatedArticlesResponse {
            results: results.into_iter().map(convert::search_result).collect(),
        }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
    async fn record_view(
        &self,
        request: Request<pb::RecordViewRequest>,
    ) -> Result<Response<pb::RecordViewResponse>, Status> {
        let id = ArticleId::from_name(&request.get_ref().name)?;
        let view_count = self.archive.record_views(&id, request.get_ref().count).await?;
        Ok(Response::new(pb::RecordViewResponse { view_count }))
    }

    #[instrument(skip_all)]
    async fn list_media(
        &self,
        request: Request<pb::ListMediaRequest>,
    ) -> Result<Response<pb::ListMediaResponse>, Status> {
        let request = request.into_inner();
        let (records, next_page_token) = self.archive.list_media(request.page_size, &request.page_token).await?;
        let media = records.iter().map(convert::media).collect();
        Ok(Response::new(pb::ListMediaResponse { media, next_page_token }))
    }

    #[instrument(skip_all)]
    async fn get_archive_statistics(
        &self,
        _request: Request<pb::GetArchiveStatisticsRequest>,
    ) -> Result<Response<pb::GetArchiveStatisticsResponse>, Status> {
        let counts = self.archive.statistics().await?;
        Ok(Response::new(pb::GetArchiveStatisticsResponse {
            article_count: counts.articles,
            deleted_article_count: counts.deleted_articles,
            held_article_count: counts.held_articles,
            revision_count: counts.revisions,
            view_count: counts.views,
            media_count: counts.media,
            media_stored_bytes: counts.media_stored_bytes,
            open_upload_count: counts.open_uploads,
            last_fixity_audit: counts.last_fixity_audit.as_ref().map(convert::fixity_report),
        }))
    }

    #[instrument(skip_all)]
    async fn audit_fixity(
        &self,
        request: Request<pb::AuditFixityRequest>,
    ) -> Result<Response<AuditFixityStream>, Status> {
        let request = request.into_inner();
        let audit = FixityAudit {
            sample_fraction: if request.sample_fraction == 0.0 { 1.0 } else { request.sample_fraction },
            // A negative rate becomes 0, which is out of range.
            bytes_per_second: (request.bytes_per_second != 0).then(|| request.bytes_per_second.max(0) as u64),
        };
        let events = self.archive.audit_fixity(audit)?;
        Ok(Response::new(Box::pin(events.map(|event| Ok(convert::fixity_event(event?))))))
    }

    #[instrument(skip_all)]
    async fn watch_changes(
        &self,
        request: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<WatchChangesStream>, Status> {
        let watch = convert::watch_changes(request.into_inner())?;
        let batches = self.archive.watch_changes(watch).await?;
        Ok(Response::new(Box::pin(batches.map(|batch| Ok(convert::change_batch(batch?))))))
    }

    #[instrument(skip_all)]
    async fn get_change_cursor(
        &self,
        _request: Request<pb::GetChangeCursorRequest>,
    ) -> Result<Response<pb::GetChangeCursorResponse>, Status> {
        Ok(Response::new(pb::GetChangeCursorResponse { cursor: self.archive.change_cursor().await? }))
    }
}
