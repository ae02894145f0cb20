package sqlite

// WALEmptied is how many times a write first emptied the WAL (restartWAL).
func (db *DB) WALEmptied() int {
	db.walMu.Lock()
	defer db.walMu.Unlock()
	return db.walEmptied
}

// CheckpointForTest copies the WAL into the database as the background checkpointer does,
// after waiting for it.
func (db *DB) CheckpointForTest() error { return db.checkpointWAL("PASSIVE") }
