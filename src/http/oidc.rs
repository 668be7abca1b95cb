//! Staff single sign-on with the city's identity provider (OpenID Connect: Keycloak, Entra
//! ID, ProConnect): authorization code with PKCE, the ID token verified by `openidconnect`
//! (signature, issuer, audience, nonce, expiry), the staff member's roles read from a
//! configured claim. No axum here: the console's routes call [`Oidc::begin`] and
//! [`Oidc::finish`] and keep the [`Pending`] sign-in between the two.
//!
//! Tokens and codes are never logged nor put in an error's text.

use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthType, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpClientError, IdTokenClaims, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse, UserInfoClaims, UserInfoError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::OidcSettings;

/// A whole sign-in is a few requests; a provider slower than this is down for staff anyway.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Who signed in, as the identity provider vouches for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The provider's issuer URL: with `subject`, the only stable key of a person (an
    /// e-mail address changes, and another provider may reuse it).
    pub issuer: String,
    pub subject: String,
    /// Left out when the provider says the address is not verified (`email_verified`
    /// false): an unverified address must not link to an existing staff account.
    pub email: Option<String>,
    /// `given_name`, else `name`.
    pub name: Option<String>,
    /// From the configured claim; empty when the provider gives none (a new member of
    /// staff whom an administrator has still to give a role).
    pub roles: Vec<String>,
}

/// A sign-in under way, kept server-side between [`Oidc::begin`] and [`Oidc::finish`]
/// (about ten minutes), found again by `state`, which the provider sends back.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    /// Random, in the authorization URL and sent back in the callback: the key to store
    /// this under. A callback whose state matches no pending sign-in is
    /// [`OidcError::Expired`].
    pub state: String,
    nonce: String,
    pkce_verifier: String,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in failed: the text (English) is for the log, [`OidcError::message_fr`]
/// for the sign-in page. Neither ever holds a token or a code.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, timed out, or answered with a server error.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The provider's metadata or answers do not fit OpenID Connect, or it refuses our
    /// client (wrong secret, unknown redirect URL): the operator has something to fix.
    #[error("identity provider misconfigured: {0}")]
    Misconfigured(String),
    /// No sign-in is pending for this state (started too long ago, or finished already),
    /// or the provider no longer accepts the code.
    #[error("the sign-in expired or was already used")]
    Expired,
    /// The provider said no: the person cancelled, or may not use guichet.
    #[error("the identity provider refused the sign-in: {0}")]
    Denied(String),
    /// The ID token (or the userinfo answer) failed verification.
    #[error("the identity provider's answer failed verification: {0}")]
    InvalidToken(String),
}

impl OidcError {
    /// What the sign-in page says, in French, to a member of staff.
    pub fn message_fr(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => {
                "Le fournisseur d'identité ne répond pas. Réessayez dans quelques minutes."
            }
            Self::Misconfigured(_) => {
                "La connexion avec le compte de la ville est mal configurée. Prévenez l'administrateur de guichet."
            }
            Self::Expired => "La connexion a expiré, recommencez.",
            Self::Denied(_) => "La connexion a été refusée par le fournisseur d'identité.",
            Self::InvalidToken(_) => {
                "La réponse du fournisseur d'identité n'a pas pu être vérifiée. Recommencez ; si cela se répète, prévenez l'administrateur de guichet."
            }
        }
    }

    /// The error a callback carries instead of a code (`?error=access_denied&...`,
    /// RFC 6749 4.1.2.1), so that the page says why.
    pub fn from_callback(error: &str, description: Option<&str>) -> Self {
        let text: String = match description {
            Some(d) if !d.trim().is_empty() => format!("{error}: {}", d.trim()),
            _ => error.to_string(),
        }
        .chars()
        .take(300)
        .collect();
        match error {
            "access_denied"
            | "login_required"
            | "interaction_required"
            | "consent_required"
            | "account_selection_required" => Self::Denied(text),
            "server_error" | "temporarily_unavailable" => Self::Unreachable(text),
            _ => Self::Misconfigured(text),
        }
    }
}

