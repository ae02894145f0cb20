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

// SetEventParts makes the parts of the events' identity index 2^bits event ids, before Open.
func (db *DB) SetEventParts(bits int) { db.partBits = bits }
