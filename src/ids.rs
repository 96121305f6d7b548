//! Checked identifiers and resource names.
//!
//! Ids are either generated here (UUIDv7, time-ordered) or chosen by a client
//! within a strict alphabet, so they are always safe inside object keys.

use crate::error::Reason;
use crate::error::{ArchiveError, Result, quoted};
use std::fmt;

const MAX_ID_LEN: usize = 63;

fn validate_id(kind: &str, id: &str) -> Result<()> {
    let valid_len = (1..=MAX_ID_LEN).contains(&id.len());
    let valid_chars = id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let valid_start = id.bytes().next().is_some_and(|b| b != b'-');
    if valid_len && valid_chars && valid_start {
        Ok(())
    } else {
        Err(ArchiveError::new(
            Reason::InvalidId,
            format!("{kind} id {} must be 1-{MAX_ID_LEN} characters of [a-z0-9-], not starting with '-'", quoted(id)),
        ))
    }
}

macro_rules! resource_id {
    ($name:ident, $kind:literal, $collection:literal) => {
        #[doc = concat!("Id of ", $kind, ", named `", $collection, "/{id}`.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// A client-chosen id, checked.
            pub fn parse(id: &str) -> Result<Self> {
                validate_id($kind, id)?;
                Ok(Self(id.to_owned()))
            }

            /// The client's id when given, else a generated one.
            pub fn chosen_or_generated(id: &str) -> Result<Self> {
                if id.is_empty() { Ok(Self::generate()) } else { Self::parse(id) }
            }

            /// Parses a resource name `collection/{id}`.
            pub fn from_name(name: &str) -> Result<Self> {
                if name.is_empty() {
                    return Err(ArchiveError::new(
                        Reason::MissingName,
                        concat!("a ", $kind, " name (", $collection, "/{id}) is required"),
                    ));
                }
                let id = name.strip_prefix(concat!($collection, "/")).ok_or_else(|| {
                    ArchiveError::new(
                        Reason::InvalidName,
                        format!(concat!("{} is not a ", $kind, " name (", $collection, "/{{id}})"), quoted(name)),
                    )
                })?;
                Self::parse(id)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn name(&self) -> String {
                format!(concat!($collection, "/{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

resource_id!(ArticleId, "article", "articles");
resource_id!(MediaId, "media", "media");
resource_id!(UploadId, "upload", "uploads");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        let id = ArticleId::generate();
        assert_eq!(ArticleId::from_name(&id.name()).unwrap(), id);
        assert_eq!(MediaId::from_name("media/clip-1").unwrap().as_str(), "clip-1");
        for bad in ["", "articles/", "media/x", "articles/../etc", "articles/ABC", "articles/-a", "articles/a/b"] {
            assert!(ArticleId::from_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ArticleId::parse(&"a".repeat(64)).is_err());
    }
}
