//! Credentials for tests of an authenticated cluster: a signing secret and the tokens it signs,
//! and a throwaway certificate authority with a server certificate for `localhost`.

use std::path::PathBuf;

use tempfile::TempDir;

/// An HS256 secret written to a file, as a service reads it (`RENTOPS_AUTH_JWT_KEY_FILE`).
pub struct TokenIssuer {
    _dir: TempDir,
    key_file: PathBuf,
    secret: Vec<u8>,
}

impl TokenIssuer {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let secret: Vec<u8> = (0..48).map(|_| fastrand::alphanumeric() as u8).collect();
        let key_file = dir.path().join("jwt.secret");
        std::fs::write(&key_file, &secret)?;
        Ok(Self {
            _dir: dir,
            key_file,
            secret,
        })
    }

    /// The service's configuration for checking these tokens.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("RENTOPS_AUTH".into(), "jwt".into()),
            ("RENTOPS_AUTH_JWT_ALGORITHM".into(), "HS256".into()),
            (
                "RENTOPS_AUTH_JWT_KEY_FILE".into(),
                self.key_file.to_string_lossy().into_owned(),
            ),
            ("RENTOPS_AUTH_JWT_AUDIENCE".into(), "rentops".into()),
        ]
    }

    /// A token for `subject` with `roles`, valid for an hour.
    pub fn token(&self, subject: &str, roles: &[&str]) -> String {
        self.token_with(subject, roles, "rentops", 3600)
    }

    /// A token with its audience and lifetime chosen (negative: already expired).
    pub fn token_with(&self, subject: &str, roles: &[&str], audience: &str, valid_secs: i64) -> String {
        sign(&self.secret, subject, roles, audience, valid_secs)
    }

    /// A well-formed token signed with another secret.
    pub fn forged(&self, subject: &str, roles: &[&str]) -> String {
        sign(
            b"not the secret the service was given, not at all",
            subject,
            roles,
            "rentops",
            3600,
        )
    }
}

fn sign(secret: &[u8], subject: &str, roles: &[&str], audience: &str, valid_secs: i64) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + valid_secs;
    let claims = serde_json::json!({ "sub": subject, "aud": audience, "exp": exp, "roles": roles });
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    key.and_then(|key| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &key,
        )
    })
    // Signing an HMAC over a JSON value cannot fail; a test wants to hear if it ever does.
    .unwrap_or_else(|e| format!("unsigned-token:{e}"))
}

/// `request` with `authorization: Bearer <token>`.
pub fn bearer<T>(request: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(request);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A certificate authority and a server certificate it signed for `localhost` and 127.0.0.1.
pub struct TestCertificates {
    _dir: TempDir,
    cert_file: PathBuf,
    key_file: PathBuf,
    /// The authority's certificate, for clients to trust.
    pub ca_pem: String,
}

impl TestCertificates {
    pub fn new() -> anyhow::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key)?;
        let server_key = KeyPair::generate()?;
        let server_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server = server_params.signed_by(&server_key, &issuer)?;
        let dir = tempfile::tempdir()?;
        let cert_file = dir.path().join("server.crt");
        let key_file = dir.path().join("server.key");
        std::fs::write(&cert_file, server.pem())?;
        std::fs::write(&key_file, server_key.serialize_pem())?;
        Ok(Self {
            _dir: dir,
            cert_file,
            key_file,
            ca_pem: ca.pem(),
        })
    }

    /// The service's configuration for serving over TLS.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "RENTOPS_TLS_CERT_FILE".into(),
                self.cert_file.to_string_lossy().into_owned(),
            ),
            (
                "RENTOPS_TLS_KEY_FILE".into(),
                self.key_file.to_string_lossy().into_owned(),
            ),
        ]
    }

    /// A channel to `addr` over TLS, trusting only this authority.
    pub async fn channel(&self, addr: std::net::SocketAddr) -> anyhow::Result<tonic::transport::Channel> {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.ca_pem))
            .domain_name("localhost");
        Ok(
            tonic::transport::Endpoint::from_shared(format!("https://localhost:{}", addr.port()))?
                .tls_config(tls)?
                .connect()
                .await?,
        )
    }
}
