//! Who is calling: bearer tokens (JWT) checked at the edge, the caller's roles, and the roles
//! each RPC needs.
//!
//! A token is accepted when its signature verifies with the configured key, it has not expired
//! (`exp` is required; 30 s of clock skew are allowed), and its audience is the configured one
//! (and its issuer, when one is configured). Its `sub` becomes the actor recorded on events; its
//! `roles` claim (a list of strings) says what the caller may do. Unknown role names grant
//! nothing, so an identity provider may carry roles of other systems in the same claim.
//!
//! Every RPC a service serves declares the roles that may call it ([`Policy`]); a method without
//! a declaration is refused, so a new RPC cannot be reachable by accident. The health service is
//! open: Kubernetes probes carry no token.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

/// The descriptor set a [`Policy`] is checked against did not decode.
pub use prost::DecodeError as DescriptorError;

/// What a caller may be allowed to do. The names are the ones tokens carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The operations desk: order intake, confirmation calls, changes.
    Desk,
    /// Desk supervisors: everything the desk does, and overrides.
    Supervisor,
    /// Finance: receivables, payments, write-offs.
    Finance,
    /// Fleet dispatch: vehicles, drivers, stations, plans.
    Fleet,
    /// Site reliability: the projection admin API.
    Sre,
    /// Analysts: read-only queries.
    Analyst,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Desk,
        Role::Supervisor,
        Role::Finance,
        Role::Fleet,
        Role::Sre,
        Role::Analyst,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Desk => "desk",
            Role::Supervisor => "supervisor",
            Role::Finance => "finance",
            Role::Fleet => "fleet",
            Role::Sre => "sre",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An authenticated caller, put into each request's extensions by the server's layer. Absent
/// when authentication is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject: recorded as the actor of what the call appends.
    pub subject: String,
    pub roles: Vec<Role>,
}

impl Caller {
    /// The caller of `request`, if the server authenticated it.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<Caller> {
        request.extensions().get::<Caller>().cloned()
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }
}

/// The signing algorithms accepted for tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAlgorithm {
    /// RSA with SHA-256: a public key in PEM.
    Rs256,
    /// ECDSA P-256 with SHA-256: a public key in PEM.
    Es256,
    /// Ed25519: a public key in PEM.
    EdDsa,
    /// HMAC-SHA-256 with a shared secret (the file's bytes): for local clusters and tests.
    Hs256,
}

impl TokenAlgorithm {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            "HS256" => Some(Self::Hs256),
            _ => None,
        }
    }

    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Self::Hs256 => jsonwebtoken::Algorithm::HS256,
        }
    }
}

/// How tokens are checked: the key material as configured (see [`crate::config`]).
#[derive(Clone)]
pub struct TokenSettings {
    pub algorithm: TokenAlgorithm,
    /// The public key in PEM (or, for HS256, the shared secret).
    pub key: Vec<u8>,
    pub audience: String,
    pub issuer: Option<String>,
}

impl fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs (a shared secret is a secret).
        f.debug_struct("TokenSettings")
            .field("algorithm", &self.algorithm)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key does not parse for {algorithm:?}: {source}")]
    Parse {
        algorithm: TokenAlgorithm,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

/// Why a token was refused. The caller is told only "UNAUTHENTICATED" and this reason's text;
/// the token itself is never logged.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token: send `authorization: Bearer <token>`")]
    Missing,
    #[error("the authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the token has expired")]
    Expired,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has no subject")]
    NoSubject,
    #[error("the token is not valid: {0}")]
    Invalid(#[source] jsonwebtoken::errors::Error),
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// Checks bearer tokens with one key.
pub struct Authenticator {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(settings: &TokenSettings) -> Result<Self, KeyError> {
        use jsonwebtoken::DecodingKey;
        let parse = |source| KeyError::Parse {
            algorithm: settings.algorithm,
            source,
        };
        let key = match settings.algorithm {
            TokenAlgorithm::Rs256 => DecodingKey::from_rsa_pem(&settings.key).map_err(parse)?,
            TokenAlgorithm::Es256 => DecodingKey::from_ec_pem(&settings.key).map_err(parse)?,
            TokenAlgorithm::EdDsa => DecodingKey::from_ed_pem(&settings.key).map_err(parse)?,
            TokenAlgorithm::Hs256 => DecodingKey::from_secret(&settings.key).map_err(parse)?,
        };
        let mut validation = jsonwebtoken::Validation::new(settings.algorithm.jwt());
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.set_audience(&[&settings.audience]);
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Self { key, validation })
    }

    /// The caller an `authorization` header value names.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, TokenError> {
        let value = authorization.ok_or(TokenError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::NotBearer)?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                _ => TokenError::Invalid(e),
            }
        })?;
        let subject = data.claims.sub.trim().to_owned();
        if subject.is_empty() {
            return Err(TokenError::NoSubject);
        }
        let mut roles: Vec<Role> = data.claims.roles.iter().filter_map(|r| Role::parse(r)).collect();
        roles.sort_by_key(|r| r.name());
        roles.dedup();
        Ok(Caller { subject, roles })
    }
}

