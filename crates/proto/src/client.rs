//! A client's connection to a service, as every client of the project (the CLI, the weekly
//! report, the demo) makes it: the caller's bearer token from `RENTOPS_TOKEN` on every call, TLS
//! for an `https://` address trusting the authority in `RENTOPS_TLS_CA_FILE`, timeouts on
//! connecting and on every call, and errors that name the service and its address.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// A connection to a service: its channel, with the caller's bearer token on every call.
pub type Connection = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to each call when a token was given (`RENTOPS_TOKEN`).
#[derive(Clone, Debug)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

impl Bearer {
    /// The token in `RENTOPS_TOKEN`, if any. From the environment, never from an argument, so it
    /// stays out of shell history and process listings.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_token(std::env::var("RENTOPS_TOKEN").ok().as_deref())
    }

    pub fn from_token(token: Option<&str>) -> anyhow::Result<Self> {
        match token.map(str::trim) {
            Some(token) if !token.is_empty() => {
                let value = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| anyhow!("RENTOPS_TOKEN is not a token (printable ASCII only)"))?;
                Ok(Self(Some(value)))
            }
            _ => Ok(Self(None)),
        }
    }
}

/// Connects to `service` (its name, for the errors) at `addr`, giving up on connecting after
/// `connect_timeout` and on any call after `call_timeout`, so a service that is down or stuck
/// never leaves a caller waiting in silence.
pub async fn connect(
    service: &str,
    addr: &str,
    connect_timeout: Duration,
    call_timeout: Duration,
) -> anyhow::Result<Connection> {
    let bearer = Bearer::from_env()?;
    let mut endpoint = Endpoint::from_shared(addr.to_owned())
        .with_context(|| format!("'{addr}' is not a gRPC address (the {service} service's)"))?
        .connect_timeout(connect_timeout)
        .timeout(call_timeout);
    if addr.starts_with("https://") {
        let path = std::env::var("RENTOPS_TLS_CA_FILE")
            .map_err(|_| anyhow!("{addr} is https: set RENTOPS_TLS_CA_FILE to the certificate authority to trust"))?;
        let ca = std::fs::read(&path).with_context(|| format!("cannot read RENTOPS_TLS_CA_FILE {path}"))?;
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
            .with_context(|| format!("TLS for {addr}"))?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to the {service} service at {addr}"))?;
    Ok(InterceptedService::new(channel, bearer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_goes_on_every_call_as_a_bearer_and_none_adds_nothing() {
        use tonic::service::Interceptor as _;
        let mut with = Bearer::from_token(Some(" eyJ.a.b \n")).unwrap();
        let request = with.call(tonic::Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get("authorization").unwrap().to_str().unwrap(),
            "Bearer eyJ.a.b"
        );
        let mut without = Bearer::from_token(None).unwrap();
        assert!(
            without
                .call(tonic::Request::new(()))
                .unwrap()
                .metadata()
                .get("authorization")
                .is_none()
        );
        assert!(Bearer::from_token(Some("bad\u{7f}token")).is_err());
    }
}
