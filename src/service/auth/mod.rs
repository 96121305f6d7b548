//! Who may call what: per-client bearer tokens with scopes, checked by one
//! tower layer in front of every gRPC service before a request reaches a
//! handler (so before it touches storage). Health and reflection stay open.
//!
//! On once `[auth] tokens_file` is set (even when it lists nobody: then
//! every call is refused); off otherwise, with a warning at startup. The
//! file is re-read on SIGHUP; a file that does not parse leaves the table
//! as it was.

mod scopes;
mod session;
mod tokens;

pub use scopes::{Access, access};
pub use session::{COOKIE as SESSION_COOKIE, Session, Sessions};
pub use tokens::{Caller, Scope, TokenEntry, TokenTable, file_entry, new_token};

use crate::error::{ArchiveError, Reason};
use arc_swap::ArcSwap;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    task::{Context, Poll},
};
use tonic::codegen::http;

/// The tokens in force, or none when auth is off.
#[derive(Debug)]
pub struct Auth {
    tokens: Option<(PathBuf, ArcSwap<TokenTable>)>,
}

impl Auth {
    pub fn off() -> Self {
        Self { tokens: None }
    }

    /// Auth on, with the tokens `path` lists.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let table = TokenTable::load(path)?;
        if table.is_empty() {
            tracing::warn!(file = %path.display(), "the tokens file lists no token: every call will be refused");
        }
        Ok(Self { tokens: Some((path.to_owned(), ArcSwap::from_pointee(table))) })
    }

    pub fn is_on(&self) -> bool {
        self.tokens.is_some()
    }

    /// Reads the tokens file again; on an error the old table stays.
    /// Returns how many tokens are in force.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let Some((path, table)) = &self.tokens else { return Ok(0) };
        let fresh = TokenTable::load(path)?;
        let count = fresh.len();
        table.store(Arc::new(fresh));
        Ok(count)
    }

    /// The table in force, when auth is on.
    fn table(&self) -> Option<&ArcSwap<TokenTable>> {
        self.tokens.as_ref().map(|(_, table)| table)
    }

    /// Decides a request to `path` with these headers: the caller it may
    /// proceed as, or why not.
    pub fn decide(&self, path: &str, headers: &http::HeaderMap) -> Result<Caller, ArchiveError> {
        self.decide_by(path, headers, &Credentials::Bearer)
    }

    /// [`Self::decide`], the caller known by `credentials`.
    pub fn decide_by(
        &self,
        path: &str,
        headers: &http::HeaderMap,
        credentials: &Credentials,
    ) -> Result<Caller, ArchiveError> {
        let Some(table) = self.table() else { return Ok(Caller::anonymous()) };
        let Access::Needs(scope) = access(path) else { return Ok(Caller::anonymous()) };
        let caller = match credentials {
            Credentials::Bearer => {
                let Some(token) = bearer(headers) else {
                    tracing::debug!("refused: no bearer token");
                    return Err(ArchiveError::new(
                        Reason::MissingToken,
                        "this call needs `authorization: Bearer TOKEN`",
                    ));
                };
                let Some(caller) = table.load().caller(token).cloned() else {
                    tracing::debug!("refused: unknown token");
                    return Err(ArchiveError::new(Reason::UnknownToken, "the token is not known"));
                };
                caller
            }
            Credentials::Session(sessions) => sessions.caller(self, headers, chrono::Utc::now().timestamp())?,
        };
        if !caller.may(scope) {
            tracing::debug!(caller = %caller.name, %scope, "refused: missing scope");
            return Err(missing_scope(&caller, scope));
        }
        tracing::debug!(caller = %caller.name, method = path, "allowed");
        Ok(caller)
    }
}

/// How a caller proves who it is: a bearer token (the gRPC port), or a
/// console session's cookie (the console's gRPC-Web mount, and only there).
#[derive(Debug, Clone)]
pub enum Credentials {
    Bearer,
    Session(Sessions),
}

fn missing_scope(caller: &Caller, scope: Scope) -> ArchiveError {
    ArchiveError::new(Reason::MissingScope, format!("token {:?} lacks the {scope} scope this call needs", caller.name))
}

