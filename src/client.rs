//! Client-side helpers shared by `archivectl` and the tests.

use crate::proto::v1::{
    UploadFinish, UploadHeader, UploadMediaRequest, UploadResume, media_service_client::MediaServiceClient,
    upload_media_request::Kind,
};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tonic::{
    codegen::{Body, StdError},
    metadata::{Ascii, MetadataValue},
    service::interceptor::InterceptedService,
    transport::Channel,
};

/// Size of the chunks the client sends.
pub const UPLOAD_CHUNK_BYTES: usize = 1024 * 1024;

/// The messages of an upload of `reader`: header, chunks, then a finish with
/// the size, SHA-256 and CRC32C computed on the way. Memory stays at one chunk.
/// `on_chunk` sees each chunk's length (for progress bars).
pub fn upload_messages<R>(
    header: UploadHeader,
    reader: R,
    on_chunk: impl Fn(usize) + Send + Sync + 'static,
) -> impl Stream<Item = UploadMediaRequest> + Send
where
    R: AsyncRead + Unpin + Send + 'static,
{
    enum State<R> {
        Header(UploadHeader, R),
        Body(R, Sha256, u32, u64),
        Done,
    }
    let on_chunk = std::sync::Arc::new(on_chunk);
    futures::stream::unfold(State::Header(header, reader), move |state| {
        let on_chunk = on_chunk.clone();
        async move {
            match state {
                State::Header(header, reader) => Some((
                    UploadMediaRequest { kind: Some(Kind::Header(header)) },
                    State::Body(reader, Sha256::new(), 0, 0),
                )),
                State::Body(mut reader, mut hasher, crc32c, size) => {
                    let mut buffer = vec![0u8; UPLOAD_CHUNK_BYTES];
                    let mut filled = 0;
                    while filled < buffer.len() {
                        match reader.read(&mut buffer[filled..]).await {
                            Ok(0) => break,
                            Ok(n) => filled += n,
                            // A read error ends the stream without a finish: the server discards it.
                            Err(error) => {
                                tracing::error!(%error, "reading the upload failed");
                                return None;
                            }
                        }
                    }
                    if filled == 0 {
                        let finish = UploadFinish {
                            size_bytes: size as i64,
                            sha256: hex::encode(hasher.finalize()),
                            crc32c: Some(crc32c),
                        };
                        return Some((UploadMediaRequest { kind: Some(Kind::Finish(finish)) }, State::Done));
                    }
                    buffer.truncate(filled);
                    hasher.update(&buffer);
                    let crc32c = crc32c::crc32c_append(crc32c, &buffer);
                    on_chunk(filled);
                    let chunk = UploadMediaRequest { kind: Some(Kind::Chunk(Bytes::from(buffer))) };
                    Some((chunk, State::Body(reader, hasher, crc32c, size + filled as u64)))
                }
                State::Done => None,
            }
        }
    })
}

/// HTTP/2 flow-control windows of a client: large enough that one stream
/// keeps a loopback or LAN link busy with 1 MiB chunks. archived's own
/// stream window, which bounds what an upload buffers, is smaller (app.rs).
pub const STREAM_WINDOW_BYTES: u32 = 4 * 1024 * 1024;
pub const CONNECTION_WINDOW_BYTES: u32 = 16 * 1024 * 1024;
/// Largest HTTP/2 frame either end accepts: a 1 MiB chunk goes out in one
/// frame instead of 64 frames of the 16 KiB default.
pub const MAX_FRAME_BYTES: u32 = 1024 * 1024;

/// Connects to archived at `url` (`http://HOST:PORT`) with those windows.
pub async fn connect(url: &str) -> anyhow::Result<Channel> {
    Ok(endpoint(url)?.connect().await?)
}

fn endpoint(url: &str) -> anyhow::Result<tonic::transport::Endpoint> {
    Ok(Channel::from_shared(url.to_owned())?
        .initial_stream_window_size(Some(STREAM_WINDOW_BYTES))
        .initial_connection_window_size(Some(CONNECTION_WINDOW_BYTES))
        .max_frame_size(MAX_FRAME_BYTES)
        .tcp_nodelay(true))
}

/// Connects a media client with message limits that fit the server's, on
/// a [`Channel`] or a [`Connection`].
pub fn media_client<T>(channel: T) -> MediaServiceClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    MediaServiceClient::new(channel).max_decoding_message_size(16 * 1024 * 1024)
}

/// Sends `authorization: Bearer TOKEN` with every call (nothing without a
/// token).
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    pub fn new(token: Option<&str>) -> anyhow::Result<Self> {
        let value = token
            .map(|token| format!("Bearer {token}").parse::<MetadataValue<Ascii>>())
            .transpose()
            .map_err(|_| anyhow::anyhow!("the token must be printable ASCII"))?;
        Ok(Self(value.map(|mut value| {
            value.set_sensitive(true);
            value
        })))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel to archived that presents the caller's token.
pub type Connection = InterceptedService<Channel, Bearer>;

/// How a client reaches archived beyond its URL.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Bearer token to present.
    pub token: Option<String>,
    /// PEM CA that signed the server's certificate (`https://` URLs).
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate and key, for servers that want mutual TLS.
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
}

