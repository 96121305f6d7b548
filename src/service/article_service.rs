use super::convert;
use crate::error::Clipped;
use crate::{
    domain::{Archive, ArticleUpdate},
    ids::ArticleId,
    proto::v1::{self as pb, article_service_server::ArticleService},
};
use tonic::{Request, Response, Status};
use tracing::instrument;

#[derive(Debug, Clone)]
pub struct ArticleGrpc {
    archive: Archive,
}

impl ArticleGrpc {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl ArticleService for ArticleGrpc {
    #[instrument(skip_all, fields(article_id = %Clipped(&request.get_ref().article_id)))]
    async fn create_article(
        &self,
        request: Request<pb::CreateArticleRequest>,
    ) -> Result<Response<pb::CreateArticleResponse>, Status> {
        let request = request.into_inner();
        let fields = convert::article_fields(convert::required("article", request.article)?)?;
        let (record, body) = self.archive.create_article(fields, &request.article_id, &request.request_id).await?;
        Ok(Response::new(pb::CreateArticleResponse { article: Some(convert::article(&record, Some(body))) }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::GetArticleResponse>, Status> {
        let request = request.into_inner();
        let id = ArticleId::from_name(&request.name)?;
        let full = request.view() == pb::ArticleView::Full;
        let revision = (request.revision != 0).then_some(request.revision);
        let (record, body) = self.archive.get_article(&id, revision, full).await?;
        Ok(Response::new(pb::GetArticleResponse { article: Some(convert::article(&record, body)) }))
    }

    #[instrument(skip_all)]
    async fn update_article(
        &self,
        request: Request<pb::UpdateArticleRequest>,
    ) -> Result<Response<pb::UpdateArticleResponse>, Status> {
        let request = request.into_inner();
        let article = convert::required("article", request.article)?;
        let id = ArticleId::from_name(&article.name)?;
        let mask = convert::required("update_mask", request.update_mask)?.paths;
        let update = ArticleUpdate { fields: convert::article_fields(article)?, mask, etag: request.etag };
        let (record, body) = self.archive.update_article(&id, update).await?;
        Ok(Response::new(pb::UpdateArticleResponse { article: Some(convert::article(&record, Some(body))) }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
    async fn delete_article(
        &self,
        request: Request<pb::DeleteArticleRequest>,
    ) -> Result<Response<pb::DeleteArticleResponse>, Status> {
        let request = request.into_inner();
        let id = ArticleId::from_name(&request.name)?;
        self.archive.delete_article(&id, &request.etag).await?;
        Ok(Response::new(pb::DeleteArticleResponse {}))
    }

    #[instrument(skip_all, fields(bytes = request.get_ref().export_text.len()))]
    async fn import_article(
        &self,
        request: Request<pb::ImportArticleRequest>,
    ) -> Result<Response<pb::ImportArticleResponse>, Status> {
        let request = request.into_inner();
        let (record, body) =
            self.archive.import_article(&request.export_text, &request.article_id, &request.request_id).await?;
        Ok(Response::new(pb::ImportArticleResponse { article: Some(convert::article(&record, Some(body))) }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
    async fn list_article_revisions(
        &self,
        request: Request<pb::ListArticleRevisionsRequest>,
    ) -> Result<Response<pb::ListArticleRevisionsResponse>, Status> {
        let request = request.into_inner();
        let id = ArticleId::from_name(&request.name)?;
        let (records, next_page_token) =
            self.archive.list_revisions(&id, request.page_size, &request.page_token).await?;
        let revisions = records.iter().map(|record| convert::article(record, None)).collect();
        Ok(Response::new(pb::ListArticleRevisionsResponse { revisions, next_page_token }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name)))]
    async fn undelete_article(
        &self,
        request: Request<pb::UndeleteArticleRequest>,
    ) -> Result<Response<pb::UndeleteArticleResponse>, Status> {
        let id = ArticleId::from_name(&request.get_ref().name)?;
        let record = self.archive.undelete_article(&id).await?;
        Ok(Response::new(pb::UndeleteArticleResponse { article: Some(convert::article(&record, None)) }))
    }

    #[instrument(skip_all, fields(name = %Clipped(&request.get_ref().name), hold = request.get_ref().legal_hold))]
    async fn set_legal_hold(
        &self,
        request: Request<pb::SetLegalHoldRequest>,
    ) -> Result<Response<pb::SetLegalHoldResponse>, Status> {
        let id = ArticleId::from_name(&request.get_ref().name)?;
        let record = self.archive.set_legal_hold(&id, request.get_ref().legal_hold).await?;
        Ok(Response::new(pb::SetLegalHoldResponse { article: Some(convert::article(&record, None)) }))
    }
}
