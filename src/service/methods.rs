//! The methods archived serves, read once from the descriptors of every
//! service it registers: ours (`archive.v1`), `grpc.health.v1` and both
//! reflection services. The one owner of "the known methods": metric
//! labels come only from here, and the limits learn which RPCs stream.

use crate::metrics::MethodMetrics;
use prost::Message;
use std::{
    collections::HashMap,
    sync::{LazyLock, OnceLock},
};

/// One RPC, as its descriptor declares it.
pub struct Method {
    /// `archive.v1.MediaService`.
    pub service: String,
    /// `ReadMedia`.
    pub method: String,
    /// Streams either way.
    pub streaming: bool,
    /// Its metric handles, made on its first call (after the recorder is
    /// installed).
    metrics: OnceLock<MethodMetrics>,
}

impl Method {
    fn new(service: String, method: String, streaming: bool) -> Self {
        Self { service, method, streaming, metrics: OnceLock::new() }
    }

    /// Its metric handles, labelled `(service, method)`.
    pub fn metrics(&'static self) -> &'static MethodMetrics {
        self.metrics.get_or_init(|| MethodMetrics::new((&self.service, &self.method)))
    }
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/{}", self.service, self.method)
    }
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
                        let method = Method::new(service_name.clone(), method.name().into(), streaming);
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

    /// The method a call to `path` is for: one that stands for every path
    /// no service declares ([`UNKNOWN`] as its service and method), so
    /// strangers' paths add no series.
    pub fn method(&'static self, path: &str) -> &'static Method {
        static UNKNOWN_METHOD: LazyLock<Method> = LazyLock::new(|| Method::new(UNKNOWN.into(), UNKNOWN.into(), false));
        self.get(path).unwrap_or(&UNKNOWN_METHOD)
    }

    /// The paths of the RPCs that stream either way.
    pub fn streaming_paths(&self) -> impl Iterator<Item = &str> {
        self.by_path.iter().filter(|(_, method)| method.streaming).map(|(path, _)| path.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(path: &str) -> (&'static str, &'static str) {
        let method = known().method(path);
        (&method.service, &method.method)
    }

    #[test]
    fn every_registered_service_is_known_and_nothing_else() {
        let known = known();
        assert_eq!(labels("/archive.v1.MediaService/ReadMedia"), ("archive.v1.MediaService", "ReadMedia"));
        assert_eq!(labels("/grpc.health.v1.Health/Check"), ("grpc.health.v1.Health", "Check"));
        let v1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
        let v1alpha = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
        assert!(known.get(v1).is_some_and(|m| m.streaming) && known.get(v1alpha).is_some());
        for made_up in ["/x1.Svc/mmm", "/archive.v1.MediaService/Nope", "/archive.v1.Nope/ReadMedia", "", "/"] {
            assert_eq!(labels(made_up), (UNKNOWN, UNKNOWN), "{made_up:?}");
        }
        assert!(known.get("/archive.v1.MediaService/UploadMedia").is_some_and(|m| m.streaming));
        assert!(known.get("/archive.v1.ArticleService/GetArticle").is_some_and(|m| !m.streaming));
    }
}
