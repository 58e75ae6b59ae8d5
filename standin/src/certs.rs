//! Test PKI: one CA that signs a server certificate and a front-proxy client certificate.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// CN of the generated client certificate (what Envoy presents as the front proxy).
pub const CLIENT_CN: &str = "envoy-front-proxy";

/// Where `generate_certs` put (or found) each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    pub server: PathBuf,
    pub server_key: PathBuf,
    pub client: PathBuf,
    pub client_key: PathBuf,
}

impl CertPaths {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }
}

fn validity(p: &mut CertificateParams) {
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(3650);
}

fn write(path: &Path, contents: &str, secret: bool) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

/// Writes `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`, `client.pem`, `client-key.pem`
/// into `dir`. Existing files are kept unless `force`; a missing or replaced CA re-issues both
/// leaf certificates so everything in `dir` always chains to `ca.pem`. The server certificate
/// covers `localhost`, `127.0.0.1`, `activity.local` and `name`.
pub fn generate_certs(dir: &Path, name: &str, force: bool) -> anyhow::Result<CertPaths> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let paths = CertPaths::in_dir(dir);
    let have_ca = paths.ca.exists() && paths.ca_key.exists();

    let (issuer, new_ca) = if have_ca && !force {
        let key_pem = fs::read_to_string(&paths.ca_key)
            .with_context(|| format!("reading {}", paths.ca_key.display()))?;
        let cert_pem = fs::read_to_string(&paths.ca)
            .with_context(|| format!("reading {}", paths.ca.display()))?;
        let key = KeyPair::from_pem(&key_pem).context("parsing the CA key")?;
        let issuer =
            Issuer::from_ca_cert_pem(&cert_pem, key).context("parsing the CA certificate")?;
        (issuer, false)
    } else {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("activity-standin CA ({name})"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let cert = params.self_signed(&key).context("self-signing the CA")?;
        write(&paths.ca, &cert.pem(), false)?;
        write(&paths.ca_key, &key.serialize_pem(), true)?;
        (Issuer::new(params, key), true)
    };

    let leaf_missing = |c: &Path, k: &Path| !c.exists() || !k.exists();
    if new_ca || leaf_missing(&paths.server, &paths.server_key) {
        let mut sans = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "activity.local".to_string(),
        ];
        if !sans.iter().any(|s| s == name) {
            sans.push(name.to_string());
        }
        let mut params = CertificateParams::new(sans).context("server SANs")?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        validity(&mut params);
        let key = KeyPair::generate().context("generating the server key")?;
        let cert = params
            .signed_by(&key, &issuer)
            .context("signing the server certificate")?;
        write(&paths.server, &cert.pem(), false)?;
        write(&paths.server_key, &key.serialize_pem(), true)?;
    }
    if new_ca || leaf_missing(&paths.client, &paths.client_key) {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, CLIENT_CN);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity(&mut params);
        let key = KeyPair::generate().context("generating the client key")?;
        let cert = params
            .signed_by(&key, &issuer)
            .context("signing the client certificate")?;
        write(&paths.client, &cert.pem(), false)?;
        write(&paths.client_key, &key.serialize_pem(), true)?;
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_and_keeps_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = generate_certs(dir.path(), "activity", false).unwrap();
        let ca1 = fs::read_to_string(&p.ca).unwrap();
        let client1 = fs::read_to_string(&p.client).unwrap();
        // Idempotent: nothing changes on a second run.
        generate_certs(dir.path(), "activity", false).unwrap();
        assert_eq!(fs::read_to_string(&p.ca).unwrap(), ca1);
        assert_eq!(fs::read_to_string(&p.client).unwrap(), client1);
        // A missing leaf is re-issued by the existing CA.
        fs::remove_file(&p.server).unwrap();
        generate_certs(dir.path(), "activity", false).unwrap();
        assert!(p.server.exists());
        assert_eq!(fs::read_to_string(&p.ca).unwrap(), ca1);
        // --force replaces everything.
        generate_certs(dir.path(), "activity", true).unwrap();
        assert_ne!(fs::read_to_string(&p.ca).unwrap(), ca1);
        assert_ne!(fs::read_to_string(&p.client).unwrap(), client1);
        // The files load as a server config.
        crate::tls::server_config(&p.server, &p.server_key, &p.ca).unwrap();
    }
}