/// The roles each RPC needs, by full method path (`/rentops.order.v1.OrderService/PlaceOrder`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    methods: HashMap<String, Vec<Role>>,
}

/// A service's declaration: its full name and, per method, who may call it.
pub type Declaration = (&'static str, &'static [(&'static str, &'static [Role])]);

impl Policy {
    /// Adds `service`'s methods (`(method, roles)` pairs).
    pub fn declare(&mut self, (service, methods): Declaration) {
        for (method, roles) in methods {
            self.methods.insert(format!("/{service}/{method}"), roles.to_vec());
        }
    }

    /// The roles that may call `path`, or None when the method is not declared.
    pub fn roles(&self, path: &str) -> Option<&[Role]> {
        self.methods.get(path).map(Vec::as_slice)
    }

    /// The methods of `services` in `descriptor_set` that have no declaration: a service must
    /// not start with one (it would be refused to everyone, or reachable by accident).
    pub fn undeclared(&self, descriptor_set: &[u8], services: &[&str]) -> Result<Vec<String>, prost::DecodeError> {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(descriptor_set)?;
        let mut missing = Vec::new();
        for file in &set.file {
            for service in &file.service {
                let full = format!("{}.{}", file.package(), service.name());
                if !services.contains(&full.as_str()) {
                    continue;
                }
                for method in &service.method {
                    let path = format!("/{full}/{}", method.name());
                    if !self.methods.contains_key(&path) {
                        missing.push(path);
                    }
                }
            }
        }
        Ok(missing)
    }
}

/// How the server decides who may call: the policy always (it also names the methods metrics
/// are labelled with), and an authenticator when tokens are required. Without one every call is
/// allowed and the actor is taken from the request, as on the local cluster.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub authenticator: Option<std::sync::Arc<Authenticator>>,
    pub policy: std::sync::Arc<Policy>,
}

/// Why a call was refused at the edge.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("{path} needs one of the roles {needed}; the caller has {held}")]
    MissingRole { path: String, needed: String, held: String },
    #[error("{0} declares no roles: refused to everyone")]
    Undeclared(String),
}

impl AccessError {
    pub fn into_status(self) -> tonic::Status {
        match self {
            AccessError::Token(e) => tonic::Status::unauthenticated(e.to_string()),
            e => tonic::Status::permission_denied(e.to_string()),
        }
    }
}

/// Services any caller may reach without a token: health (probes carry none).
pub fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
}

