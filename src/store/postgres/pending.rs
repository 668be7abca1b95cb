//! Stand-ins for the staff and knowledge-base halves of the seam on PostgreSQL, so that
//! `impl Store for PgStore` compiles and the core contract runs while branch pg/staffkb
//! writes the real ones in staff.rs and kb.rs. Delete this file (and `mod pending;`)
//! when that branch is merged.
#![allow(unused_variables)]

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::staff::{Account, Actor, AuditEvent, NewAccount, Role, SessionRow};
use crate::store::{
    Decider, KbStore, Label, LiveFile, NewLabel, NewRevision, Revision, RevisionStatus, StaffStore,
    StoreError,
};

impl StaffStore for PgStore {
    fn add_staff(&self, new: &NewAccount, now: DateTime<Utc>) -> Result<Account, StoreError> {
        unimplemented!("PgStore::add_staff: pg/staffkb")
    }

    fn staff(&self, id: i64) -> Result<Option<Account>, StoreError> {
        unimplemented!("PgStore::staff: pg/staffkb")
    }

    fn staff_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        unimplemented!("PgStore::staff_by_email: pg/staffkb")
    }

    fn staff_password(&self, email: &str) -> Result<Option<(Account, Option<String>)>, StoreError> {
        unimplemented!("PgStore::staff_password: pg/staffkb")
    }

    fn staff_by_sso(&self, issuer: &str, subject: &str) -> Result<Option<Account>, StoreError> {
        unimplemented!("PgStore::staff_by_sso: pg/staffkb")
    }

    fn list_staff(&self) -> Result<Vec<Account>, StoreError> {
        unimplemented!("PgStore::list_staff: pg/staffkb")
    }

    fn set_password(&self, id: i64, hash: &str) -> Result<(), StoreError> {
        unimplemented!("PgStore::set_password: pg/staffkb")
    }

    fn set_roles(&self, id: i64, roles: &[Role], services: &[String]) -> Result<(), StoreError> {
        unimplemented!("PgStore::set_roles: pg/staffkb")
    }

    fn set_disabled(&self, id: i64, disabled: bool, now: DateTime<Utc>) -> Result<(), StoreError> {
        unimplemented!("PgStore::set_disabled: pg/staffkb")
    }

    fn link_sso(&self, id: i64, issuer: &str, subject: &str) -> Result<(), StoreError> {
        unimplemented!("PgStore::link_sso: pg/staffkb")
    }

    fn put_setup_token(
        &self,
        hash: &str,
        staff: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("PgStore::put_setup_token: pg/staffkb")
    }

    fn setup_token_staff(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        unimplemented!("PgStore::setup_token_staff: pg/staffkb")
    }

    fn use_setup_token(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        unimplemented!("PgStore::use_setup_token: pg/staffkb")
    }

    fn insert_session(
        &self,
        hash: &str,
        staff: i64,
        csrf: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("PgStore::insert_session: pg/staffkb")
    }

    fn session_row(&self, hash: &str) -> Result<Option<SessionRow>, StoreError> {
        unimplemented!("PgStore::session_row: pg/staffkb")
    }

    fn touch_session(&self, hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        unimplemented!("PgStore::touch_session: pg/staffkb")
    }

    fn delete_session(&self, hash: &str) -> Result<(), StoreError> {
        unimplemented!("PgStore::delete_session: pg/staffkb")
    }

    fn delete_sessions_of(&self, staff: i64) -> Result<usize, StoreError> {
        unimplemented!("PgStore::delete_sessions_of: pg/staffkb")
    }

    fn record_signin_failure(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        unimplemented!("PgStore::record_signin_failure: pg/staffkb")
    }

    fn signin_failures_since(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        unimplemented!("PgStore::signin_failures_since: pg/staffkb")
    }

    fn clear_signin_failures(&self, key: &str) -> Result<(), StoreError> {
        unimplemented!("PgStore::clear_signin_failures: pg/staffkb")
    }

    fn record_audit(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("PgStore::record_audit: pg/staffkb")
    }

    fn audit_log(&self, limit: usize, before: Option<i64>) -> Result<Vec<AuditEvent>, StoreError> {
        unimplemented!("PgStore::audit_log: pg/staffkb")
    }

    fn put_oidc_login(
        &self,
        state_hash: &str,
        pending: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("PgStore::put_oidc_login: pg/staffkb")
    }

    fn take_oidc_login(
        &self,
        state_hash: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        unimplemented!("PgStore::take_oidc_login: pg/staffkb")
    }

    fn purge_staff(
        &self,
        audit_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        unimplemented!("PgStore::purge_staff: pg/staffkb")
    }
}

impl KbStore for PgStore {
    fn kb_version(&self) -> Result<i64, StoreError> {
        unimplemented!("PgStore::kb_version: pg/staffkb")
    }

    fn kb_live(&self) -> Result<Vec<LiveFile>, StoreError> {
        unimplemented!("PgStore::kb_live: pg/staffkb")
    }

    fn kb_live_revision(&self, path: &str) -> Result<Option<i64>, StoreError> {
        unimplemented!("PgStore::kb_live_revision: pg/staffkb")
    }

    fn kb_entry_path(&self, entry_id: &str) -> Result<Option<String>, StoreError> {
        unimplemented!("PgStore::kb_entry_path: pg/staffkb")
    }

    fn kb_apply(
        &self,
        changes: &[NewRevision],
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        unimplemented!("PgStore::kb_apply: pg/staffkb")
    }

    fn kb_propose(&self, new: &NewRevision, now: DateTime<Utc>) -> Result<i64, StoreError> {
        unimplemented!("PgStore::kb_propose: pg/staffkb")
    }

    fn kb_revision(&self, id: i64) -> Result<Option<Revision>, StoreError> {
        unimplemented!("PgStore::kb_revision: pg/staffkb")
    }

    fn kb_history(&self, path: &str) -> Result<Vec<Revision>, StoreError> {
        unimplemented!("PgStore::kb_history: pg/staffkb")
    }

    fn kb_drafts(&self, services: Option<&[String]>) -> Result<Vec<Revision>, StoreError> {
        unimplemented!("PgStore::kb_drafts: pg/staffkb")
    }

    fn kb_validate(
        &self,
        id: i64,
        content: Option<&str>,
        answer_sha256: Option<&str>,
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        unimplemented!("PgStore::kb_validate: pg/staffkb")
    }

    fn kb_close_draft(
        &self,
        id: i64,
        status: RevisionStatus,
        comment: Option<&str>,
        by: &Decider<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("PgStore::kb_close_draft: pg/staffkb")
    }

    fn kb_self_validation(&self, service: &str) -> Result<bool, StoreError> {
        unimplemented!("PgStore::kb_self_validation: pg/staffkb")
    }

    fn set_kb_self_validation(
        &self,
        service: &str,
        allowed: bool,
        staff: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("PgStore::set_kb_self_validation: pg/staffkb")
    }

    fn kb_add_label(&self, label: &NewLabel, now: DateTime<Utc>) -> Result<i64, StoreError> {
        unimplemented!("PgStore::kb_add_label: pg/staffkb")
    }

    fn kb_labels(&self) -> Result<Vec<Label>, StoreError> {
        unimplemented!("PgStore::kb_labels: pg/staffkb")
    }
}
