//! Credentials from headers: `Authorization: ApiKey <key>`, resolved by the
//! facade's [`Keys`], or `Authorization: Bearer <jwt>`, verified here with
//! the operator's key and its `sub` resolved to an account by [`Keys`].

use facecore::keys::Keys;
use facecore::store::Account;
use hyper::header::{AUTHORIZATION, HeaderMap};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::error::{self, ApiError};

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

/// Errors building a [`JwtVerifier`].
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    /// The algorithm name is not one we verify.
    #[error("unsupported JWT algorithm '{0}': use HS256, RS256 or ES256")]
    Algorithm(String),
    /// The key could not be parsed.
    #[error("invalid JWT key for {algorithm}: {message}")]
    Key {
        /// The algorithm.
        algorithm: String,
        /// The parser's message.
        message: String,
    },
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl JwtVerifier {
    /// A verifier for `algorithm` (`HS256`, `RS256` or `ES256`) with the
    /// HMAC secret or the PEM public key in `key`. `exp` is required and
    /// enforced (60 s leeway); `iss`/`aud` are checked when given.
    pub fn new(
        algorithm: &str,
        key: &[u8],
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, JwtConfigError> {
        let bad_key = |message: String| JwtConfigError::Key {
            algorithm: algorithm.to_string(),
            message,
        };
        let (alg, key) = match algorithm.to_ascii_uppercase().as_str() {
            "HS256" => {
                if key.len() < 32 {
                    return Err(bad_key("an HS256 secret needs at least 32 bytes".into()));
                }
                (Algorithm::HS256, DecodingKey::from_secret(key))
            }
            "RS256" => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(key).map_err(|e| bad_key(e.to_string()))?,
            ),
            "ES256" => (
                Algorithm::ES256,
                DecodingKey::from_ec_pem(key).map_err(|e| bad_key(e.to_string()))?,
            ),
            other => return Err(JwtConfigError::Algorithm(other.to_string())),
        };
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.leeway = 60;
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
        }
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Ok(Self { key, validation })
    }

    /// The account name (`sub`) of a valid token.
    pub fn verify(&self, token: &str) -> Result<String, String> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims.sub)
            .map_err(|e| e.to_string())
    }
}

/// The service a CompreFace request's `x-api-key` belongs to, which must be
/// of `kind`: CompreFace's errors (missing header 400/20; an unknown key, a
/// key of another type or an account key 404/10), in its codes. Unlike
/// CompreFace, the message never repeats the key.
pub fn service_key(
    headers: &HeaderMap,
    keys: &Keys,
    kind: facecore::store::ServiceKind,
) -> Result<facecore::store::Service, ApiError> {
    let Some(value) = headers.get("x-api-key") else {
        return Err(ApiError::new(
            crate::api::compreface::errors::MISSING_HEADER,
            "Missing header: x-api-key",
        ));
    };
    service_of(value.to_str().unwrap_or(""), keys, kind)
}

/// The service of key `key`, which must be of `kind` (errors as
/// [`service_key`]).
pub fn service_of(
    key: &str,
    keys: &Keys,
    kind: facecore::store::ServiceKind,
) -> Result<facecore::store::Service, ApiError> {
    use crate::api::compreface::errors;
    let not_found = || {
        let service = match kind {
            facecore::store::ServiceKind::Recognition => "Recognition",
            facecore::store::ServiceKind::Detection => "Detection",
            _ => "Verification",
        };
        ApiError::new(
            errors::SERVICE_NOT_FOUND,
            format!("{service} service with this API key not found"),
        )
    };
    match keys.identify(key.trim()) {
        Ok(identity) => match identity.service {
            Some(service) if service.kind == kind => Ok(service),
            _ => Err(not_found()),
        },
        Err(e) if e.kind() == facecore::ErrorKind::InvalidKey => Err(not_found()),
        Err(e) => Err(errors::from_error(&e)),
    }
}

/// The account of a Face Search API request: an account key in `x-api-key`
/// (that API's header), or else the `Authorization` header as
/// [`authenticate`] takes it. An `x-api-key` that holds no valid key is
/// refused even beside a valid `Authorization`: a credential presented is
/// never ignored. Service keys are refused, as on the other account-key
/// APIs.
pub fn x_api_key_or_authorization(
    headers: &HeaderMap,
    keys: &Keys,
    jwt: Option<&JwtVerifier>,
) -> Result<Account, ApiError> {
    let Some(value) = headers.get("x-api-key") else {
        if headers.get(AUTHORIZATION).is_none() {
            return Err(ApiError::new(
                error::API_KEY_NOT_PRESENT,
                "no x-api-key header (an Authorization header with `ApiKey <key>` is accepted too)",
            ));
        }
        return authenticate(headers, keys, jwt);
    };
    let key = value
        .to_str()
        .map_err(|_| {
            ApiError::new(
                error::API_KEY_NOT_VALID,
                "the x-api-key header is not ASCII",
            )
        })?
        .trim();
    if key.is_empty() {
        return Err(ApiError::new(
            error::API_KEY_NOT_PRESENT,
            "the x-api-key header is empty",
        ));
    }
    keys.authenticate(key).map_err(|e| ApiError::from_error(&e))
}

/// Authenticates a request from its headers.
pub fn authenticate(
    headers: &HeaderMap,
    keys: &Keys,
    jwt: Option<&JwtVerifier>,
) -> Result<Account, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(ApiError::new(
            error::API_KEY_NOT_PRESENT,
            "missing Authorization header: send `Authorization: ApiKey <key>` or `Authorization: Bearer <token>`",
        ));
    };
    let value = value.to_str().map_err(|_| {
        ApiError::new(
            error::API_KEY_NOT_VALID,
            "the Authorization header is not ASCII",
        )
    })?;
    let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let credential = credential.trim();
    if credential.is_empty() {
        return Err(ApiError::new(
            error::API_KEY_NOT_PRESENT,
            "the Authorization header has no credential after the scheme",
        ));
    }
    if scheme.eq_ignore_ascii_case("apikey") {
        keys.authenticate(credential)
            .map_err(|e| ApiError::from_error(&e))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let Some(jwt) = jwt else {
            return Err(ApiError::new(
                error::API_KEY_NOT_VALID,
                "bearer tokens are not accepted by this server (no JWT key is configured); use `ApiKey <key>`",
            ));
        };
        let subject = jwt.verify(credential).map_err(|e| {
            ApiError::new(
                error::API_KEY_NOT_VALID,
                format!("the bearer token is not valid: {e}"),
            )
        })?;
        keys.account_for_subject(&subject).map_err(|e| {
            let mut error = ApiError::from_error(&e);
            if error.code == error::ACCOUNT_FORBIDDEN {
                error.message.push_str(" (the token's sub)");
            }
            error
        })
    } else {
        Err(ApiError::new(
            error::API_KEY_NOT_VALID,
            format!(
                "unsupported Authorization scheme '{}': use ApiKey or Bearer",
                scheme.escape_debug()
            ),
        ))
    }
}
