// Package record keeps what a market-data engine received, frame by frame,
// in hourly zstd files, and reads it back in order.
//
// A recording is a directory of day folders (YYYY-MM-DD, UTC) holding files
// named after the receive time of their first record. Each file is one zstd
// stream of records: every raw frame as received (receive time in Unix
// nanoseconds, connection id, exact bytes), the connection events a replay
// needs to be exact (opened, subscribed, unsubscribed, closed), the market
// listings, the books the engine dropped, marks, and gap markers where the
// recorder had to drop. docs/RECORDING.md specifies the format (version 1).
//
// Writing: a Writer owns one goroutine that encodes, compresses, rotates
// (every UTC hour and at Config.MaxFileBytes) and prunes old files
// (Config.Keep). The On* methods copy their arguments into a bounded buffer
// under a short mutex and return: recording never blocks the caller. A full
// buffer drops the record, counts it and writes a Gap record in its place. A
// write error (a full disk) stops the recording for good, keeps the error for
// Stats and Health, and the On* methods then only count. The compressed
// stream is flushed at least every Config.FlushInterval (default 500 ms), so
// a killed process loses at most about that much, and every file stays
// readable up to its last flush.
//
// Reading: a Reader walks the files of a recording in order between two
// times and returns one Record at a time (Next, or a range over All). A
// truncated tail (a killed writer) or a damaged file ends that file, is
// counted in ReaderStats, and reading goes on with the next file.
//
// Concurrency: every method of *Writer is safe for concurrent use; Start and
// Stop are called once each by its owner. A *Reader is for one goroutine.
package record
