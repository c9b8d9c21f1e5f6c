//! Multi-member gossip scenarios, in process, each test on its own loopback
//! range 127.77.<test>.<member>:8301 so that tests run in parallel.

mod cluster;
mod conflict;
mod coordinates;
mod encryption;
mod failure;
mod leave;
mod support;
