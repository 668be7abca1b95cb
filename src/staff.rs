//! Staff accounts, roles, sign-in and sessions: who may do what in the console, decided
//! here and nowhere else (the web layer asks [`Account::may`] for every route and action).
//!
//! - Roles: `agent` (inbox, knowledge base, try pane, coverage), `editor` and `validator`
//!   of one or more services (as agent, plus the knowledge-base workflow to come),
//!   `admin` (everything, staff accounts and the audit log). An account without a role
//!   (first sign-in through the city's SSO without a roles claim) can do nothing until an
//!   admin gives it one.
//! - Local accounts: created by `guichet staff add` with a one-time set-up link (the
//!   person chooses their password); passwords hashed with argon2id.
//! - Sessions live in the store, keyed by the SHA-256 of a random token that only the
//!   person's cookie holds; each carries its CSRF token; they end after
//!   [`SESSION_IDLE`] without use or [`SESSION_MAX`] after sign-in, at sign-out, for every
//!   device at "sign out everywhere", and when the account is disabled.
//! - Sign-in failures are counted per account and per address (a keyed hash, not the
//!   address): [`ACCOUNT_MAX_FAILURES`] or [`ADDRESS_MAX_FAILURES`] within
//!   [`FAILURE_WINDOW`] lock sign-in until the window has passed.
//! - Every staff action is written to the audit log ([`audit`]).

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

/// A session unused this long ends.
pub const SESSION_IDLE: Duration = Duration::hours(2);
/// A session ends this long after sign-in, used or not (a working day and a bit).
pub const SESSION_MAX: Duration = Duration::hours(12);
/// How long a set-up link stays valid.
pub const SETUP_VALID: Duration = Duration::hours(72);
/// Failures counted over this window.
pub const FAILURE_WINDOW: Duration = Duration::minutes(15);
/// Failed sign-ins on one account within the window before it is locked.
pub const ACCOUNT_MAX_FAILURES: usize = 5;
/// Failed sign-ins from one address within the window before it is locked.
pub const ADDRESS_MAX_FAILURES: usize = 20;
/// Shortest password accepted (ANSSI's recommendation for a password alone).
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 200;
/// How often a session's last use is written (not on every request).
const TOUCH_EVERY: Duration = Duration::minutes(1);

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("adresse e-mail invalide : {0}")]
    Email(String),
    #[error("rôle inconnu : {0} (agent, editor, validator ou admin)")]
    Role(String),
    #[error("{0}")]
    Name(String),
    #[error("un éditeur ou un validateur travaille pour au moins un service (--service)")]
    NoService,
    #[error("service inconnu : {0}")]
    Service(String),
    #[error("le mot de passe doit compter au moins {MIN_PASSWORD_CHARS} caractères")]
    PasswordTooShort,
    #[error("le mot de passe est trop long")]
    PasswordTooLong,
    #[error("le mot de passe ne doit pas reprendre l'adresse e-mail")]
    PasswordIsEmail,
    #[error(
        "ce lien de création de mot de passe n'est plus valable ; demandez-en un nouveau à un administrateur"
    )]
    SetupExpired,
    #[error("aucun compte pour {0}")]
    NoAccount(String),
    #[error("hachage du mot de passe : {0}")]
    Hash(String),
}

