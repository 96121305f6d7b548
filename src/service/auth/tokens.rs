//! Bearer tokens: the tokens file, its table, and new tokens.
//!
//! The file lists each client's name, scopes and the SHA-256 of its token,
//! never the token itself:
//!
//! ```toml
//! [[tokens]]
//! name = "cms"
//! scopes = ["read", "write"]
//! sha256 = "3f2a…"   # hex of SHA-256(token)
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{fmt, path::Path, str::FromStr, sync::Arc};
use subtle::ConstantTimeEq;

/// What a token allows. Each RPC needs one ([`super::scopes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reading articles, clips, listings, search; counting views.
    Read,
    /// Creating, changing, deleting articles; uploading and linking clips.
    Write,
    /// Legal holds and deleting a clip articles still link (`force`).
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}: expected read, write or admin"))
    }
}

/// Who is calling: the name of the token presented, and its scopes.
/// Shared, not copied: each call's caller is a clone of one the tokens
/// table (or [`Caller::anonymous`]) holds, so admitting a call allocates
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: Arc<str>,
    pub scopes: Arc<[Scope]>,
}

impl Caller {
    pub fn new(name: &str, scopes: &[Scope]) -> Self {
        Self { name: name.into(), scopes: scopes.into() }
    }

    /// The caller when auth is off: everyone may do everything.
    pub fn anonymous() -> Self {
        static ANONYMOUS: std::sync::LazyLock<Caller> =
            std::sync::LazyLock::new(|| Caller::new("anonymous", &Scope::ALL));
        ANONYMOUS.clone()
    }

    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// One entry of the tokens file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Lower-case hex of SHA-256 of the token.
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

/// The known tokens, by digest.
#[derive(Debug, Default)]
pub struct TokenTable {
    entries: Vec<([u8; 32], Caller)>,
}

impl TokenTable {
    /// Reads and checks a tokens file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the tokens file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("the tokens file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: TokensFile = toml::from_str(text)?;
        let mut entries = Vec::with_capacity(file.tokens.len());
        for entry in file.tokens {
            anyhow::ensure!(!entry.name.trim().is_empty(), "a token has no name");
            anyhow::ensure!(!entry.scopes.is_empty(), "token {:?} has no scopes", entry.name);
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&entry.sha256, &mut digest).map_err(|_| {
                anyhow::anyhow!("token {:?}: sha256 must be 64 hex digits (SHA-256 of the token)", entry.name)
            })?;
            anyhow::ensure!(
                entries
                    .iter()
                    .all(|(known, caller): &([u8; 32], Caller)| *known != digest && *caller.name != *entry.name),
                "token {:?} is listed twice (by name or by digest)",
                entry.name
            );
            entries.push((digest, Caller::new(&entry.name, &entry.scopes)));
        }
        Ok(Self { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller `token` belongs to. Every entry is compared, each in
    /// constant time, so the time taken says nothing about which matched.
    pub fn caller(&self, token: &str) -> Option<&Caller> {
        self.caller_by_digest(&Sha256::digest(token.as_bytes()).into())
    }

    /// The caller whose token has SHA-256 `digest`, compared as [`Self::caller`] does.
    pub fn caller_by_digest(&self, digest: &[u8; 32]) -> Option<&Caller> {
        let mut found = None;
        for (known, caller) in &self.entries {
            if bool::from(known.ct_eq(digest)) {
                found = Some(caller);
            }
        }
        found
    }
}

/// A fresh token: `arc_` and 256 random bits, base64url.
pub fn new_token() -> String {
    use base64::Engine;
    let secret: [u8; 32] = rand::random();
    format!("arc_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret))
}

/// The tokens file entry of `token`, as TOML to append to the file.
pub fn file_entry(name: &str, scopes: &[Scope], token: &str) -> String {
    let entry = TokenEntry {
        name: name.to_owned(),
        scopes: scopes.to_vec(),
        sha256: hex::encode(Sha256::digest(token.as_bytes())),
    };
    toml::to_string(&TokensFile { tokens: vec![entry] }).expect("a token entry serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_matches_only_its_entry() {
        let (cms, web) = (new_token(), new_token());
        assert_ne!(cms, web);
        assert!(cms.len() >= 4 + 43, "256 bits: {cms}");
        let file = file_entry("cms", &[Scope::Read, Scope::Write], &cms) + &file_entry("web", &[Scope::Read], &web);
        assert!(!file.contains(&cms) && !file.contains(&web), "the file never holds a token");
        let table = TokenTable::parse(&file).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(table.caller(&cms), Some(&Caller::new("cms", &[Scope::Read, Scope::Write])));
        assert_eq!(table.caller(&web).map(|c| &*c.name), Some("web"));
        assert_eq!(table.caller("arc_guess"), None);
        assert_eq!(table.caller(""), None);
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let cases = [
            ("[[tokens]]\nname = \"x\"\nscopes = [\"read\"]\nsha256 = \"abc\"\n", "64 hex digits"),
            ("[[tokens]]\nname = \"x\"\nscopes = [\"root\"]\nsha256 = \"\"\n", "unknown variant"),
            ("[[tokens]]\nname = \"x\"\nscopes = []\nsha256 = \"\"\n", "no scopes"),
            ("[[tokens]]\nname = \"x\"\nscopes = [\"read\"]\ntoken = \"secret\"\n", "unknown field"),
        ];
        for (text, why) in cases {
            let error = TokenTable::parse(text).unwrap_err().to_string();
            assert!(error.contains(why), "{why}: {error}");
        }
        let token = new_token();
        let twice = file_entry("a", &[Scope::Read], &token) + &file_entry("b", &[Scope::Read], &token);
        assert!(TokenTable::parse(&twice).unwrap_err().to_string().contains("twice"));
        assert!(TokenTable::parse("").unwrap().is_empty());
    }

    #[test]
    fn scopes_read_as_written() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert!("Admin".parse::<Scope>().is_err());
    }
}
