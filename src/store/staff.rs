//! The persistence of staff accounts, sessions, sign-in failures, the audit log and
//! OpenID Connect sign-ins under way: the part of the [`super::Store`] seam that
//! [`crate::staff`] uses.

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::staff::{Account, Actor, AuditEvent, NewAccount, Role, SessionRow};

pub trait StaffStore: Send + Sync {
    /// Creates an account; [`StoreError::Conflict`] when the email (or the SSO subject)
    /// already has one.
    fn add_staff(&self, new: &NewAccount, now: DateTime<Utc>) -> Result<Account, StoreError>;
    fn staff(&self, id: i64) -> Result<Option<Account>, StoreError>;
    fn staff_by_email(&self, email: &str) -> Result<Option<Account>, StoreError>;
    /// The account of `email` and its password hash (none until set up, or SSO only).
    fn staff_password(&self, email: &str) -> Result<Option<(Account, Option<String>)>, StoreError>;
    fn staff_by_sso(&self, issuer: &str, subject: &str) -> Result<Option<Account>, StoreError>;
    /// Every account, by email.
    fn list_staff(&self) -> Result<Vec<Account>, StoreError>;
    fn set_password(&self, id: i64, hash: &str) -> Result<(), StoreError>;
    fn set_roles(&self, id: i64, roles: &[Role], services: &[String]) -> Result<(), StoreError>;
    fn set_disabled(&self, id: i64, disabled: bool, now: DateTime<Utc>) -> Result<(), StoreError>;
    fn link_sso(&self, id: i64, issuer: &str, subject: &str) -> Result<(), StoreError>;

    fn put_setup_token(
        &self,
        hash: &str,
        staff: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The account of a set-up token not used and not expired.
    fn setup_token_staff(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<i64>, StoreError>;
    /// Uses a set-up token up; false when it was no longer valid (used in between).
    fn use_setup_token(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    fn insert_session(
        &self,
        hash: &str,
        staff: i64,
        csrf: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    fn session_row(&self, hash: &str) -> Result<Option<SessionRow>, StoreError>;
    fn touch_session(&self, hash: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    fn delete_session(&self, hash: &str) -> Result<(), StoreError>;
    /// Ends every session of an account; returns how many there were.
    fn delete_sessions_of(&self, staff: i64) -> Result<usize, StoreError>;

    fn record_signin_failure(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    fn signin_failures_since(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError>;
    fn clear_signin_failures(&self, key: &str) -> Result<(), StoreError>;

    fn record_audit(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The audit log, newest first, at most `limit` rows, before row id `before` if given.
    fn audit_log(&self, limit: usize, before: Option<i64>) -> Result<Vec<AuditEvent>, StoreError>;

    /// An OpenID Connect sign-in under way, keyed by the hash of its `state`.
    fn put_oidc_login(
        &self,
        state_hash: &str,
        pending: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Takes (deletes and returns) a sign-in under way begun after `since`.
    fn take_oidc_login(
        &self,
        state_hash: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// Deletes what staff sign-in no longer needs (ended sessions, expired set-up links
    /// and OIDC sign-ins, old failures) and audit rows older than `audit_before`.
    fn purge_staff(
        &self,
        audit_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}
