//! openraft's own storage test suite, run against Fjord's RocksDB log store and state machine.

use std::sync::Arc;

use fjord_meta::raft::{StorageError, TypeConfig};
use fjord_meta::{LogStore, NodeDb, StateMachine};
use openraft::testing::{StoreBuilder, Suite};

struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for RocksBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Arc::new(NodeDb::open(dir.path()).expect("open RocksDB"));
        let sm = StateMachine::standalone(db.clone())?;
        Ok((dir, LogStore::new(db), sm))
    }
}

#[test]
fn rocksdb_storage_passes_openraft_suite() {
    Suite::test_all(RocksBuilder).unwrap();
}