/// Every claim beyond the standard ones, kept as JSON: the roles claim is named by the
/// configuration, possibly nested (`realm_access.roles`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type Fields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// `CoreClient` with [`OtherClaims`] in place of no additional claims, its endpoints as
/// discovery sets them.
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<Fields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The identity provider, as discovered: its metadata and signing keys, our client.
///
/// Build it when the first member of staff signs in, not at start, and keep it: an
/// identity provider that is down while guichet starts must not stop residents from
/// being answered, so `serve` starts whatever the provider's state and the sign-in page
/// says [`OidcError::Unreachable`] until discovery succeeds. Keys the provider rotates
/// later are fetched again when an ID token's key is not among the known ones.
pub struct Oidc {
    client: OidcClient,
    /// Kept to build a client with fresh keys after a rotation.
    metadata: CoreProviderMetadata,
    redirect: RedirectUrl,
    http: reqwest::Client,
    settings: OidcSettings,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.settings.issuer)
            .field("roles_claim", &self.settings.roles_claim)
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// Reads the provider's metadata (`/.well-known/openid-configuration`) and its keys.
    /// `redirect_url` is the callback's absolute URL, as registered at the provider
    /// (`{public_url}/console/login/oidc/callback`).
    pub async fn discover(settings: OidcSettings, redirect_url: String) -> Result<Self, OidcError> {
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| OidcError::Misconfigured(format!("GUICHET_OIDC_ISSUER: {e}")))?;
        let redirect = RedirectUrl::new(redirect_url)
            .map_err(|e| OidcError::Misconfigured(format!("redirect URL: {e}")))?;
        let http = reqwest::Client::builder()
            // The crate's advice: a provider's redirect could point requests anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| OidcError::Misconfigured(format!("HTTP client: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| match e {
                openidconnect::DiscoveryError::Request(e) => http_failure("discovery", &e),
                openidconnect::DiscoveryError::Response(status, _, _)
                    if status.is_server_error() =>
                {
                    OidcError::Unreachable(format!("discovery: HTTP {status}"))
                }
                openidconnect::DiscoveryError::Response(status, _, _) => {
                    OidcError::Misconfigured(format!(
                        "discovery: HTTP {status} (is GUICHET_OIDC_ISSUER the issuer's exact URL?)"
                    ))
                }
                openidconnect::DiscoveryError::Parse(e) => {
                    OidcError::Misconfigured(format!("discovery: unexpected field {}", e.path()))
                }
                other => OidcError::Misconfigured(format!("discovery: {}", chain(&other))),
            })?;
        let client = client_for(metadata.clone(), &settings, &redirect);
        Ok(Self {
            client,
            metadata,
            redirect,
            http,
            settings,
        })
    }

    /// The provider's issuer, as configured.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Where to send the browser (scopes `openid email profile`, PKCE S256), and what to
    /// keep until the callback.
    pub fn begin(&self) -> (url::Url, Pending) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        (url, pending)
    }

    /// Exchanges the callback's `code` (with the PKCE verifier), verifies the ID token and
    /// reads who signed in; claims the ID token lacks (roles, e-mail, name) are asked of
    /// the userinfo endpoint. The caller has found `pending` by the callback's `state`.
    pub async fn finish(&self, pending: Pending, code: &str) -> Result<Identity, OidcError> {
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Misconfigured(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(token_failure)?;
        let id_token = token
            .id_token()
            .ok_or_else(|| OidcError::Misconfigured("the token response has no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);

        // Keys the provider has rotated since discovery are fetched again, once.
        let rotated;
        let mut client = &self.client;
        if let Err(openidconnect::ClaimsVerificationError::SignatureVerification(
            openidconnect::SignatureVerificationError::NoMatchingKey,
        )) = id_token.claims(&client.id_token_verifier(), &nonce)
        {
            let keys = CoreJsonWebKeySet::fetch_async(self.metadata.jwks_uri(), &self.http)
                .await
                .map_err(|e| match e {
                    openidconnect::DiscoveryError::Request(e) => http_failure("keys", &e),
                    other => OidcError::Misconfigured(format!("keys: {}", chain(&other))),
                })?;
            rotated = client_for(
                self.metadata.clone().set_jwks(keys),
                &self.settings,
                &self.redirect,
            );
            client = &rotated;
        }
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &nonce)
            .map_err(|e| OidcError::InvalidToken(format!("ID token: {}", chain(&e))))?;

        // The access token is the one the ID token was issued with, not another's.
        if let Some(expected) = claims.access_token_hash() {
            let invalid = |e: &dyn std::error::Error| {
                OidcError::InvalidToken(format!("at_hash: {}", chain(e)))
            };
            let alg = id_token.signing_alg().map_err(|e| invalid(&e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| invalid(&e))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| invalid(&e))?;
            if actual != *expected {
                return Err(OidcError::InvalidToken(
                    "the access token does not match the ID token's at_hash".into(),
                ));
            }
        }

        let mut identity = self.identity_of(claims);
        let mut roles = roles_claim(
            &claims.additional_claims().claims,
            &self.settings.roles_claim,
        );
        let incomplete = roles.is_none() || identity.email.is_none() || identity.name.is_none();
        if incomplete && self.client.user_info_url().is_some() {
            let info = self.user_info(&token, claims.subject().clone()).await?;
            if roles.is_none() {
                roles = roles_claim(&info.additional_claims().claims, &self.settings.roles_claim);
            }
            if identity.email.is_none() {
                identity.email = verified_email(info.email(), info.email_verified());
            }
            if identity.name.is_none() {
                identity.name = display_name(info.given_name(), info.name());
            }
        }
        identity.roles = roles.unwrap_or_default();
        Ok(identity)
    }

    fn identity_of(&self, claims: &IdTokenClaims<OtherClaims, CoreGenderClaim>) -> Identity {
        Identity {
            issuer: claims.issuer().as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            email: verified_email(claims.email(), claims.email_verified()),
            name: display_name(claims.given_name(), claims.name()),
            roles: Vec::new(),
        }
    }

    async fn user_info(
        &self,
        token: &StandardTokenResponse<Fields, CoreTokenType>,
        subject: openidconnect::SubjectIdentifier,
    ) -> Result<UserInfoClaims<OtherClaims, CoreGenderClaim>, OidcError> {
        self.client
            .user_info(token.access_token().clone(), Some(subject))
            .map_err(|e| OidcError::Misconfigured(format!("userinfo: {e}")))?
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                UserInfoError::Request(e) => http_failure("userinfo", &e),
                UserInfoError::Response(status, _, _) if status.is_server_error() => {
                    OidcError::Unreachable(format!("userinfo: HTTP {status}"))
                }
                UserInfoError::Response(status, _, _) => {
                    OidcError::Misconfigured(format!("userinfo: HTTP {status}"))
                }
                UserInfoError::ClaimsVerification(e) => {
                    OidcError::InvalidToken(format!("userinfo: {}", chain(&e)))
                }
                UserInfoError::Parse(e) => {
                    OidcError::Misconfigured(format!("userinfo: unexpected field {}", e.path()))
                }
                other => OidcError::Misconfigured(format!("userinfo: {}", chain(&other))),
            })
    }
}