/// What a person may do in the console, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Editor,
    Validator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Editor, Role::Validator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Editor => "editor",
            Self::Validator => "validator",
            Self::Admin => "admin",
        }
    }

    /// The role's name in French, for pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Editor => "éditeur",
            Self::Validator => "validateur",
            Self::Admin => "administrateur",
        }
    }

    /// A role by its name, in English (`agent`) or French (`éditeur`), any case.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().to_lowercase();
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw || r.label() == raw || r.label() == raw.replace('e', "é"))
    }

    /// Roles in a list (space or comma separated); unknown names refused.
    pub fn parse_list(raw: &str) -> Result<Vec<Role>, StaffError> {
        let mut roles = Vec::new();
        for name in raw.split([' ', ',']).filter(|s| !s.is_empty()) {
            let role = Self::parse(name).ok_or_else(|| StaffError::Role(name.to_string()))?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        roles.sort();
        Ok(roles)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the console lets someone do; each route and form names the one it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// See the inbox of hand-off tickets and a ticket's conversation.
    SeeInbox,
    /// Take, answer (typed or a validated answer), close a ticket.
    HandleTicket,
    /// Search, read and print the knowledge base.
    ReadKnowledge,
    /// Ask the assistant without it being recorded as traffic.
    TryAssistant,
    /// The coverage report and the batch probe.
    SeeCoverage,
    /// Staff accounts, their roles, sign-out of someone's sessions.
    ManageStaff,
    /// The audit log.
    SeeAudit,
    /// Propose changes to the entries of one's services; attach residents' questions.
    ProposeKnowledge,
    /// Validate or send back the proposals for one's services.
    ValidateKnowledge,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::SeeInbox,
        Action::HandleTicket,
        Action::ReadKnowledge,
        Action::TryAssistant,
        Action::SeeCoverage,
        Action::ManageStaff,
        Action::SeeAudit,
        Action::ProposeKnowledge,
        Action::ValidateKnowledge,
    ];

    /// The one role matrix: who may do what.
    pub fn allowed_to(self, role: Role) -> bool {
        match self {
            Self::SeeInbox
            | Self::HandleTicket
            | Self::ReadKnowledge
            | Self::TryAssistant
            | Self::SeeCoverage => true,
            Self::ManageStaff | Self::SeeAudit => role == Role::Admin,
            Self::ProposeKnowledge => role == Role::Editor,
            Self::ValidateKnowledge => role == Role::Validator,
        }
    }
}

/// A staff account as the console sees it (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: i64,
    pub email: String,
    /// What colleagues and residents see ("Camille", "Agent de l'accueil").
    pub name: String,
    pub roles: Vec<Role>,
    /// The services an editor or validator works for.
    pub services: Vec<String>,
    pub disabled: bool,
    /// Signs in through the city's identity provider.
    pub sso: bool,
    /// A password is set (local sign-in possible).
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// Whether this account may do `action`: a disabled account or one without a role
    /// may do nothing.
    pub fn may(&self, action: Action) -> bool {
        !self.disabled && self.roles.iter().any(|&r| action.allowed_to(r))
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Roles in words, with the services of an editor or validator.
    pub fn roles_label(&self) -> String {
        if self.roles.is_empty() {
            return "sans rôle".into();
        }
        let services = self.services.join(", ");
        self.roles
            .iter()
            .map(|r| match r {
                Role::Editor | Role::Validator if !services.is_empty() => {
                    format!("{} ({services})", r.label())
                }
                _ => r.label().to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A new account, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub services: Vec<String>,
    pub sso: Option<(String, String)>,
}

impl NewAccount {
    /// Checks an account's fields: an email, a shown name that is a name and not an
    /// email or a number ([`crate::store::AgentName`]'s rules), services for an editor
    /// or validator, each among `known_services`.
    pub fn new(
        email: &str,
        name: Option<&str>,
        roles: Vec<Role>,
        services: Vec<String>,
        known_services: &[&str],
    ) -> Result<Self, StaffError> {
        let email = normalize_email(email)?;
        let name = match name {
            Some(n) => n.trim().to_string(),
            None => first_name_of(&email),
        };
        crate::store::AgentName::parse(&name).map_err(StaffError::Name)?;
        if roles
            .iter()
            .any(|r| matches!(r, Role::Editor | Role::Validator))
            && services.is_empty()
        {
            return Err(StaffError::NoService);
        }
        for s in &services {
            if !known_services.contains(&s.as_str()) {
                return Err(StaffError::Service(s.clone()));
            }
        }
        Ok(Self {
            email,
            name,
            roles,
            services,
            sso: None,
        })
    }
}

/// An email, trimmed and lower-cased; one `@` with something either side.
pub fn normalize_email(raw: &str) -> Result<String, StaffError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && matches!(email.split_once('@'), Some((user, domain))
            if !user.is_empty() && domain.contains('.') && !domain.contains('@')
               && !domain.starts_with('.') && !domain.ends_with('.'));
    if valid {
        Ok(email)
    } else {
        Err(StaffError::Email(raw.trim().to_string()))
    }
}

/// "camille.martin@ville.fr" -> "Camille": the default shown name.
fn first_name_of(email: &str) -> String {
    let user = email.split('@').next().unwrap_or_default();
    let first = user
        .split(['.', '-', '_', '+'])
        .find(|p| p.chars().any(char::is_alphabetic))
        .unwrap_or("Agent");
    let first: String = first.chars().filter(|c| c.is_alphabetic()).collect();
    let mut chars = first.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => "Agent".into(),
    }
}

/// A random token (32 bytes, hex) for a cookie, a link or a CSRF field.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The argon2id hash of a password (PHC string, salt included).
pub fn hash_password(password: &str) -> Result<String, StaffError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hash(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash nobody's password matches, verified when the account does not exist so that
/// a wrong email takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// Checks a new password against the rules.
pub fn check_password(password: &str, email: &str) -> Result<(), StaffError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(StaffError::PasswordTooShort);
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(StaffError::PasswordTooLong);
    }
    if password.trim().eq_ignore_ascii_case(email) {
        return Err(StaffError::PasswordIsEmail);
    }
    Ok(())
}

