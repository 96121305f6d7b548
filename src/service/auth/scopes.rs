//! Which scope each RPC needs: the one table of it.

use super::Scope;
// Our services' package; anything else (grpc.health.v1, reflection) is open.
use crate::service::methods::PACKAGE_PREFIX;

/// `(service, method, scope)`. DeleteMedia with `force` needs `admin` on
/// top, which its handler checks (the flag is in the message).
const SCOPES: &[(&str, &str, Scope)] = &[
    ("ArticleService", "CreateArticle", Scope::Write),
    ("ArticleService", "GetArticle", Scope::Read),
    ("ArticleService", "UpdateArticle", Scope::Write),
    ("ArticleService", "DeleteArticle", Scope::Write),
    ("ArticleService", "ImportArticle", Scope::Write),
    ("ArticleService", "ListArticleRevisions", Scope::Read),
    ("ArticleService", "UndeleteArticle", Scope::Write),
    ("ArticleService", "SetLegalHold", Scope::Admin),
    ("MetadataService", "ListArticles", Scope::Read),
    ("MetadataService", "GetMedia", Scope::Read),
    ("MetadataService", "SearchArticles", Scope::Read),
    ("MetadataService", "ListRelatedArticles", Scope::Read),
    ("MetadataService", "RecordView", Scope::Read),
    ("MetadataService", "ListMedia", Scope::Read),
    ("MetadataService", "GetArchiveStatistics", Scope::Read),
    ("MetadataService", "AuditFixity", Scope::Admin),
    ("MetadataService", "WatchChanges", Scope::Read),
    ("MetadataService", "GetChangeCursor", Scope::Read),
    ("MediaService", "UploadMedia", Scope::Write),
    ("MediaService", "StartUpload", Scope::Write),
    ("MediaService", "QueryUpload", Scope::Write),
    ("MediaService", "CancelUpload", Scope::Write),
    ("MediaService", "CreateUploadUrl", Scope::Write),
    ("MediaService", "ReadMedia", Scope::Read),
    ("MediaService", "GetPlaybackUrl", Scope::Read),
    ("MediaService", "ListCaptionTracks", Scope::Read),
    ("MediaService", "PutCaptionTrack", Scope::Write),
    ("MediaService", "DeleteCaptionTrack", Scope::Write),
    ("MediaService", "SetPoster", Scope::Write),
    ("MediaService", "GetThumbnail", Scope::Read),
    ("MediaService", "AttachMedia", Scope::Write),
    ("MediaService", "DetachMedia", Scope::Write),
    ("MediaService", "DeleteMedia", Scope::Write),
];

/// What a request to `path` (`/package.Service/Method`) needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health checks and reflection: no token.
    Open,
    Needs(Scope),
}

pub fn access(path: &str) -> Access {
    let Some(rest) = path.strip_prefix(PACKAGE_PREFIX) else { return Access::Open };
    let Some((service, method)) = rest.split_once('/') else { return Access::Needs(Scope::Read) };
    SCOPES
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        // An unknown method of ours still needs a valid token (then
        // UNIMPLEMENTED), so its absence tells a stranger nothing.
        .map_or(Access::Needs(Scope::Read), |(_, _, scope)| Access::Needs(*scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Every RPC in the protos has its row, and every row an RPC: a new
    /// RPC cannot ship with the default by accident.
    #[test]
    fn every_rpc_has_its_scope() {
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut rpcs = Vec::new();
        for file in set.file.iter().filter(|f| f.package() == "archive.v1") {
            for service in &file.service {
                for method in &service.method {
                    rpcs.push((service.name().to_owned(), method.name().to_owned()));
                }
            }
        }
        let mut rows: Vec<_> = SCOPES.iter().map(|(s, m, _)| (s.to_string(), m.to_string())).collect();
        rpcs.sort();
        rows.sort();
        assert_eq!(rpcs, rows);
    }

    #[test]
    fn paths_map_to_their_scope() {
        assert_eq!(access("/grpc.health.v1.Health/Check"), Access::Open);
        assert_eq!(access("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"), Access::Open);
        assert_eq!(access("/archive.v1.ArticleService/GetArticle"), Access::Needs(Scope::Read));
        assert_eq!(access("/archive.v1.ArticleService/SetLegalHold"), Access::Needs(Scope::Admin));
        assert_eq!(access("/archive.v1.MediaService/UploadMedia"), Access::Needs(Scope::Write));
        assert_eq!(access("/archive.v1.MediaService/Nope"), Access::Needs(Scope::Read));
    }
}