/// The token of `authorization: Bearer TOKEN` (the scheme in any case).
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// For a handler whose call needs more than its method's scope (DeleteMedia
/// with `force`): the caller the layer admitted must have `scope` too.
pub fn require<T>(request: &tonic::Request<T>, scope: Scope) -> Result<(), ArchiveError> {
    match request.extensions().get::<Caller>() {
        Some(caller) if caller.may(scope) => Ok(()),
        Some(caller) => {
            tracing::warn!(caller = %caller.name, %scope, "refused: missing scope");
            Err(missing_scope(caller, scope))
        }
        // Only a request that bypassed the layer has no caller: refuse.
        None => Err(missing_scope(&Caller::new("unchecked", &[]), scope)),
    }
}

/// The tower layer that puts [`Auth`] in front of a gRPC router.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Arc<Auth>,
    credentials: Arc<Credentials>,
}

impl AuthLayer {
    /// Callers known by their bearer tokens.
    pub fn new(auth: Arc<Auth>) -> Self {
        Self { auth, credentials: Arc::new(Credentials::Bearer) }
    }

    /// Callers known by their console sessions.
    pub fn sessions(auth: Arc<Auth>, sessions: Sessions) -> Self {
        Self { auth, credentials: Arc::new(Credentials::Session(sessions)) }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { auth: self.auth.clone(), credentials: self.credentials.clone(), inner }
    }
}

#[derive(Debug, Clone)]
pub struct AuthService<S> {
    auth: Arc<Auth>,
    credentials: Arc<Credentials>,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::Either<futures::future::Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.auth.decide_by(request.uri().path(), request.headers(), &self.credentials) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                futures::future::Either::Right(self.inner.call(request))
            }
            Err(refused) => {
                let status = tonic::Status::from(refused);
                futures::future::Either::Left(futures::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn headers(authorization: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, authorization.parse().unwrap());
        headers
    }

    #[test]
    fn decisions() {
        let dir = tempfile::tempdir().unwrap();
        let (reader, writer) = (new_token(), new_token());
        let path = dir.path().join("tokens.toml");
        let file =
            file_entry("web", &[Scope::Read], &reader) + &file_entry("cms", &[Scope::Read, Scope::Write], &writer);
        std::fs::write(&path, file).unwrap();
        let auth = Auth::from_file(&path).unwrap();
        let get = "/archive.v1.ArticleService/GetArticle";
        let create = "/archive.v1.ArticleService/CreateArticle";
        let kind = |r: Result<Caller, ArchiveError>| r.map(|c| c.name).map_err(|e| (e.kind, e.reason));

        assert_eq!(
            kind(auth.decide(get, &http::HeaderMap::new())),
            Err((ErrorKind::Unauthenticated, Reason::MissingToken))
        );
        assert_eq!(
            kind(auth.decide(get, &headers("Bearer arc_nope"))),
            Err((ErrorKind::Unauthenticated, Reason::UnknownToken))
        );
        assert_eq!(
            kind(auth.decide(get, &headers(&format!("Basic {reader}")))),
            Err((ErrorKind::Unauthenticated, Reason::MissingToken))
        );
        assert_eq!(kind(auth.decide(get, &headers(&format!("bearer {reader}")))), Ok("web".into()));
        assert_eq!(
            kind(auth.decide(create, &headers(&format!("Bearer {reader}")))),
            Err((ErrorKind::PermissionDenied, Reason::MissingScope))
        );
        assert_eq!(kind(auth.decide(create, &headers(&format!("Bearer {writer}")))), Ok("cms".into()));
        assert_eq!(kind(auth.decide("/grpc.health.v1.Health/Check", &http::HeaderMap::new())), Ok("anonymous".into()));

        // Reloaded: the reader's token is gone, a broken file changes nothing.
        std::fs::write(&path, file_entry("cms", &[Scope::Read, Scope::Write], &writer)).unwrap();
        assert_eq!(auth.reload().unwrap(), 1);
        assert_eq!(
            kind(auth.decide(get, &headers(&format!("Bearer {reader}")))),
            Err((ErrorKind::Unauthenticated, Reason::UnknownToken))
        );
        std::fs::write(&path, "[[tokens]]\nname = 1\n").unwrap();
        assert!(auth.reload().is_err());
        assert_eq!(kind(auth.decide(get, &headers(&format!("Bearer {writer}")))), Ok("cms".into()));

        let off = Auth::off();
        assert_eq!(kind(off.decide(create, &http::HeaderMap::new())), Ok("anonymous".into()));
    }
}