/// Creates an account (audited as done by `actor`) and returns it with its one-time
/// set-up token (for the link that lets the person choose their password).
pub fn add_account(
    store: &dyn Store,
    new: &NewAccount,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Account, String), StaffError> {
    let account = store.add_staff(new, now)?;
    let token = setup_token(store, &account, now)?;
    audit(
        store,
        actor,
        "staff.add",
        Some(&account.email),
        Some(&account.roles_label()),
        now,
    )?;
    Ok((account, token))
}

/// The set-up link of a token, under the console's external address `base`.
pub fn setup_link(base: &str, token: &str) -> String {
    format!("{}/console/setup/{token}", base.trim_end_matches('/'))
}

/// A new one-time set-up token for `account` (replacing none: each link works once).
pub fn setup_token(
    store: &dyn Store,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<String, StaffError> {
    let token = random_token();
    store.put_setup_token(&token_hash(&token), account.id, now + SETUP_VALID)?;
    Ok(token)
}

/// The account a set-up link is for, if it is still valid (not used, not expired).
pub fn setup_account(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Account>, StaffError> {
    let Some(id) = store.setup_token_staff(&token_hash(token), now)? else {
        return Ok(None);
    };
    Ok(store.staff(id)?.filter(|a| !a.disabled))
}

/// Sets the password of a set-up link's account; the link stops working; the person's
/// other sessions end (a set-up link is also how a forgotten password is reset).
pub fn complete_setup(
    store: &dyn Store,
    token: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<Account, StaffError> {
    let account = setup_account(store, token, now)?.ok_or(StaffError::SetupExpired)?;
    check_password(password, &account.email)?;
    let hash = hash_password(password)?;
    if !store.use_setup_token(&token_hash(token), now)? {
        return Err(StaffError::SetupExpired);
    }
    store.set_password(account.id, &hash)?;
    store.delete_sessions_of(account.id)?;
    audit(
        store,
        &Actor::staff(&account),
        "staff.password_set",
        Some(&account.email),
        None,
        now,
    )?;
    Ok(store.staff(account.id)?.unwrap_or(account))
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub staff: Option<i64>,
    /// The account's email, or `cli`, or `api` (the bearer token of integrations).
    pub label: String,
}

impl Actor {
    pub fn staff(account: &Account) -> Self {
        Self {
            staff: Some(account.id),
            label: account.email.clone(),
        }
    }

    pub fn cli() -> Self {
        Self {
            staff: None,
            label: "cli".into(),
        }
    }

    pub fn api() -> Self {
        Self {
            staff: None,
            label: "api".into(),
        }
    }
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub staff: Option<i64>,
    pub actor: String,
    /// What was done: `signin`, `signin.failed`, `signout`, `ticket.claim`,
    /// `ticket.reply`, `ticket.answer`, `ticket.close`, `staff.add`, `staff.roles`,
    /// `staff.disable`, ...
    pub action: String,
    /// What it was done to: a ticket id, an account's email, an entry id.
    pub target: Option<String>,
    /// Ids and words of ours only, never a resident's words.
    pub detail: Option<String>,
}

/// Writes an audit row.
pub fn audit(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store.record_audit(actor, action, target, detail, now)
}

/// An open session: the account (as it is now, not as it was at sign-in) and the CSRF
/// token of its forms.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
}

/// A session just opened: `token` goes in the cookie, and nowhere else.
#[derive(Debug, Clone)]
pub struct Opened {
    pub token: String,
    pub session: Session,
}

/// What the store keeps of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub staff: i64,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Opens a session for `account` (signed in by password or by the city's SSO).
pub fn open_session(
    store: &dyn Store,
    account: &Account,
    how: &str,
    now: DateTime<Utc>,
) -> Result<Opened, StaffError> {
    let token = random_token();
    let csrf = random_token();
    store.insert_session(&token_hash(&token), account.id, &csrf, now)?;
    audit(
        store,
        &Actor::staff(account),
        "signin",
        None,
        Some(how),
        now,
    )?;
    Ok(Opened {
        token,
        session: Session {
            account: account.clone(),
            csrf,
            created_at: now,
        },
    })
}

/// The session of a cookie's token, if it is still open: not idle too long, not too
/// old, its account enabled. An ended session is deleted.
pub fn session(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let hash = token_hash(token);
    let Some(row) = store.session_row(&hash)? else {
        return Ok(None);
    };
    let account = store.staff(row.staff)?;
    let ended = now - row.last_seen > SESSION_IDLE || now - row.created_at > SESSION_MAX;
    match account {
        Some(account) if !ended && !account.disabled => {
            if now - row.last_seen > TOUCH_EVERY {
                store.touch_session(&hash, now)?;
            }
            Ok(Some(Session {
                account,
                csrf: row.csrf,
                created_at: row.created_at,
            }))
        }
        _ => {
            store.delete_session(&hash)?;
            Ok(None)
        }
    }
}

/// Ends one session (sign-out).
pub fn close_session(
    store: &dyn Store,
    token: &str,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store.delete_session(&token_hash(token))?;
    audit(store, &Actor::staff(account), "signout", None, None, now)
}

/// Ends every session of `account` (sign-out everywhere, or an admin's doing).
pub fn close_all_sessions(
    store: &dyn Store,
    account: &Account,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let n = store.delete_sessions_of(account.id)?;
    audit(
        store,
        actor,
        "signout.everywhere",
        Some(&account.email),
        Some(&format!("{n} sessions")),
        now,
    )?;
    Ok(n)
}

/// Why a sign-in was refused. The message never says whether the account exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("Adresse e-mail ou mot de passe incorrect.")]
    Invalid,
    #[error(
        "Trop de tentatives de connexion : réessayez dans {minutes} minutes, ou demandez un nouveau lien à un administrateur."
    )]
    Locked { minutes: i64 },
}

