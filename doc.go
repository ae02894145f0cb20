// Package mosaic is the domain of Mosaic, an open-source Customer Data Platform.
//
// The root package holds the nouns of the system (sources, API tokens, events, the inbox)
// and the interfaces of the services that store them. It does no I/O: adapters implement
// the interfaces — sqlite (the embedded default store), postgres (the production store),
// http (the API) — and cmd/mosaic wires them together.
//
// # Data flow
//
//	tracking libraries ──HTTP /v1/* (Segment spec)──► gateway (http): auth, limits, parse
//	    ──► group commit into the durable inbox (InboxService.AppendInbox) ──► 200
//	    ──► processor: reads the inbox in order, runs its stages (normalise, dedupe,
//	        …identity, profiles, segments later) and commits events with its offset
//	    ──► event store (EventService) ──► read API, console
//
// # Guarantees
//
//   - An event is acknowledged only after it is durable in the inbox: AppendInbox returns nil
//     only after an fsync'd commit (SQLite WAL with synchronous=FULL, a committed PostgreSQL
//     transaction). A kill -9 after the 200 loses nothing.
//   - The processor commits the events of an inbox range together with the new inbox offset in
//     one transaction, so a crash replays at most the uncommitted range and never applies it twice.
//   - A messageId is processed once per source: a duplicate is counted and dropped by the store.
//   - Bad input gets an *Error with a machine code and the JSON path of the offending field.
package mosaic
