//! Server-wide limits on the calls of our services (health and reflection
//! are exempt, so probes answer under load):
//!
//! - calls in flight, all connections together (`server.max_in_flight_requests`);
//!   a stream counts until its last byte, but for WatchChanges, which
//!   follows the feed for as long as its consumer runs;
//! - calls per second per caller, by token name (`auth.requests_per_second`,
//!   `auth.burst`; everyone is one caller when auth is off);
//! - a ceiling on each unary call's time (`server.unary_timeout_seconds`);
//! - the caller's own deadline (`grpc-timeout`) on every call. tonic keeps
//!   one too, outside these layers, and answers CANCELLED (so does a tonic
//!   client's own timer); ours ends the call a little earlier with
//!   DEADLINE_EXCEEDED, as gRPC's guide says, so that this answer arrives
//!   before either fires.
//!
//! Over a limit: RESOURCE_EXHAUSTED with `google.rpc.RetryInfo`, or
//! DEADLINE_EXCEEDED, each naming its setting.

use super::auth::Caller;
use crate::error::{ArchiveError, Reason};
use bytes::Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use http_body::{Body, Frame, SizeHint};
use std::{
    collections::HashSet,
    future::Future,
    num::NonZeroU32,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codegen::{StdError, http};

use crate::service::methods::PACKAGE_PREFIX;

/// The stream a consumer keeps open for as long as it runs: not counted in
/// flight, or a few consumers would use up the server's calls for good.
const UNCOUNTED_STREAM: &str = "/archive.v1.MetadataService/WatchChanges";
/// What a client refused for the in-flight limit is told to wait.
const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);
/// How much sooner than the caller's deadline ours ends a call, at most:
/// enough for the answer to cross a LAN before the caller's own timer (and
/// tonic's here) fires; half of a deadline shorter than twice this.
const CLIENT_DEADLINE_LEAD: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Default)]
pub struct LimitSettings {
    /// 0: no limit.
    pub max_in_flight: usize,
    /// 0: no limit.
    pub requests_per_second: u32,
    pub burst: u32,
    /// `None`: no ceiling.
    pub unary_timeout: Option<Duration>,
}

struct Limits {
    settings: LimitSettings,
    in_flight: Option<Arc<Semaphore>>,
    /// By caller name, shared with the caller (no copy per call).
    rates: Option<DefaultKeyedRateLimiter<Arc<str>>>,
    /// `/package.Service/Method` of every streaming RPC, from the protos.
    streaming: HashSet<String>,
}

#[derive(Clone)]
pub struct LimitsLayer {
    limits: Arc<Limits>,
}

impl LimitsLayer {
    pub fn new(settings: LimitSettings) -> Self {
        let in_flight = (settings.max_in_flight > 0).then(|| Arc::new(Semaphore::new(settings.max_in_flight)));
        let rates = NonZeroU32::new(settings.requests_per_second).map(|rate| {
            let burst = NonZeroU32::new(settings.burst).unwrap_or(rate);
            governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { limits: Arc::new(Limits { settings, in_flight, rates, streaming: streaming_paths() }) }
    }
}

/// The paths of the RPCs that stream either way, from the known methods.
fn streaming_paths() -> HashSet<String> {
    super::methods::known().streaming_paths().map(str::to_owned).collect()
}

impl<S> tower::Layer<S> for LimitsLayer {
    type Service = LimitsService<S>;
    fn layer(&self, inner: S) -> LimitsService<S> {
        LimitsService { limits: self.limits.clone(), inner }
    }
}

#[derive(Clone)]
pub struct LimitsService<S> {
    limits: Arc<Limits>,
    inner: S,
}

impl Limits {
    /// A permit for one more call (none for one not counted in flight), or why not.
    fn admit(&self, caller: Option<&Caller>, counted: bool) -> Result<Option<OwnedSemaphorePermit>, ArchiveError> {
        if let Some(rates) = &self.rates {
            let anonymous;
            let name = match caller {
                Some(caller) => &caller.name,
                None => {
                    anonymous = Caller::anonymous();
                    &anonymous.name
                }
            };
            if let Err(not_until) = rates.check_key(name) {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                let rate = self.settings.requests_per_second;
                let error = ArchiveError::new(
                    Reason::RateLimited,
                    format!("{name:?} is over auth.requests_per_second ({rate}/s); retry after {wait:?}"),
                );
                return Err(error.retry_after(wait));
            }
        }
        let Some(in_flight) = self.in_flight.as_ref().filter(|_| counted) else { return Ok(None) };
        match in_flight.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => {
                let max = self.settings.max_in_flight;
                let error = ArchiveError::new(
                    Reason::TooManyRequests,
                    format!("archived is at server.max_in_flight_requests ({max} calls); retry shortly"),
                );
                Err(error.retry_after(IN_FLIGHT_RETRY))
            }
        }
    }
}

fn refuse<B: Default>(error: ArchiveError) -> http::Response<B> {
    tonic::Status::from(error).into_http()
}

impl<S, B> tower::Service<http::Request<B>> for LimitsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if !path.starts_with(PACKAGE_PREFIX) {
            return Box::pin(self.inner.call(request));
        }
        let counted = path != UNCOUNTED_STREAM;
        let permit = match self.limits.admit(request.extensions().get::<Caller>(), counted) {
            Ok(permit) => permit,
            Err(refused) => {
                tracing::debug!("refused: {}", refused.message);
                return Box::pin(std::future::ready(Ok(refuse(refused))));
            }
        };
        let streaming = self.limits.streaming.contains(path);
        let ceiling = self.limits.settings.unary_timeout.filter(|_| !streaming);
        let deadline = Deadline::first(grpc_timeout(request.headers()), ceiling)
            .map(|deadline| (tokio::time::Instant::now() + deadline.timer(), deadline));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = match deadline {
                None => response.await?,
                Some((at, deadline)) => match tokio::time::timeout_at(at, response).await {
                    Ok(response) => response?,
                    Err(_) => return Ok(refuse(deadline.passed())),
                },
            };
            // A stream's body goes on after its headers: the caller's deadline
            // still ends it (the server ceiling is for unary calls).
            let stream_deadline = deadline.filter(|(_, deadline)| streaming && matches!(deadline, Deadline::Client(_)));
            if permit.is_none() && stream_deadline.is_none() {
                return Ok(response);
            }
            let deadline = stream_deadline.map(|(at, deadline)| (Box::pin(tokio::time::sleep_until(at)), deadline));
            Ok(response.map(|body| tonic::body::Body::new(Limited { body, _permit: permit, deadline, ended: false })))
        })
    }
}