/// Our client of the provider `metadata` describes (endpoints, keys, algorithms).
fn client_for(
    metadata: CoreProviderMetadata,
    settings: &OidcSettings,
    redirect: &RedirectUrl,
) -> OidcClient {
    // Basic authentication unless the provider only takes the secret in the body.
    let auth = match metadata.token_endpoint_auth_methods_supported() {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    };
    OidcClient::from_provider_metadata(
        metadata,
        ClientId::new(settings.client_id.clone()),
        Some(ClientSecret::new(
            settings.client_secret.expose().to_string(),
        )),
    )
    .set_redirect_uri(redirect.clone())
    .set_auth_type(auth)
}

fn verified_email(
    email: Option<&openidconnect::EndUserEmail>,
    verified: Option<bool>,
) -> Option<String> {
    email
        .filter(|_| verified != Some(false))
        .map(|e| e.as_str().trim().to_string())
        .filter(|e| !e.is_empty())
}

fn display_name(
    given: Option<&openidconnect::LocalizedClaim<openidconnect::EndUserGivenName>>,
    name: Option<&openidconnect::LocalizedClaim<openidconnect::EndUserName>>,
) -> Option<String> {
    let given = given.and_then(|g| g.get(None)).map(|g| g.as_str().trim());
    let name = name.and_then(|n| n.get(None)).map(|n| n.as_str().trim());
    given
        .filter(|g| !g.is_empty())
        .or(name.filter(|n| !n.is_empty()))
        .map(str::to_string)
}

