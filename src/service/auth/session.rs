//! Console sessions: a bearer token exchanged once (`POST /console/session`)
//! for a short-lived, signed session kept in an HttpOnly cookie, so that no
//! token ever lives in a page.
//!
//! The cookie is signed claims ([`UrlSigner::sign_claims`], purpose
//! [`PURPOSE`]): the token's name, scopes, expiry and its SHA-256, the digest
//! the tokens file lists. Nothing is stored, so any replica accepts it; it
//! stands for a caller only while the tokens table still holds that digest
//! (revoked with its token when the table reloads), and never for more scopes
//! than the token has then. It is accepted on the console's gRPC-Web mount
//! only, whose guard (`gateway::console`) admits gRPC-Web requests to the
//! gateway's own host and nothing else. A request carrying two session
//! cookies (one tossed in by a sibling domain) is refused.

use super::{Auth, Caller, Scope, bearer, tokens::TokenTable};
use crate::{
    domain::signing::UrlSigner,
    error::{ArchiveError, Reason},
};
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{sync::Arc, time::Duration};
use tonic::codegen::http::{self, HeaderMap};

/// What a session cookie's signature covers (no other token verifies as one).
const PURPOSE: &str = "CONSOLE_SESSION";
/// The cookie's name.
pub const COOKIE: &str = "archive_session";
/// Where the browser sends it: the console's pages and calls, nowhere else.
const COOKIE_PATH: &str = "/console";

/// A console session, as signed into its cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The token's name.
    pub name: String,
    /// Its scopes when the session opened.
    pub scopes: Vec<Scope>,
    /// Unix seconds after which the session is over.
    pub expires: i64,
    /// Hex SHA-256 of the token (the tokens file's digest).
    sha256: String,
}

/// How the console's sessions are made and read: the signer, their length,
/// and whether the cookie is `Secure` (the gateway's public URL is HTTPS).
#[derive(Debug, Clone)]
pub struct Sessions {
    signer: Arc<UrlSigner>,
    ttl: Duration,
    secure: bool,
}

impl Sessions {
    pub fn new(signer: Arc<UrlSigner>, ttl: Duration, secure: bool) -> Self {
        Self { signer, ttl, secure }
    }

    /// Exchanges the bearer token of `headers` for a session: its claims and
    /// the `Set-Cookie` value that carries it. With auth off there is no
    /// token to exchange: everyone is the anonymous caller, with no cookie.
    pub fn open(&self, auth: &Auth, headers: &HeaderMap, now: i64) -> Result<(Session, Option<String>), ArchiveError> {
        let Some(table) = auth.table() else { return Ok((anonymous(now), None)) };
        let Some(token) = bearer(headers) else {
            return Err(ArchiveError::new(Reason::MissingToken, "send the token as `authorization: Bearer TOKEN`"));
        };
        let Some(caller) = table.load().caller(token).cloned() else {
            return Err(ArchiveError::new(Reason::UnknownToken, "the token is not known"));
        };
        let session = Session {
            name: caller.name.to_string(),
            scopes: caller.scopes.to_vec(),
            expires: now + self.ttl.as_secs() as i64,
            sha256: hex::encode(Sha256::digest(token.as_bytes())),
        };
        let claims = serde_json::to_vec(&session).expect("a session serializes");
        let value = self.signer.sign_claims(PURPOSE, &claims);
        Ok((session, Some(self.set_cookie(value, self.ttl.as_secs() as i64))))
    }

    /// The `Set-Cookie` value that ends a session in the browser.
    pub fn close(&self) -> String {
        self.set_cookie(String::new(), 0)
    }

    /// A `Set-Cookie` value of the session cookie: its one set of attributes.
    fn set_cookie(&self, value: String, max_age_seconds: i64) -> String {
        Cookie::build((COOKIE, value))
            .path(COOKIE_PATH)
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(max_age_seconds))
            .to_string()
    }

    /// The session the cookie of `headers` carries, as it stands `now`:
    /// signed by us, not expired, its token still known (its scopes are
    /// those the token still has).
    pub fn current(&self, auth: &Auth, headers: &HeaderMap, now: i64) -> Result<Session, ArchiveError> {
        let Some(table) = auth.table() else { return Ok(anonymous(now)) };
        let value = match cookie_values(headers).as_slice() {
            [] => return Err(ArchiveError::new(Reason::MissingToken, "no console session: sign in with a token")),
            [value] => value.clone(),
            _ => {
                return Err(ArchiveError::new(
                    Reason::UnknownToken,
                    "two console session cookies (one set by another site?): sign out and in again",
                ));
            }
        };
        let over = || ArchiveError::new(Reason::UnknownToken, "the console session is over: sign in again");
        let claims = self.signer.verify_claims(PURPOSE, &value).map_err(|_| over())?;
        let mut session: Session = serde_json::from_slice(&claims).map_err(|_| over())?;
        if session.expires <= now {
            return Err(over());
        }
        let table = table.load();
        let caller = still_known(&table, &session).ok_or_else(over)?;
        session.scopes.retain(|scope| caller.may(*scope));
        Ok(session)
    }

    /// The caller a console call stands for: its session's.
    pub(super) fn caller(&self, auth: &Auth, headers: &HeaderMap, now: i64) -> Result<Caller, ArchiveError> {
        let session = self.current(auth, headers, now)?;
        Ok(Caller::new(&session.name, &session.scopes))
    }
}