/// Services any authenticated caller may reach: reflection (it describes the API, nothing more).
pub fn is_for_everyone(path: &str) -> bool {
    path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

impl Access {
    /// Who calls `path` with this `authorization` header, or why they may not.
    pub fn check(&self, path: &str, authorization: Option<&str>) -> Result<Option<Caller>, AccessError> {
        let Some(authenticator) = &self.authenticator else {
            return Ok(None);
        };
        let policy = &self.policy;
        if is_open(path) {
            return Ok(None);
        }
        let caller = authenticator.authenticate(authorization)?;
        if is_for_everyone(path) {
            return Ok(Some(caller));
        }
        let needed = policy
            .roles(path)
            .ok_or_else(|| AccessError::Undeclared(path.to_owned()))?;
        if !caller.has_any(needed) {
            let names = |roles: &[Role]| {
                if roles.is_empty() {
                    "none".to_owned()
                } else {
                    roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
                }
            };
            return Err(AccessError::MissingRole {
                path: path.to_owned(),
                needed: names(needed),
                held: names(&caller.roles),
            });
        }
        Ok(Some(caller))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &[u8] = b"a test secret of enough length!!";

    fn settings() -> TokenSettings {
        TokenSettings {
            algorithm: TokenAlgorithm::Hs256,
            key: SECRET.to_vec(),
            audience: "rentops".into(),
            issuer: None,
        }
    }

    fn token(claims: serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap()
    }

    fn exp(from_now: i64) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + from_now
    }

    #[test]
    fn a_good_token_names_the_caller_and_its_known_roles() {
        let auth = Authenticator::new(&settings()).unwrap();
        let t = token(
            serde_json::json!({"sub": "desk-li", "aud": "rentops", "exp": exp(600), "roles": ["desk", "hr", "desk"]}),
            SECRET,
        );
        let caller = auth.authenticate(Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(caller.subject, "desk-li");
        assert_eq!(caller.roles, vec![Role::Desk]);
    }

    #[test]
    fn bad_tokens_are_refused_each_for_its_reason() {
        let auth = Authenticator::new(&settings()).unwrap();
        let bearer = |t: String| format!("Bearer {t}");
        assert!(matches!(auth.authenticate(None), Err(TokenError::Missing)));
        assert!(matches!(
            auth.authenticate(Some("Basic abc")),
            Err(TokenError::NotBearer)
        ));
        let expired = token(
            serde_json::json!({"sub": "a", "aud": "rentops", "exp": exp(-3600)}),
            SECRET,
        );
        assert!(matches!(
            auth.authenticate(Some(&bearer(expired))),
            Err(TokenError::Expired)
        ));
        let other_aud = token(
            serde_json::json!({"sub": "a", "aud": "billing", "exp": exp(600)}),
            SECRET,
        );
        assert!(matches!(
            auth.authenticate(Some(&bearer(other_aud))),
            Err(TokenError::WrongAudience)
        ));
        let forged = token(
            serde_json::json!({"sub": "a", "aud": "rentops", "exp": exp(600)}),
            b"another secret, not the server's",
        );
        assert!(matches!(
            auth.authenticate(Some(&bearer(forged))),
            Err(TokenError::BadSignature)
        ));
        let no_exp = token(serde_json::json!({"sub": "a", "aud": "rentops"}), SECRET);
        assert!(matches!(
            auth.authenticate(Some(&bearer(no_exp))),
            Err(TokenError::Invalid(_))
        ));
        let blank = token(
            serde_json::json!({"sub": " ", "aud": "rentops", "exp": exp(600)}),
            SECRET,
        );
        assert!(matches!(
            auth.authenticate(Some(&bearer(blank))),
            Err(TokenError::NoSubject)
        ));
        assert!(matches!(
            auth.authenticate(Some("Bearer not.a.token")),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn the_policy_decides_by_role_and_refuses_what_it_does_not_declare() {
        let mut policy = Policy::default();
        policy.declare((
            "rentops.order.v1.OrderService",
            &[("PlaceOrder", &[Role::Desk, Role::Supervisor])],
        ));
        let policy = std::sync::Arc::new(policy);
        let access = Access {
            authenticator: Some(std::sync::Arc::new(Authenticator::new(&settings()).unwrap())),
            policy: policy.clone(),
        };
        let analyst = format!(
            "Bearer {}",
            token(
                serde_json::json!({"sub": "an", "aud": "rentops", "exp": exp(600), "roles": ["analyst"]}),
                SECRET
            )
        );
        let desk = format!(
            "Bearer {}",
            token(
                serde_json::json!({"sub": "dk", "aud": "rentops", "exp": exp(600), "roles": ["desk"]}),
                SECRET
            )
        );
        let place = "/rentops.order.v1.OrderService/PlaceOrder";
        assert_eq!(access.check(place, Some(&desk)).unwrap().unwrap().subject, "dk");
        let denied = access.check(place, Some(&analyst)).unwrap_err().into_status();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        let undeclared = access
            .check("/rentops.order.v1.OrderService/Other", Some(&desk))
            .unwrap_err()
            .into_status();
        assert_eq!(undeclared.code(), tonic::Code::PermissionDenied);
        let anonymous = access.check(place, None).unwrap_err().into_status();
        assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
        assert_eq!(access.check("/grpc.health.v1.Health/Check", None).unwrap(), None);
        assert!(
            access
                .check(
                    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                    Some(&analyst)
                )
                .unwrap()
                .is_some()
        );
        let open = Access {
            authenticator: None,
            policy,
        };
        assert!(open.check(place, None).unwrap().is_none());
    }
}
