//! The PostgreSQL part of the seam for staff accounts, sessions and the audit log.
