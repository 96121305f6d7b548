//! The gateway's signing keys: configured, or generated once into
//! `gateway.key_file`.

use crate::{config::Settings, domain::signing::SigningKey};
use anyhow::Context;
use secrecy::ExposeSecret;
use std::path::Path;

/// Configured keys, or one generated once into `gateway.key_file`.
pub(super) fn signing_keys(settings: &Settings) -> anyhow::Result<Vec<SigningKey>> {
    if !settings.gateway.keys.is_empty() {
        return Ok(settings
            .gateway
            .keys
            .iter()
            .map(|k| SigningKey { id: k.id.clone(), secret: k.secret.expose_secret().as_bytes().to_vec().into() })
            .collect());
    }
    let secret = load_or_create_key_file(Path::new(&settings.gateway.key_file))?;
    Ok(vec![SigningKey { id: "local".into(), secret: secret.into() }])
}

fn load_or_create_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let secret: [u8; 32] = rand::random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(hex::encode(secret).as_bytes())?;
    tracing::info!(path = %path.display(), "generated a gateway signing key");
    Ok(secret.to_vec())
}
