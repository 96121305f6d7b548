//! Article writers beside the uploads: ImportArticle (the portal's export
//! format, Vietnamese text) with a chosen id, then UpdateArticle of the
//! body, each tried again when the server or its backends went away.

use super::uploads::{channel, retryable};
use crate::common::update_request;
use archive::proto::v1::{self as pb, article_service_client::ArticleServiceClient};
use std::time::{Duration, Instant};
use tonic::{Code, transport::Channel};

const CALL_LIMIT: Duration = Duration::from_secs(60);
const OPERATION_LIMIT: Duration = Duration::from_secs(300);

/// A revision the server reported stored.
#[derive(Debug, Clone)]
pub struct Revision {
    pub article_id: String,
    pub revision: i64,
    pub body_sha256: String,
    /// Answered OK (else learnt on a retry: ALREADY_EXISTS, or an etag
    /// mismatch with our own body in place).
    pub acknowledged: bool,
}

#[derive(Debug, Default)]
pub struct ArticleReport {
    pub revisions: Vec<Revision>,
    pub retried: usize,
    pub hangs: usize,
    pub failures: Vec<String>,
}

const PARAGRAPHS: [&str; 5] = [
    "Sáng 5-10, Ban Tổ chức Tỉnh ủy Thái Bình tổ chức hội nghị sơ kết việc thực hiện Chỉ thị 10 của Ban Bí thư.",
    "Theo báo cáo, 100% chi bộ trực thuộc các đảng bộ cơ sở đã duy trì nền nếp sinh hoạt định kỳ hằng tháng.",
    "Nhiều chi bộ đã chủ động lựa chọn chuyên đề sinh hoạt phù hợp, như xây dựng nông thôn mới, giữ gìn an ninh.",
    "Đường giao thông nông thôn được mở rộng; người dân Thuý Sơn phấn khởi đón mùa lúa mới.",
    "Phát biểu kết luận, đồng chí Trưởng ban đề nghị các cấp ủy tiếp tục đổi mới nội dung, phương thức sinh hoạt.",
];

fn export_text(id: &str) -> String {
    format!(
        "Hội nghị giao ban trực tuyến {id}\n\nThứ 7, 05.10.2019 | 23:59:59\n0 lượt xem\n\n{}\n\n{}\n\nThu Trang\n",
        PARAGRAPHS[0], PARAGRAPHS[1]
    )
}

fn new_body(id: &str, update: usize) -> String {
    let mut body = format!("Bản sửa lần {} của bài {id}.", update + 1);
    for paragraph in PARAGRAPHS.iter().cycle().skip(update).take(3) {
        body.push_str("\n\n");
        body.push_str(paragraph);
    }
    body
}

struct Writer {
    client: ArticleServiceClient<Channel>,
    report: ArticleReport,
}

impl Writer {
    /// Runs `call` until it answers something else than weather.
    async fn call<T, F, Fut>(&mut self, mut call: F) -> Result<T, tonic::Status>
    where
        F: FnMut(ArticleServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = Instant::now();
        for attempt in 0u64.. {
            let status = match tokio::time::timeout(CALL_LIMIT, call(self.client.clone())).await {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => status,
                Err(_) => {
                    self.report.hangs += 1;
                    tonic::Status::deadline_exceeded("the kill matrix's call limit passed")
                }
            };
            // ABORTED is the caller's to judge (an etag mismatch may mean our own write landed).
            if !retryable(&status) || status.code() == Code::Aborted || started.elapsed() > OPERATION_LIMIT {
                return Err(status);
            }
            self.report.retried += 1;
            tokio::time::sleep(Duration::from_millis(100 * attempt.min(10))).await;
        }
        unreachable!()
    }

    async fn current(&mut self, name: &str) -> Result<pb::Article, tonic::Status> {
        let name = name.to_owned();
        let article = self
            .call(|mut client| {
                let request =
                    pb::GetArticleRequest { name: name.clone(), view: pb::ArticleView::Full.into(), revision: 0 };
                async move { client.get_article(request).await }
            })
            .await?;
        Ok(article.article.unwrap_or_default())
    }

