//! HMAC-SHA256 signatures of media gateway URLs.
//!
//! A URL `/media/{id}?exp=UNIX&kid=KEY[&disposition=attachment]&sig=B64URL` is
//! valid until `exp` when `sig` is the HMAC, under key `kid`, of
//! `GET\n{path}\n{exp}\n{kid}\n{disposition}`. Several keys may verify at
//! once, so keys can be rotated; the first one signs.
//!
//! A prefix token `{exp}.{kid}.{sig}` signs every path under a prefix
//! (`/media/{id}/`): `sig` is the HMAC of `GET\n{prefix}\n{exp}\n{kid}\nprefix`.
//! It is carried in the path (`/s/{token}/media/{id}/captions/vi.vtt`), as
//! Cloudflare Stream carries its token, so that a file's relative reference
//! (the sprite a storyboard names) resolves under the same token.
//!
//! A claims token `{claims}.{kid}.{sig}` carries what its holder may do
//! (a one-time upload URL's limits): `claims` is URL-safe base64 of bytes
//! the caller defines, `sig` the HMAC of `{purpose}\n{claims}\n{kid}`. The
//! purpose is never `GET`, so no URL's signature verifies as a claims token.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub struct SigningKey {
    pub id: String,
    pub secret: SecretSlice<u8>,
}

/// Signs and verifies gateway URLs.
pub struct UrlSigner {
    /// Non-empty; `keys[0]` signs.
    keys: Vec<SigningKey>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("UrlSigner").field("key_ids", &ids).finish()
    }
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the URL is not signed")]
    Missing,
    #[error("the URL has expired")]
    Expired,
    #[error("the URL's signature is not valid")]
    Invalid,
}

/// The query parameters of a signed URL.
#[derive(Debug, Clone, Default)]
pub struct SignedQuery {
    /// Kept as text: a malformed expiry is a bad signature (403), not a bad request.
    pub exp: Option<String>,
    pub kid: Option<String>,
    pub sig: Option<String>,
    /// `attachment` to have the browser save the clip.
    pub disposition: Option<String>,
}

/// The signed value of the `disposition` parameter.
pub const ATTACHMENT: &str = "attachment";
/// What a prefix token signs in place of a disposition: no URL's
/// `disposition` parameter may take it (only none or [`ATTACHMENT`] verify).
const PREFIX: &str = "prefix";

impl UrlSigner {
    pub fn new(keys: Vec<SigningKey>) -> anyhow::Result<Self> {
        anyhow::ensure!(!keys.is_empty(), "at least one gateway signing key is required");
        for key in &keys {
            anyhow::ensure!(
                !key.id.is_empty() && key.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "gateway key id {:?} must be non-empty [A-Za-z0-9_-]",
                key.id
            );
            anyhow::ensure!(
                key.secret.expose_secret().len() >= 16,
                "gateway key {:?} is shorter than 16 bytes",
                key.id
            );
        }
        Ok(Self { keys })
    }

    /// Keys for another use of the same secrets (`purpose` names it), one
    /// per signing key in order: what every replica with these keys shares,
    /// rotated with them. The first is the current one.
    pub(crate) fn derived_keys(&self, purpose: &str) -> Vec<[u8; 32]> {
        self.keys
            .iter()
            .map(|key| {
                let mut mac =
                    HmacSha256::new_from_slice(key.secret.expose_secret()).expect("HMAC takes any key length");
                mac.update(purpose.as_bytes());
                mac.finalize().into_bytes().into()
            })
            .collect()
    }

