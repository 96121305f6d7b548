//! Client-side helpers shared by `archivectl` and the tests.

use crate::proto::v1::{
    UploadFinish, UploadHeader, UploadMediaRequest, media_service_client::MediaServiceClient,
    upload_media_request::Kind,
};
use bytes::Bytes;
use futures::Stream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tonic::transport::Channel;

/// Size of the chunks the client sends.
pub const UPLOAD_CHUNK_BYTES: usize = 256 * 1024;

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

/// Connects a media client with message limits that fit the server's.
pub fn media_client(channel: Channel) -> MediaServiceClient<Channel> {
    MediaServiceClient::new(channel).max_decoding_message_size(16 * 1024 * 1024)
}
