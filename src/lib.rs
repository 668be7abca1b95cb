//! guichet: a digital front desk that answers only with validated answers, word for word,
//! and hands over to a person whenever it is not sure.
//!
//! A question travels one way:
//!
//! ```text
//! channel (http, webhooks) -> conversation -> engine::Engine::ask -> reply::Reply -> channel
//!                               |                 |
//!                               |                 +- corpus   validated entries, services, messages (immutable)
//!                               |                 +- embedder question -> vector (ONNX Runtime)
//!                               |                 +- index    vector -> nearest entries (hnsw_rs)
//!                               |                 +- lexical  words -> entries (BM25, French folding)
//!                               |                 +- retrieval phrasings and answers, dense and lexical -> candidates
//!                               |                 +- policy   ranked candidates -> answer / clarify / hand off (calibrated)
//!                               +- store   dedupe, turns, hand-off tickets
//! ```
//!
//! Staff side: `staff` (accounts, roles and the one matrix of who may do what, sign-in,
//! lockout, server-side sessions with their CSRF tokens, the audit log) and `html` (the one
//! rendering layer: maud templates for the console and the coverage documents); the web
//! layer's `http::console` serves the console under `/console/` and `http::oidc` signs staff
//! in with the city's identity provider.
//!
//! `conversation` owns the flow and the rules of a ticket's life (receive a message,
//! answer or repeat how to reach a person, open, take, answer, close, cancel a ticket,
//! the web's view of it); the web chat, the agents' API and the webhooks all call it.
//! Around it: `http` and `channels` (web chat, agents' API, messengers' webhooks, the only
//! modules that know axum: they translate, keep the engine behind the in-flight limit,
//! and deliver), `store` (conversations, hand-off tickets, feedback, staff accounts and
//! sessions, audit log; SQLite), `privacy`
//! (redaction before anything is stored or logged), `telemetry` (the metrics' names and
//! the Prometheus recorder the web layer serves at `/metrics`), `cli`.
//! The core (everything but `http`, `channels` and `cli`) is synchronous and knows no web
//! framework.

pub mod calibrate;
pub mod channels;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod corpus;
pub mod coverage;
pub mod embedder;
pub mod engine;
pub mod eval;
pub mod html;
pub mod http;
pub mod index;
pub mod kb;
pub mod lexical;
pub mod policy;
pub mod privacy;
pub mod quality;
pub mod reply;
pub mod retrieval;
pub mod staff;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod training;