/// Connects to archived at `url` (`http://` or, with a CA, `https://`).
pub async fn connect_with(url: &str, options: &ClientOptions) -> anyhow::Result<Connection> {
    use anyhow::Context;
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let bearer = Bearer::new(options.token.as_deref())?;
    let mut endpoint = endpoint(url)?;
    if url.starts_with("https://") {
        let read = |path: &std::path::Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
        let ca = options.ca_file.as_deref().context("an https:// server needs a CA file (--ca-file)")?;
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
        match (&options.cert_file, &options.key_file) {
            (Some(cert), Some(key)) => tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?)),
            (None, None) => {}
            _ => anyhow::bail!("a client certificate needs both --cert-file and --key-file"),
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(InterceptedService::new(endpoint.connect().await?, bearer))
}

/// The messages of one stream of a resumable upload: `resume` at `offset`,
/// the rest of `reader` (positioned there), then `finish` (the checksums of
/// the whole clip, known beforehand).
pub fn resumed_messages<R>(
    upload_id: String,
    offset: u64,
    reader: R,
    finish: UploadFinish,
    on_chunk: impl Fn(usize) + Send + Sync + 'static,
) -> impl Stream<Item = UploadMediaRequest> + Send
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let resume = UploadMediaRequest { kind: Some(Kind::Resume(UploadResume { upload_id, offset: offset as i64 })) };
    let chunks = tokio_util::io::ReaderStream::with_capacity(reader, UPLOAD_CHUNK_BYTES)
        .take_while(|read| {
            // A read error ends the stream without a finish; the upload
            // keeps what the server stored.
            if let Err(error) = read {
                tracing::error!(%error, "reading the upload failed");
            }
            std::future::ready(read.is_ok())
        })
        .filter_map(move |read| {
            std::future::ready(read.ok().map(|chunk| {
                on_chunk(chunk.len());
                UploadMediaRequest { kind: Some(Kind::Chunk(chunk)) }
            }))
        });
    let finish = UploadMediaRequest { kind: Some(Kind::Finish(finish)) };
    futures::stream::once(async { resume }).chain(chunks).chain(futures::stream::once(async { finish }))
}

/// Whether a failed call is worth trying again as it is (gRPC's status-code
/// guide): the server or the link went away (UNAVAILABLE), the deadline
/// passed (DEADLINE_EXCEEDED), or a limit says when to come back
/// (RESOURCE_EXHAUSTED with `google.rpc.RetryInfo`). Nothing else: an
/// INTERNAL or UNKNOWN the server sent is a verdict.
pub fn is_transient(status: &tonic::Status) -> bool {
    use tonic::Code;
    use tonic_types::StatusExt;
    match code(status) {
        Code::Unavailable | Code::DeadlineExceeded => true,
        Code::ResourceExhausted => status.get_details_retry_info().is_some(),
        _ => false,
    }
}

/// The status's code as gRPC means it. tonic labels a link that broke
/// under a call INTERNAL or UNKNOWN (a server that died mid-stream: broken
/// pipe, reset stream) or CANCELLED (a call sent on a connection that then
/// closed); gRPC's HTTP/2 mapping calls all of that UNAVAILABLE. A status
/// the server sent was read from its trailers and has no source error; one
/// tonic made from a transport error keeps that error as its source.
fn code(status: &tonic::Status) -> tonic::Code {
    use tonic::Code;
    match status.code() {
        Code::Internal | Code::Unknown | Code::Cancelled if std::error::Error::source(status).is_some() => {
            Code::Unavailable
        }
        code => code,
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;
    use std::time::Duration;
    use tonic::{Code, Status};
    use tonic_types::{ErrorDetails, StatusExt};

    #[test]
    fn only_weather_is_retried() {
        for code in [Code::Unavailable, Code::DeadlineExceeded] {
            assert!(is_transient(&Status::new(code, "")), "{code:?}");
        }
        for code in [Code::InvalidArgument, Code::Aborted, Code::Cancelled, Code::NotFound] {
            assert!(!is_transient(&Status::new(code, "")), "{code:?}");
        }
        // INTERNAL or UNKNOWN the server sent is a verdict, ErrorInfo or not.
        for code in [Code::Internal, Code::Unknown] {
            let verdict = ErrorDetails::with_error_info("INTERNAL", "archive.v1", []);
            assert!(!is_transient(&Status::with_error_details(code, "internal error", verdict)), "{code:?}");
            assert!(!is_transient(&Status::new(code, "from a proxy")), "{code:?}");
        }
        // The same codes made by tonic from a broken link: the link broke.
        let broken = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        let status = Status::from_error(Box::new(broken));
        assert_eq!(status.code(), Code::Unknown);
        assert!(is_transient(&status));
        assert!(!is_transient(&Status::resource_exhausted("over a limit that waiting does not lift")));
        let wait = ErrorDetails::with_retry_info(Some(Duration::from_secs(1)));
        assert!(is_transient(&Status::with_error_details(Code::ResourceExhausted, "slow down", wait)));
    }
}