/// The roles under `path` in `claims`: `None` when the claim is absent (or null), so that
/// userinfo may be asked; a JSON array gives its strings (other entries are ignored), one
/// string is split on commas and spaces. A claim whose own name is `path` (dots and all,
/// as Auth0's namespaced claims) wins over the nested reading.
fn roles_claim(claims: &Map<String, Value>, path: &str) -> Option<Vec<String>> {
    let value = match claims.get(path) {
        Some(v) => v,
        None => {
            let mut parts = path.split('.');
            let mut value = claims.get(parts.next()?)?;
            for part in parts {
                value = value.as_object()?.get(part)?;
            }
            value
        }
    };
    let mut roles: Vec<String> = Vec::new();
    let mut push = |role: &str| {
        let role = role.trim();
        if !role.is_empty() && !roles.iter().any(|r| r == role) {
            roles.push(role.to_string());
        }
    };
    match value {
        Value::Null => return None,
        Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(&mut push),
        Value::String(s) => s
            .split(|c: char| c == ',' || c.is_whitespace())
            .for_each(&mut push),
        _ => {}
    }
    Some(roles)
}

/// An error and its causes, joined: reqwest's own text is "error sending request" and
/// the cause ("connection refused") is what the operator needs.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn http_failure(what: &str, e: &HttpClientError<reqwest::Error>) -> OidcError {
    OidcError::Unreachable(format!("{what}: {}", chain(e)))
}

