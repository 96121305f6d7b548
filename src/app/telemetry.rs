//! Logging and tracing. Logs: `tracing` to stderr, filtered by `RUST_LOG`
//! (default `info`), as text or as one JSON object per line; a call's lines
//! carry its span (method and request id, [`crate::service::request_id`]).
//! Traces (off by default): with `[log] otlp_endpoint`, spans go to an OTLP
//! collector over gRPC, each call's span a child of the caller's W3C
//! `traceparent`.

use crate::config::{LogFormat, LogSettings};
use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io::IsTerminal;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Text logs (tests, tools).
pub fn init() {
    subscriber(LogFormat::Text, None);
}

/// What [`start`] set up; [`Telemetry::shutdown`] sends the spans still
/// buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Logs as `settings` say, and the OTLP exporter when an endpoint is set.
/// Must run inside the Tokio runtime (the exporter's channel lives there).
pub fn start(settings: &LogSettings) -> anyhow::Result<Telemetry> {
    let provider = settings.otlp_endpoint.as_deref().map(|endpoint| provider(endpoint, settings)).transpose()?;
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        crate::service::request_id::continue_traces();
    }
    subscriber(settings.format, provider.as_ref());
    if let Some(endpoint) = &settings.otlp_endpoint {
        tracing::info!(endpoint, service = %settings.otlp_service_name, "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

impl Telemetry {
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        // The SDK blocks until the exporter answers: not on a runtime worker.
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the last spans were not exported"),
            Err(error) => tracing::warn!(%error, "the span exporter did not stop"),
        }
    }
}

fn provider(endpoint: &str, settings: &LogSettings) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(std::time::Duration::from_secs(5))
        .build()
        .with_context(|| format!("the OTLP exporter to {endpoint}"))?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(settings.otlp_service_name.clone()).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

fn subscriber(format: LogFormat, provider: Option<&SdkTracerProvider>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.with_target(false).with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => logs.json().with_current_span(false).with_span_list(true).boxed(),
    };
    let traces = provider.map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("archive")));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(filter).with(logs).with(traces).try_init();
}
