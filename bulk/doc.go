// Package bulk turns customer data files into Segment-spec calls, with no I/O beyond the
// io.Reader it is given: it streams the rows of a CSV or JSONL file (Reader), and maps each
// row, by a Mapping read from a YAML or JSON file, to the payload of an identify or track
// call (Mapper), validated by the same parser the gateway uses (package segment), so that
// imported data and API data obey one contract.
//
// A row that cannot be read or mapped is a bad row: it comes back as Problems (the physical
// line the row starts on, the column, the reason), never as an error, and reading goes on.
// Memory is bounded by the longest row allowed (Options.MaxRecordBytes), not by the file.
//
// A row's messageId is derived from the file's content and the row's number, so that
// importing the same file again makes the same messageIds, which the processor drops as
// duplicates. A profile row's (identify) messageId also depends on the mapping
// ("imp-<16 hex digits of the file's SHA-256>-<16 of Mapping.Digest>-<row>"): a corrected
// mapping re-states the rows, which is harmless for traits. An event row's (track) does not
// ("imp-<file>-<row>", or, when the mapping names a key column, from the event and the key,
// so that the same order in a later export is the same event): a second copy of an event
// would count twice, so a changed mapping does not re-send events. A row with identifiers
// but neither userId nor anonymousId (an email-only CRM row) gets a stable generated
// anonymousId: from the source and the row's key when the mapping has one, else from the
// file and row, never from the mapping. It is never derived from the email itself, which
// would make a pseudonym that outlives the email's erasure.
package bulk