fn token_failure(
    e: RequestTokenError<
        HttpClientError<reqwest::Error>,
        StandardErrorResponse<CoreErrorResponseType>,
    >,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(response) => match response.error() {
            // The code is single-use and short-lived: the person took too long, or the
            // callback was replayed.
            CoreErrorResponseType::InvalidGrant => OidcError::Expired,
            other => OidcError::Misconfigured(format!("token endpoint: {}", other.as_ref())),
        },
        RequestTokenError::Request(e) => http_failure("token endpoint", &e),
        // The body may hold tokens: only the path of what did not parse is told.
        RequestTokenError::Parse(e, _) => OidcError::Misconfigured(format!(
            "token endpoint: unexpected response at {}",
            e.path()
        )),
        RequestTokenError::Other(text) => {
            OidcError::Misconfigured(format!("token endpoint: {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn roles_from_an_array_keep_only_its_strings() {
        let c = claims(json!({"roles": ["agent", 3, null, "admin", {"x": 1}, " agent ", ""]}));
        assert_eq!(
            roles_claim(&c, "roles"),
            Some(vec!["agent".into(), "admin".into()])
        );
    }

    #[test]
    fn roles_from_one_string_are_split_on_commas_and_spaces() {
        let c = claims(json!({"roles": "agent, admin  editeur,"}));
        assert_eq!(
            roles_claim(&c, "roles"),
            Some(vec!["agent".into(), "admin".into(), "editeur".into()])
        );
    }

    #[test]
    fn roles_under_a_dotted_path_are_found_in_nested_claims() {
        let c = claims(json!({
            "realm_access": {"roles": ["offline_access", "agent"]},
            "resource_access": {"guichet": {"roles": ["admin"]}}
        }));
        assert_eq!(
            roles_claim(&c, "realm_access.roles"),
            Some(vec!["offline_access".into(), "agent".into()])
        );
        assert_eq!(
            roles_claim(&c, "resource_access.guichet.roles"),
            Some(vec!["admin".into()])
        );
        // A claim named with dots (a namespaced claim) is read as named.
        let c = claims(json!({"https://ville.fr/roles": ["agent"]}));
        assert_eq!(
            roles_claim(&c, "https://ville.fr/roles"),
            Some(vec!["agent".into()])
        );
    }

    #[test]
    fn a_missing_roles_claim_is_none_so_userinfo_is_asked() {
        let c = claims(json!({"roles": null, "realm_access": {"other": []}, "groups": ["x"]}));
        assert_eq!(roles_claim(&c, "roles"), None);
        assert_eq!(roles_claim(&c, "realm_access.roles"), None);
        assert_eq!(roles_claim(&c, "groups.roles"), None);
        assert_eq!(roles_claim(&c, "absent"), None);
        // Present but of no use (a number): no roles, and no second source either.
        let c = claims(json!({"roles": 7, "empty": []}));
        assert_eq!(roles_claim(&c, "roles"), Some(vec![]));
        assert_eq!(roles_claim(&c, "empty"), Some(vec![]));
    }

    #[test]
    fn additional_claims_keep_what_the_standard_ones_do_not_read() {
        // The ID token's claims are parsed by the crate with ours flattened beside the
        // standard ones: the roles claim must survive that.
        let raw = json!({
            "iss": "https://sso.ville.fr", "sub": "u1", "aud": "guichet",
            "exp": 4_000_000_000u64, "iat": 1_700_000_000u64,
            "given_name": "Camille", "email": "c@ville.fr",
            "roles": ["agent"], "realm_access": {"roles": ["admin"]}
        });
        let parsed: IdTokenClaims<OtherClaims, CoreGenderClaim> =
            serde_json::from_value(raw).unwrap();
        let other = &parsed.additional_claims().claims;
        assert_eq!(roles_claim(other, "roles"), Some(vec!["agent".into()]));
        assert_eq!(
            roles_claim(other, "realm_access.roles"),
            Some(vec!["admin".into()])
        );
        assert_eq!(
            display_name(parsed.given_name(), parsed.name()).as_deref(),
            Some("Camille")
        );
    }

    #[test]
    fn an_unverified_email_is_left_out() {
        let email = openidconnect::EndUserEmail::new("c@ville.fr".into());
        assert_eq!(verified_email(Some(&email), Some(false)), None);
        assert_eq!(
            verified_email(Some(&email), Some(true)).as_deref(),
            Some("c@ville.fr")
        );
        assert_eq!(
            verified_email(Some(&email), None).as_deref(),
            Some("c@ville.fr")
        );
    }

    #[test]
    fn a_callback_error_says_why_in_french_without_the_provider_jargon() {
        let e = OidcError::from_callback("access_denied", Some("End-User aborted interaction"));
        assert!(matches!(e, OidcError::Denied(_)), "{e:?}");
        assert_eq!(
            e.message_fr(),
            "La connexion a été refusée par le fournisseur d'identité."
        );
        assert!(matches!(
            OidcError::from_callback("temporarily_unavailable", None),
            OidcError::Unreachable(_)
        ));
        assert!(matches!(
            OidcError::from_callback("unauthorized_client", None),
            OidcError::Misconfigured(_)
        ));
        assert_eq!(
            OidcError::Expired.message_fr(),
            "La connexion a expiré, recommencez."
        );
    }

    #[test]
    fn a_pending_sign_in_round_trips_and_hides_its_secrets_from_debug() {
        let p = Pending {
            state: "st".into(),
            nonce: "nonce-secret".into(),
            pkce_verifier: "verifier-secret".into(),
        };
        let json = serde_json::to_string(&p).unwrap();
        let back: Pending = serde_json::from_str(&json).unwrap();
        assert_eq!(back.state, "st");
        assert_eq!(back.pkce_verifier, "verifier-secret");
        let debug = format!("{p:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }

    /// Shared by every request and awaited inside axum handlers, which need `Send` futures.
    #[allow(dead_code)]
    fn usable_from_handlers(oidc: &'static Oidc, settings: OidcSettings, pending: Pending) {
        fn send<T: Send>(_: &T) {}
        fn shared<T: Send + Sync>() {}
        shared::<Oidc>();
        send(&Oidc::discover(settings, String::new()));
        send(&oidc.finish(pending, ""));
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_reported_as_such_not_as_a_crash() {
        // A port nothing listens on: bind one, note it, drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = OidcSettings {
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: "guichet".into(),
            client_secret: "s3cret".parse().unwrap(),
            roles_claim: "roles".into(),
        };
        let e = Oidc::discover(settings, "http://127.0.0.1:1/cb".into())
            .await
            .unwrap_err();
        assert!(matches!(e, OidcError::Unreachable(_)), "{e:?}");
        assert_eq!(
            e.message_fr(),
            "Le fournisseur d'identité ne répond pas. Réessayez dans quelques minutes."
        );
    }
}
