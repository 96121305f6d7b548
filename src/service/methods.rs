//! The methods archived serves, read once from the descriptors of every
//! service it registers: ours (`archive.v1`), `grpc.health.v1` and both
//! reflection services. The one owner of "the known methods": metric
//! labels come only from here, and the limits learn which RPCs stream.

use prost::Message;
use std::{collections::HashMap, sync::LazyLock};

/// One RPC, as its descriptor declares it.
#[derive(Debug)]
pub struct Method {
    /// `archive.v1.MediaService`.
    pub service: String,
    /// `ReadMedia`.
    pub method: String,
    /// Streams either way.
    pub streaming: bool,
}

/// How the path of every RPC of our own services (`archive.v1`) begins:
/// the calls auth and the limits are for.
pub const PACKAGE_PREFIX: &str = "/archive.v1.";

/// The label of a path no registered service declares: every such call
/// shares it, so strangers' made-up paths add no series.
pub const UNKNOWN: &str = "unknown";

/// Every served method by path (`/archive.v1.MediaService/ReadMedia`).
pub struct KnownMethods {
    by_path: HashMap<String, Method>,
}

static KNOWN: LazyLock<KnownMethods> = LazyLock::new(|| {
    KnownMethods::read(&[
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ])
});

/// The methods of every service archived registers.
pub fn known() -> &'static KnownMethods {
    &KNOWN
}

impl KnownMethods {
    fn read(sets: &[&[u8]]) -> Self {
        let mut by_path = HashMap::new();
        for set in sets {
            let set = prost_types::FileDescriptorSet::decode(*set).expect("descriptors compiled into archived");
            for file in &set.file {
                for service in &file.service {
                    let service_name = format!("{}.{}", file.package(), service.name());
                    for method in &service.method {
                        let path = format!("/{service_name}/{}", method.name());
                        let streaming = method.client_streaming() || method.server_streaming();
                        let method = Method { service: service_name.clone(), method: method.name().into(), streaming };
                        by_path.insert(path, method);
                    }
                }
            }
        }
        Self { by_path }
    }

    pub fn get(&self, path: &str) -> Option<&Method> {
        self.by_path.get(path)
    }

    /// `(grpc_service, grpc_method)` metric labels of a call to `path`:
    /// [`UNKNOWN`] twice for a path no service declares.
    pub fn labels(&'static self, path: &str) -> (&'static str, &'static str) {
        self.get(path).map_or((UNKNOWN, UNKNOWN), |method| (&method.service, &method.method))
    }

    /// The paths of the RPCs that stream either way.
    pub fn streaming_paths(&self) -> impl Iterator<Item = &str> {
        self.by_path.iter().filter(|(_, method)| method.streaming).map(|(path, _)| path.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_service_is_known_and_nothing_else() {
        let known = known();
        assert_eq!(known.labels("/archive.v1.MediaService/ReadMedia"), ("archive.v1.MediaService", "ReadMedia"));
        assert_eq!(known.labels("/grpc.health.v1.Health/Check"), ("grpc.health.v1.Health", "Check"));
        let v1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
        let v1alpha = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
        assert!(known.get(v1).is_some_and(|m| m.streaming) && known.get(v1alpha).is_some());
        for made_up in ["/x1.Svc/mmm", "/archive.v1.MediaService/Nope", "/archive.v1.Nope/ReadMedia", "", "/"] {
            assert_eq!(known.labels(made_up), (UNKNOWN, UNKNOWN), "{made_up:?}");
        }
        assert!(known.get("/archive.v1.MediaService/UploadMedia").is_some_and(|m| m.streaming));
        assert!(known.get("/archive.v1.ArticleService/GetArticle").is_some_and(|m| !m.streaming));
    }
}