    fn record(&mut self, article: &pb::Article, acknowledged: bool) {
        self.report.revisions.push(Revision {
            article_id: article.name.trim_start_matches("articles/").to_owned(),
            revision: article.revision,
            body_sha256: article.body_sha256.clone(),
            acknowledged,
        });
    }

    async fn import(&mut self, id: &str) -> Option<pb::Article> {
        let text = export_text(id);
        let mut first = true;
        let imported = self
            .call(|mut client| {
                let request = pb::ImportArticleRequest {
                    request_id: String::new(),
                    export_text: text.clone().into_bytes().into(),
                    article_id: id.into(),
                };
                let retry = !std::mem::replace(&mut first, false);
                async move {
                    match client.import_article(request).await {
                        // An earlier attempt landed, its answer lost with the server.
                        Err(status) if retry && status.code() == Code::AlreadyExists => {
                            Err(tonic::Status::already_exists("landed on an earlier attempt"))
                        }
                        other => other,
                    }
                }
            })
            .await;
        match imported {
            Ok(response) => {
                let article = response.article.unwrap_or_default();
                self.record(&article, true);
                Some(article)
            }
            Err(status)
                if status.code() == Code::AlreadyExists && status.message() == "landed on an earlier attempt" =>
            {
                match self.current(&format!("articles/{id}")).await {
                    Ok(article) if article.revision == 1 => {
                        self.record(&article, false);
                        Some(article)
                    }
                    Ok(article) => {
                        self.report.failures.push(format!("{id}: imported as revision {}", article.revision));
                        None
                    }
                    Err(status) => {
                        self.report.failures.push(format!("{id}: GetArticle after import: {status:?}"));
                        None
                    }
                }
            }
            Err(status) => {
                self.report.failures.push(format!("{id}: ImportArticle: {status:?}"));
                None
            }
        }
    }

    async fn update(&mut self, mut article: pb::Article, update: usize) -> Option<pb::Article> {
        let id = article.name.trim_start_matches("articles/").to_owned();
        let body = new_body(&id, update);
        for _ in 0..20 {
            let request = update_request(&article, &["body"], |new| new.body = body.clone());
            let updated = self
                .call(|mut client| {
                    let request = request.clone();
                    async move { client.update_article(request).await }
                })
                .await;
            match updated {
                Ok(response) => {
                    let article = response.article.unwrap_or_default();
                    self.record(&article, true);
                    return Some(article);
                }
                Err(status) if status.code() == Code::Aborted => match self.current(&article.name).await {
                    // Our update landed on an earlier attempt.
                    Ok(current) if current.body == body => {
                        self.record(&current, false);
                        return Some(current);
                    }
                    // A concurrent change won (no one else writes these): try again on it.
                    Ok(current) => article = current,
                    Err(status) => {
                        self.report.failures.push(format!("{id}: GetArticle after ABORTED: {status:?}"));
                        return None;
                    }
                },
                Err(status) => {
                    self.report.failures.push(format!("{id}: UpdateArticle {update}: {status:?}"));
                    return None;
                }
            }
        }
        self.report.failures.push(format!("{id}: UpdateArticle {update} aborted 20 times"));
        None
    }
}

/// Imports `ids` and updates each `updates` times, `pause` between calls.
pub async fn run(url: String, ids: Vec<String>, updates: usize, pause: Duration) -> ArticleReport {
    let mut writer = Writer { client: ArticleServiceClient::new(channel(&url)), report: ArticleReport::default() };
    for id in ids {
        let Some(mut article) = writer.import(&id).await else { continue };
        for update in 0..updates {
            tokio::time::sleep(pause).await;
            match writer.update(article, update).await {
                Some(updated) => article = updated,
                None => break,
            }
        }
        tokio::time::sleep(pause).await;
    }
    writer.report
}
