//! OTLP traces from a real archived process: with `[log] otlp_endpoint`
//! set, a call's span reaches the collector as a child of the caller's
//! W3C `traceparent`, named after the call.

use crate::common::{fixture, spawn_archived};
use archive::proto::v1::{self as pb, article_service_client::ArticleServiceClient};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::time::Duration;
use tokio::sync::mpsc;

/// An OTLP collector that hands every span it receives to the test.
struct Collector(mpsc::UnboundedSender<(String, Span)>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref())
                .map(|value| format!("{value:?}"))
                .unwrap_or_default();
            for span in resource.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                let _ = self.0.send((service.clone(), span));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_continues_the_callers_trace_in_the_collector() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    let (spans, mut received) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(spans)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{collector}");
    let server = spawn_archived(
        dir.path(),
        &[
            ("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"),
            ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0"),
            ("ARCHIVE__LOG__OTLP_ENDPOINT", endpoint.as_str()),
            ("ARCHIVE__LOG__OTLP_SERVICE_NAME", "archived-under-test"),
            // The batch processor sends every 100 ms instead of 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let mut articles = ArticleServiceClient::new(server.channel().await);
    let import = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: fixture("article-2019-09-30-giao-ban-truc-tuyen.txt").into(),
        article_id: "vet".into(),
    };
    articles.import_article(import).await.expect("imports");

    let (trace_id, parent_id) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut request = tonic::Request::new(pb::GetArticleRequest { name: "articles/vet".into(), ..Default::default() });
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-{parent_id}-01").parse().unwrap());
    articles.get_article(request).await.expect("gets");

    let hex = |bytes: &[u8]| bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>();
    let (service, span) = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (service, span) = received.recv().await.expect("the collector runs");
            // The call's own span; the spans inside it are its children.
            if hex(&span.trace_id) == trace_id && hex(&span.parent_span_id) == parent_id {
                return (service, span);
            }
        }
    })
    .await
    .expect("the call's span reaches the collector, a child of the caller's");
    assert_eq!(span.name, "archive.v1.ArticleService/GetArticle");
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert!(service.contains("archived-under-test"), "{service}");
    let attribute = |key: &str| span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.clone());
    assert!(format!("{:?}", attribute("request_id")).len() > 30, "the request id is an attribute: {span:?}");
}
