//! The durable format across releases: the current build starts on a data
//! dir written by the previous release (`tests/golden/datadir-release.tar.gz`,
//! made by `scripts/golden-datadir.sh`) and answers every piece of its state
//! through the HTTP API.

mod datadir;