/// Checks an email and password: returns the account to open a session for. Failures
/// are counted for the account and for `address` (a keyed hash of the caller's address,
/// see [`Store::pseudonym`]); past the limits, sign-in is refused for the rest of the
/// window, right password or not.
pub fn sign_in(
    store: &dyn Store,
    email: &str,
    password: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Result<Account, SignInError>, StaffError> {
    let email = email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    let address_key = format!("address:{address}");
    let since = now - FAILURE_WINDOW;
    let locked_for = |key: &str, max: usize| -> Result<Option<i64>, StoreError> {
        let fails = store.signin_failures_since(key, since)?;
        Ok((fails.len() >= max).then(|| {
            let oldest = fails.iter().min().copied().unwrap_or(now);
            ((oldest + FAILURE_WINDOW - now).num_seconds() + 59).max(60) / 60
        }))
    };
    if let Some(minutes) = locked_for(&account_key, ACCOUNT_MAX_FAILURES)?
        .or(locked_for(&address_key, ADDRESS_MAX_FAILURES)?)
    {
        audit(
            store,
            &Actor {
                staff: None,
                label: email,
            },
            "signin.locked",
            None,
            None,
            now,
        )?;
        return Ok(Err(SignInError::Locked { minutes }));
    }
    let found = store.staff_password(&email)?;
    let ok = match &found {
        Some((account, Some(hash))) => verify_password(password, hash) && !account.disabled,
        _ => {
            verify_password(password, dummy_hash());
            false
        }
    };
    match found {
        Some((account, _)) if ok => {
            store.clear_signin_failures(&account_key)?;
            Ok(Ok(account))
        }
        found => {
            store.record_signin_failure(&account_key, now)?;
            store.record_signin_failure(&address_key, now)?;
            audit(
                store,
                &Actor {
                    staff: found.as_ref().map(|(a, _)| a.id),
                    label: email,
                },
                "signin.failed",
                None,
                None,
                now,
            )?;
            Ok(Err(SignInError::Invalid))
        }
    }
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_in_english_and_french() {
        assert_eq!(Role::parse("Agent"), Some(Role::Agent));
        assert_eq!(Role::parse("éditeur"), Some(Role::Editor));
        assert_eq!(Role::parse("validateur"), Some(Role::Validator));
        assert_eq!(Role::parse("root"), None);
        assert_eq!(
            Role::parse_list("admin, agent agent").unwrap(),
            vec![Role::Agent, Role::Admin]
        );
        assert!(Role::parse_list("agent chef").is_err());
    }

    #[test]
    fn only_admins_manage_staff_and_a_role_less_account_does_nothing() {
        for role in Role::ALL {
            assert!(Action::SeeInbox.allowed_to(role));
            assert_eq!(Action::ManageStaff.allowed_to(role), role == Role::Admin);
        }
        let mut a = Account {
            id: 1,
            email: "a@ville.fr".into(),
            name: "A".into(),
            roles: vec![],
            services: vec![],
            disabled: false,
            sso: true,
            has_password: false,
            created_at: Utc::now(),
        };
        assert!(Action::ALL.iter().all(|&x| !a.may(x)));
        a.roles = vec![Role::Admin];
        // An administrator does everything but the services' own work: what residents
        // are told is proposed and validated by the service that answers for it.
        for x in Action::ALL {
            let theirs = matches!(x, Action::ProposeKnowledge | Action::ValidateKnowledge);
            assert_eq!(a.may(x), !theirs, "{x:?}");
        }
        a.disabled = true;
        assert!(Action::ALL.iter().all(|&x| !a.may(x)));
    }

    #[test]
    fn a_new_account_needs_a_real_email_a_name_and_services_for_editors() {
        let known = ["etat-civil", "accueil"];
        let a = NewAccount::new(
            " Camille.Martin@Ville.fr ",
            None,
            vec![Role::Agent],
            vec![],
            &known,
        )
        .unwrap();
        assert_eq!(a.email, "camille.martin@ville.fr");
        assert_eq!(a.name, "Camille");
        assert!(NewAccount::new("pas-un-email", None, vec![], vec![], &known).is_err());
        assert!(matches!(
            NewAccount::new("e@ville.fr", None, vec![Role::Editor], vec![], &known),
            Err(StaffError::NoService)
        ));
        assert!(matches!(
            NewAccount::new(
                "e@ville.fr",
                None,
                vec![Role::Editor],
                vec!["voirie".into()],
                &known
            ),
            Err(StaffError::Service(_))
        ));
        assert!(
            NewAccount::new(
                "e@ville.fr",
                Some("e@ville.fr"),
                vec![Role::Agent],
                vec![],
                &known
            )
            .is_err(),
            "an email is not a shown name"
        );
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterie", &h));
        assert!(matches!(
            check_password("court", "a@b.fr"),
            Err(StaffError::PasswordTooShort)
        ));
        assert!(check_password("une phrase assez longue", "a@b.fr").is_ok());
    }
}
