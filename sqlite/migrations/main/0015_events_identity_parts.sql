-- The index of events by anchor identifier (events_identity) takes each processor commit's
-- events at random places, so a commit rewrote nearly every page of it, and the index
-- grows with every event stored: at 2.7M events that was 25k pages (100 MiB of WAL, and as
-- much again to checkpoint) for each commit of 50k events, and the processor's speed fell
-- as the store grew. The index is now split into parts of 2^20 event ids (events.part = id
-- >> 20, given by CommitEvents), and a commit only writes into the part of the newest ids,
-- which never passes about 10k pages. Readers look an identifier up in every part (one seek
-- each; FindEvents, FindEventsByIdentity). Events stored before this migration are all in
-- part 0.
ALTER TABLE events ADD COLUMN part INTEGER NOT NULL DEFAULT 0;
DROP INDEX events_identity;
CREATE INDEX events_identity ON events (part, identity, id) WHERE identity IS NOT NULL;
