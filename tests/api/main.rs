//! One integration-test binary: the real server on loopback, the real model, the demo corpus.

mod helpers;

mod chat;
mod corpus;
mod grounding;