/// The time limit of one call: the caller's or the server's, whichever
/// comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Deadline {
    Client(Duration),
    Server(Duration),
}

impl Deadline {
    fn first(client: Option<Duration>, ceiling: Option<Duration>) -> Option<Self> {
        match (client, ceiling) {
            (Some(client), Some(ceiling)) if ceiling < client => Some(Deadline::Server(ceiling)),
            (Some(client), _) => Some(Deadline::Client(client)),
            (None, ceiling) => ceiling.map(Deadline::Server),
        }
    }

    fn timer(self) -> Duration {
        match self {
            Deadline::Client(client) => client - CLIENT_DEADLINE_LEAD.min(client / 2),
            Deadline::Server(ceiling) => ceiling,
        }
    }

    fn passed(self) -> ArchiveError {
        let (reason, message) = match self {
            Deadline::Client(client) => {
                (Reason::ClientDeadline, format!("the caller's deadline passed (grpc-timeout {client:?})"))
            }
            Deadline::Server(ceiling) => {
                (Reason::ServerTimeout, format!("the call took longer than server.unary_timeout_seconds ({ceiling:?})"))
            }
        };
        ArchiveError::new(reason, message)
    }
}

/// The caller's `grpc-timeout` (gRPC over HTTP/2: at most 8 digits and a
/// unit, H M S m u n); none when absent or malformed, as tonic reads it.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// A response body that holds its call's in-flight permit to the end and,
/// for a stream with a caller's deadline, ends it there with trailers that
/// say DEADLINE_EXCEEDED.
struct Limited<B> {
    body: B,
    _permit: Option<OwnedSemaphorePermit>,
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, Deadline)>,
    ended: bool,
}

impl<B> Body for Limited<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<StdError>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some((sleep, deadline)) = &mut self.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            let error = deadline.passed();
            tracing::info!("{}", error.message);
            let mut trailers = http::HeaderMap::new();
            let _ = tonic::Status::from(error).add_header(&mut trailers);
            self.ended = true;
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => self.ended = true,
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => self.ended = true,
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::{Deadline, Duration, grpc_timeout, http};

    #[test]
    fn grpc_timeout_is_read_as_the_http2_spec_writes_it() {
        let read = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            grpc_timeout(&headers)
        };
        assert_eq!(read("250m"), Some(Duration::from_millis(250)));
        assert_eq!(read("2S"), Some(Duration::from_secs(2)));
        assert_eq!(read("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(read("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "m", "123456789m", "12x", "-1S", "1.5S"] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }

    #[test]
    fn the_earlier_deadline_wins() {
        let (short, long) = (Some(Duration::from_millis(300)), Some(Duration::from_secs(1)));
        assert_eq!(Deadline::first(short, long), Some(Deadline::Client(Duration::from_millis(300))));
        assert_eq!(Deadline::first(long, short), Some(Deadline::Server(Duration::from_millis(300))));
        assert_eq!(Deadline::first(None, long), Some(Deadline::Server(Duration::from_secs(1))));
        assert_eq!(Deadline::first(None, None), None);
        assert_eq!(Deadline::Client(Duration::from_millis(300)).timer(), Duration::from_millis(290), "before tonic's");
        assert_eq!(Deadline::Client(Duration::from_millis(6)).timer(), Duration::from_millis(3));
    }
    #[test]
    fn streaming_rpcs_are_read_from_the_protos() {
        let paths = super::streaming_paths();
        assert!(paths.contains("/archive.v1.MediaService/UploadMedia"));
        assert!(paths.contains("/archive.v1.MediaService/ReadMedia"));
        assert!(!paths.contains("/archive.v1.ArticleService/GetArticle"));
    }
}
