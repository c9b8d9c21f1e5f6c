//! praetor-template's integration tests: the documented-examples corpus,
//! data functions through a fake Consul, and property tests.

mod corpus;
mod data;
mod go_reference;
mod helpers;
mod props;
mod world;
