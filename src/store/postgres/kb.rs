//! The PostgreSQL part of the seam for the knowledge base.