    fn mac(key: &SigningKey, path: &str, expires: i64, disposition: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key.secret.expose_secret()).expect("HMAC takes any key length");
        mac.update(format!("GET\n{path}\n{expires}\n{}\n{disposition}", key.id).as_bytes());
        mac
    }

    /// The query string (`exp=…&kid=…&sig=…`) that signs `path` until
    /// `expires` (Unix seconds), as an attachment download when asked.
    pub fn sign(&self, path: &str, expires: i64, attachment: bool) -> String {
        let key = &self.keys[0];
        let disposition = if attachment { ATTACHMENT } else { "" };
        let signature = URL_SAFE_NO_PAD.encode(Self::mac(key, path, expires, disposition).finalize().into_bytes());
        let extra = if attachment { format!("&disposition={ATTACHMENT}") } else { String::new() };
        format!("exp={expires}&kid={}{extra}&sig={signature}", key.id)
    }

    /// Checks a request for `path` at time `now` (Unix seconds), in constant time.
    pub fn verify(&self, path: &str, query: &SignedQuery, now: i64) -> Result<(), SignatureError> {
        let (Some(expires), Some(kid), Some(sig)) = (&query.exp, &query.kid, &query.sig) else {
            return Err(SignatureError::Missing);
        };
        let expires: i64 = expires.parse().map_err(|_| SignatureError::Invalid)?;
        let key = self.keys.iter().find(|k| &k.id == kid).ok_or(SignatureError::Invalid)?;
        let disposition = query.disposition.as_deref().unwrap_or_default();
        if !["", ATTACHMENT].contains(&disposition) {
            return Err(SignatureError::Invalid);
        }
        Self::verify_mac(key, path, expires, disposition, sig, now)
    }

    fn verify_mac(
        key: &SigningKey,
        path: &str,
        expires: i64,
        disposition: &str,
        sig: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| SignatureError::Invalid)?;
        Self::mac(key, path, expires, disposition).verify_slice(&signature).map_err(|_| SignatureError::Invalid)?;
        if now >= expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }

    /// A token (`{exp}.{kid}.{sig}`, URL-safe) that signs every path under
    /// `prefix` until `expires` (Unix seconds).
    pub fn sign_prefix(&self, prefix: &str, expires: i64) -> String {
        let key = &self.keys[0];
        let signature = URL_SAFE_NO_PAD.encode(Self::mac(key, prefix, expires, PREFIX).finalize().into_bytes());
        format!("{expires}.{}.{signature}", key.id)
    }

    /// Checks a prefix token for `prefix` at time `now`, in constant time;
    /// gives when it expires.
    pub fn verify_prefix(&self, prefix: &str, token: &str, now: i64) -> Result<i64, SignatureError> {
        let mut parts = token.splitn(3, '.');
        let (Some(expires), Some(kid), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SignatureError::Invalid);
        };
        let expires: i64 = expires.parse().map_err(|_| SignatureError::Invalid)?;
        let key = self.keys.iter().find(|k| k.id == kid).ok_or(SignatureError::Invalid)?;
        Self::verify_mac(key, prefix, expires, PREFIX, sig, now).map(|()| expires)
    }
}

