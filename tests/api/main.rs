//! One integration-test binary: the real server on loopback, the real model, the demo corpus.

mod helpers;
mod stub;

mod attack;
mod channels;
mod chat;
mod config;
mod console_auth;
mod console_inbox;
mod console_kb;
mod console_proposals;
mod console_training;
mod conversation_flow;
mod conversations;
mod corpus;
mod corpus_start;
mod coverage;
mod embedder;
mod faults;
mod gaps;
mod grounding;
mod handoffs;
mod inbox;
mod kb;
mod kb_live;
mod lang;
mod metrics;
mod oidc;
mod openapi;
mod replicas;
mod shutdown;
mod start;
mod widget;
