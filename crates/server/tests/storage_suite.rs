//! openraft's own storage conformance suite against Praetor's log store and
//! state machine: in memory (dev mode) and durable (redb, group commit,
//! entries read back from disk once committed).

use openraft::testing::{StoreBuilder, Suite};
use praetor_server::raft::log_store::LogStore;
use praetor_server::raft::state_machine::StateMachine;
use praetor_server::raft::{StorageError, TypeConfig};

struct Memory;
impl StoreBuilder<TypeConfig, LogStore, StateMachine, ()> for Memory {
    async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError> {
        let (sm, _) = StateMachine::open(None, 1000).unwrap();
        Ok(((), LogStore::in_memory(), sm))
    }
}

struct Durable;
impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Durable {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open(&dir.path().join("raft.db")).unwrap();
        let (sm, _) = StateMachine::open(Some(&dir.path().join("snapshots")), 1000).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn in_memory_log_and_state_machine_pass_openraft_suite() {
    Suite::test_all(Memory).unwrap();
}

#[test]
fn durable_log_and_state_machine_pass_openraft_suite() {
    Suite::test_all(Durable).unwrap();
}