/// The caller of a session while its token is in the table.
fn still_known<'a>(table: &'a TokenTable, session: &Session) -> Option<&'a Caller> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&session.sha256, &mut digest).ok()?;
    table.caller_by_digest(&digest).filter(|caller| *caller.name == *session.name)
}

fn anonymous(now: i64) -> Session {
    let caller = Caller::anonymous();
    Session {
        name: caller.name.to_string(),
        scopes: caller.scopes.to_vec(),
        expires: now + 86_400,
        sha256: String::new(),
    }
}

/// The values of every session cookie among the request's cookies.
fn cookie_values(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::signing::SigningKey,
        error::ErrorKind,
        service::auth::{file_entry, new_token},
    };

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        headers
    }

    /// The request headers a browser sends back for `set_cookie`.
    fn returned(set_cookie: &str) -> HeaderMap {
        let cookie = Cookie::parse(set_cookie.to_owned()).unwrap();
        with("cookie", &format!("other=1; {}={}", cookie.name(), cookie.value()))
    }

    #[test]
    fn a_session_holds_while_its_token_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let (editor, other) = (new_token(), new_token());
        let entries =
            file_entry("editor", &[Scope::Read, Scope::Write], &editor) + &file_entry("x", &[Scope::Read], &other);
        std::fs::write(&path, &entries).unwrap();
        let auth = Auth::from_file(&path).unwrap();
        let signer = Arc::new(UrlSigner::new(vec![SigningKey { id: "k".into(), secret: vec![7; 32].into() }]).unwrap());
        let sessions = Sessions::new(signer.clone(), Duration::from_secs(600), false);
        let code = |r: Result<Session, ArchiveError>| r.map(|s| s.name).map_err(|e| (e.kind, e.reason));

        assert_eq!(code(sessions.open(&auth, &HeaderMap::new(), 0).map(|s| s.0)).unwrap_err().1, Reason::MissingToken);
        let unknown = sessions.open(&auth, &with("authorization", "Bearer arc_guess"), 0);
        assert_eq!(code(unknown.map(|s| s.0)).unwrap_err().1, Reason::UnknownToken);

        let (session, set_cookie) =
            sessions.open(&auth, &with("authorization", &format!("Bearer {editor}")), 1000).unwrap();
        let set_cookie = set_cookie.unwrap();
        assert_eq!((session.name.as_str(), session.expires), ("editor", 1600));
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=600"] {
            assert!(set_cookie.contains(attribute), "{attribute}: {set_cookie}");
        }
        assert!(!set_cookie.contains("Secure") && !set_cookie.contains(&editor), "{set_cookie}");
        let headers = returned(&set_cookie);
        assert_eq!(code(sessions.current(&auth, &headers, 1599)), Ok("editor".into()));
        assert_eq!(*sessions.caller(&auth, &headers, 1000).unwrap().scopes, [Scope::Read, Scope::Write]);
        // Over at its expiry; refused beside a second session cookie, or
        // when signed for another purpose.
        assert_eq!(
            code(sessions.current(&auth, &headers, 1600)).unwrap_err(),
            (ErrorKind::Unauthenticated, Reason::UnknownToken)
        );
        let value = cookie_values(&headers).remove(0);
        let tossed = with("cookie", &format!("{COOKIE}={value}; {COOKIE}={value}"));
        assert_eq!(code(sessions.current(&auth, &tossed, 1000)).unwrap_err().1, Reason::UnknownToken);
        let forged = signer.sign_claims("UPLOAD", &signer.verify_claims(PURPOSE, &value).unwrap());
        let forged = returned(&format!("{COOKIE}={forged}"));
        assert_eq!(code(sessions.current(&auth, &forged, 1000)).unwrap_err().1, Reason::UnknownToken);

        // The token loses a scope: so does its session. Revoked: the session ends.
        std::fs::write(&path, file_entry("editor", &[Scope::Read], &editor) + &file_entry("x", &[Scope::Read], &other))
            .unwrap();
        auth.reload().unwrap();
        assert_eq!(sessions.current(&auth, &headers, 1000).unwrap().scopes, vec![Scope::Read]);
        std::fs::write(&path, file_entry("x", &[Scope::Read], &other)).unwrap();
        auth.reload().unwrap();
        assert_eq!(code(sessions.current(&auth, &headers, 1000)).unwrap_err().1, Reason::UnknownToken);

        assert!(sessions.close().contains("Max-Age=0"));
        let secure = Sessions::new(signer, Duration::from_secs(1), true);
        let (_, cookie) = secure.open(&auth, &with("authorization", &format!("Bearer {other}")), 0).unwrap();
        assert!(cookie.unwrap().contains("Secure"));

        let off = Auth::off();
        assert_eq!(code(sessions.current(&off, &HeaderMap::new(), 0)), Ok("anonymous".into()));
        assert_eq!(sessions.open(&off, &HeaderMap::new(), 0).unwrap().1, None);
    }
}