impl UrlSigner {
    fn claims_mac(key: &SigningKey, purpose: &str, claims: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key.secret.expose_secret()).expect("HMAC takes any key length");
        mac.update(format!("{purpose}\n{claims}\n{}", key.id).as_bytes());
        mac
    }

    /// A URL-safe token carrying `claims`, signed for `purpose` (never `GET`).
    pub fn sign_claims(&self, purpose: &str, claims: &[u8]) -> String {
        debug_assert_ne!(purpose, "GET");
        let key = &self.keys[0];
        let claims = URL_SAFE_NO_PAD.encode(claims);
        let signature = URL_SAFE_NO_PAD.encode(Self::claims_mac(key, purpose, &claims).finalize().into_bytes());
        format!("{claims}.{}.{signature}", key.id)
    }

    /// The claims of a token [`Self::sign_claims`] made for `purpose`, checked
    /// in constant time. Whether they still hold (an expiry) is the caller's.
    pub fn verify_claims(&self, purpose: &str, token: &str) -> Result<Vec<u8>, SignatureError> {
        let mut parts = token.splitn(3, '.');
        let (Some(claims), Some(kid), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SignatureError::Invalid);
        };
        let key = self.keys.iter().find(|k| k.id == kid).ok_or(SignatureError::Invalid)?;
        let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| SignatureError::Invalid)?;
        Self::claims_mac(key, purpose, claims).verify_slice(&signature).map_err(|_| SignatureError::Invalid)?;
        URL_SAFE_NO_PAD.decode(claims).map_err(|_| SignatureError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> SigningKey {
        SigningKey { id: id.into(), secret: vec![byte; 32].into() }
    }

    fn query_of(signed: &str) -> SignedQuery {
        let mut query = SignedQuery::default();
        for pair in signed.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            match k {
                "exp" => query.exp = Some(v.into()),
                "kid" => query.kid = Some(v.into()),
                "sig" => query.sig = Some(v.into()),
                "disposition" => query.disposition = Some(v.into()),
                _ => unreachable!(),
            }
        }
        query
    }

    #[test]
    fn signed_urls_verify_until_expiry_and_only_for_their_path() {
        let signer = UrlSigner::new(vec![key("k1", 1)]).unwrap();
        let query = query_of(&signer.sign("/media/a", 1000, false));
        assert_eq!(signer.verify("/media/a", &query, 999), Ok(()));
        assert_eq!(signer.verify("/media/a", &query, 1000), Err(SignatureError::Expired));
        assert_eq!(signer.verify("/media/b", &query, 999), Err(SignatureError::Invalid));
        let extended = SignedQuery { exp: Some("5000".into()), ..query.clone() };
        assert_eq!(signer.verify("/media/a", &extended, 999), Err(SignatureError::Invalid));
        assert_eq!(signer.verify("/media/a", &SignedQuery::default(), 0), Err(SignatureError::Missing));
        let download = query_of(&signer.sign("/media/a", 1000, true));
        assert_eq!(signer.verify("/media/a", &download, 999), Ok(()));
        let inline = SignedQuery { disposition: None, ..download };
        assert_eq!(signer.verify("/media/a", &inline, 999), Err(SignatureError::Invalid), "disposition is signed");
    }

    #[test]
    fn prefix_tokens_sign_what_is_under_their_prefix_only() {
        let signer = UrlSigner::new(vec![key("k1", 1)]).unwrap();
        let token = signer.sign_prefix("/media/a/", 1000);
        assert_eq!(signer.verify_prefix("/media/a/", &token, 999), Ok(1000), "valid until its expiry");
        assert_eq!(signer.verify_prefix("/media/a/", &token, 1000), Err(SignatureError::Expired));
        assert_eq!(signer.verify_prefix("/media/b/", &token, 0), Err(SignatureError::Invalid));
        let extended = token.replacen("1000", "5000", 1);
        assert_eq!(signer.verify_prefix("/media/a/", &extended, 0), Err(SignatureError::Invalid));
        for broken in ["", "1000", "1000.k1", "x.k1.sig", "1000.k2.sig"] {
            assert_eq!(signer.verify_prefix("/media/a/", broken, 0), Err(SignatureError::Invalid), "{broken}");
        }
        // A prefix token is no URL signature, whatever disposition is claimed.
        let (_, rest) = token.split_once('.').unwrap();
        let sig = rest.split_once('.').unwrap().1;
        let as_query = SignedQuery {
            exp: Some("1000".into()),
            kid: Some("k1".into()),
            sig: Some(sig.into()),
            disposition: Some(PREFIX.into()),
        };
        assert_eq!(signer.verify("/media/a/", &as_query, 0), Err(SignatureError::Invalid));
    }

    #[test]
    fn claims_verify_for_their_purpose_only() {
        let signer = UrlSigner::new(vec![key("k1", 1)]).unwrap();
        let token = signer.sign_claims("UPLOAD", b"{\"max\":5}");
        assert_eq!(signer.verify_claims("UPLOAD", &token).unwrap(), b"{\"max\":5}");
        assert_eq!(signer.verify_claims("OTHER", &token), Err(SignatureError::Invalid));
        // Claims changed under the same signature, or a prefix token offered instead.
        let (claims, rest) = token.split_once('.').unwrap();
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(b"{\"max\":9}"));
        assert_ne!(claims, forged.split_once('.').unwrap().0);
        assert_eq!(signer.verify_claims("UPLOAD", &forged), Err(SignatureError::Invalid));
        let prefix = signer.sign_prefix("/media/a/", 4_000_000_000);
        assert_eq!(signer.verify_claims("GET", &prefix), Err(SignatureError::Invalid));
        let other = UrlSigner::new(vec![key("k1", 2)]).unwrap();
        assert_eq!(other.verify_claims("UPLOAD", &token), Err(SignatureError::Invalid));
    }

    #[test]
    fn rotated_keys_still_verify_and_unknown_keys_do_not() {
        let old = UrlSigner::new(vec![key("old", 1)]).unwrap();
        let rotated = UrlSigner::new(vec![key("new", 2), key("old", 1)]).unwrap();
        let query = query_of(&old.sign("/media/a", 1000, false));
        assert_eq!(rotated.verify("/media/a", &query, 0), Ok(()));
        let forged = SignedQuery { kid: Some("new".into()), ..query };
        assert_eq!(rotated.verify("/media/a", &forged, 0), Err(SignatureError::Invalid));
        assert!(
            UrlSigner::new(
                vec![key("short", 1)]
                    .into_iter()
                    .map(|mut k| {
                        k.secret = vec![1u8; 4].into();
                        k
                    })
                    .collect()
            )
            .is_err()
        );
    }

    proptest::proptest! {
        /// The verifier accepts exactly what the signer produced: any
        /// change to the path, the expiry, the key id, the disposition or
        /// one character of the signature is refused.
        #[test]
        fn only_what_the_signer_produced_verifies(
            id in "[a-z0-9]{1,12}",
            expires in 1i64..4_000_000_000,
            attachment: bool,
            change in 0usize..5,
            at: usize,
        ) {
            let signer = UrlSigner::new(vec![key("k1", 7), key("k0", 9)]).unwrap();
            let path = format!("/media/{id}");
            let query = query_of(&signer.sign(&path, expires, attachment));
            proptest::prop_assert_eq!(signer.verify(&path, &query, expires - 1), Ok(()));
            let sig = query.sig.clone().unwrap();
            let (changed_path, changed) = match change {
                0 => (format!("{path}x"), query.clone()),
                1 => (path.clone(), SignedQuery { exp: Some((expires + 1).to_string()), ..query.clone() }),
                2 => (path.clone(), SignedQuery { kid: Some("k0".into()), ..query.clone() }),
                3 => (path.clone(), SignedQuery {
                    disposition: if attachment { None } else { Some(ATTACHMENT.into()) },
                    ..query.clone()
                }),
                _ => {
                    let mut chars: Vec<char> = sig.chars().collect();
                    let i = at % chars.len();
                    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
                    (path.clone(), SignedQuery { sig: Some(chars.into_iter().collect()), ..query.clone() })
                }
            };
            proptest::prop_assert_eq!(signer.verify(&changed_path, &changed, 0), Err(SignatureError::Invalid));
        }
    }
}
