//! TLS and mutual TLS on the gRPC port, with certificates made here: a
//! client that trusts the CA connects; with mTLS a client without a
//! certificate (or with one another CA signed) is refused, one with a
//! certificate the configured CA signed gets through.

use crate::common::{Stack, test_settings};
use archive::{
    app::Application,
    client::{ClientOptions, connect_with},
    proto::v1::{self as pb, metadata_service_client::MetadataServiceClient},
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};

struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn authority(name: &str) -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Authority { pem: cert.pem(), issuer: Issuer::new(params, key) }
}

/// A leaf certificate for `names`, signed by `ca`: (cert PEM, key PEM).
fn leaf(ca: &Authority, names: &[&str]) -> (String, String) {
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

async fn serve(dir: &Path, mutual: bool, ca: &Authority) -> String {
    let (cert, key) = leaf(ca, &["localhost", "127.0.0.1"]);
    let mut settings = test_settings(Stack::Embedded, dir).await;
    settings.server.tls.cert_file = Some(write(dir, "server.pem", &cert).display().to_string());
    settings.server.tls.key_file = Some(write(dir, "server.key", &key).display().to_string());
    if mutual {
        settings.server.tls.client_ca_file = Some(write(dir, "clients-ca.pem", &ca.pem).display().to_string());
    }
    archive::app::telemetry::init();
    let app = Application::build(settings).await.unwrap();
    let url = format!("https://localhost:{}", app.grpc_addr().port());
    tokio::spawn(app.run_until(std::future::pending()));
    url
}

async fn list(url: &str, options: &ClientOptions) -> Result<(), String> {
    let connection = connect_with(url, options).await.map_err(|e| format!("{e:#}"))?;
    let listed = MetadataServiceClient::new(connection).list_articles(pb::ListArticlesRequest::default()).await;
    listed.map(drop).map_err(|status| format!("{status:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority("archive test CA");
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let trusting = ClientOptions { ca_file: Some(ca_file.clone()), ..Default::default() };

    // TLS: a client that trusts the CA gets through; plaintext does not.
    let tls_dir = tempfile::tempdir().unwrap();
    let url = serve(tls_dir.path(), false, &ca).await;
    list(&url, &trusting).await.expect("TLS with the CA");
    let plain = url.replace("https://", "http://");
    assert!(list(&plain, &ClientOptions::default()).await.is_err(), "plaintext to a TLS port");
    let stranger = write(dir.path(), "other-ca.pem", &authority("someone else").pem);
    let wrong_ca = ClientOptions { ca_file: Some(stranger), ..Default::default() };
    assert!(list(&url, &wrong_ca).await.is_err(), "a server certificate the client's CA did not sign");

    // Mutual TLS: no certificate, or one from another CA, is refused.
    let mtls_dir = tempfile::tempdir().unwrap();
    let url = serve(mtls_dir.path(), true, &ca).await;
    assert!(list(&url, &trusting).await.is_err(), "a client without a certificate was let in");
    let (cert, key) = leaf(&authority("intruder CA"), &["intruder"]);
    let intruder = ClientOptions {
        cert_file: Some(write(dir.path(), "intruder.pem", &cert)),
        key_file: Some(write(dir.path(), "intruder.key", &key)),
        ..trusting.clone()
    };
    assert!(list(&url, &intruder).await.is_err(), "a certificate of another CA was let in");
    let (cert, key) = leaf(&ca, &["cms"]);
    let client = ClientOptions {
        cert_file: Some(write(dir.path(), "cms.pem", &cert)),
        key_file: Some(write(dir.path(), "cms.key", &key)),
        ..trusting
    };
    list(&url, &client).await.expect("mTLS with a certificate the CA signed");
}
