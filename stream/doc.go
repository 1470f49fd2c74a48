// Package stream consumes polyfeed's order-book stream (wire contract v1, see
// docs/STREAM.md) from NATS JetStream and keeps exact books for the assets a caller
// selects: every asset, the assets of some markets, or a list of assets.
//
//	nc, _ := nats.Connect(url, nats.MaxReconnects(-1))
//	c, _ := stream.New(stream.Config{Conn: nc, Assets: ids, Handler: func(u stream.Update) {
//		bid, _ := u.Book.BestBid()
//		fmt.Println(u.Book.Asset, u.Book.State, bid.Price, u.Lag)
//	}})
//	if err := c.Start(ctx); err != nil { ... }
//	defer c.Close()
//
// # Concurrency
//
// A Consumer owns one goroutine, started by Start and stopped (and waited for) by
// Close. The Handler runs on it, one update at a time; the *Book it receives is
// read-only and valid only during the call, and the Handler must not call Close.
// Book, Books, Lag, Live and Stats may be called from any goroutine; they copy under a
// lock. The caller owns the *nats.Conn and closes it after Close.
//
// # How it follows the contract
//
// Start reads the latest book of every selected asset from <PREFIX>_BOOKS, then an
// ordered consumer replays <PREFIX>_EVENTS from Lookback (70 s) ago by start time and
// continues live. Per asset it applies a book, then only messages of the same epoch
// with seq = last+1. A gap, or a delta whose best_bid/best_ask disagree with the book,
// fetches the asset's last book from <PREFIX>_BOOKS (direct get, last by subject) and
// starts over from it; a lower epoch is ignored; a higher epoch leaves the asset
// Syncing until a book of that epoch. Stale status and valid=false books make it
// Stale until the next valid book; closed makes it Closed.
//
// # Decisions where the contract is silent
//
//   - Replay: while the look-back window replays, an asset with no book yet skips its
//     messages until its first book in the window (no fetch). When the replay is done
//     (the events consumer reports nothing pending, or delivers nothing for 500 ms),
//     each selected asset that got no book in the window takes the book read from
//     <PREFIX>_BOOKS at Start. If the asset sent nothing at all in the window, that
//     book is shown Stale ("no message in the look-back window"): books come at least
//     every 60 s, so the market closed or its publisher is gone. After the replay an
//     asset with no book fetches one at its first message.
//   - A book from <PREFIX>_BOOKS repairs an asset only if its epoch is higher than the
//     highest seen, or equal with seq >= high-1, where high is the highest seq seen in
//     that epoch (the message that revealed the gap, typically). A book ahead of the
//     stream is fine: messages with seq <= the book's are then ignored as old. A book
//     that is too old counts as a ResyncMiss; the asset stays Syncing and fetches again
//     at most once per RefetchEvery (1 s), driven by its next message, until a book
//     repairs it.
//   - A book of the current epoch is applied whatever its seq (a book is the whole
//     state, so it also ends a gap), unless its seq is below the highest seen in the
//     epoch, or equal to the last applied: it is then old or a duplicate and ignored,
//     so a book never moves backwards.
//   - Messages with seq at or below the last applied are duplicates: ignored, not a gap.
//   - A status live changes nothing: only a valid book ends Stale. Closed is not sticky
//     against a later book (the contract says none comes).
//   - A Closed book stays readable for Config.ForgetClosed (10 min), then it is
//     dropped (Stats.Forgotten), so a consumer that runs for days holds only the
//     markets still open and the recently closed. A later message of the asset
//     starts it afresh, as for an asset never seen.
//   - A delta's best_bid/best_ask are checked against the book after applying it; a
//     mismatch counts (Mismatches) and repairs the asset like a gap.
//   - Decoding is strict: "v" must be 1; every field the contract lists must be present
//     with its JSON type (best_bid/best_ask present, null allowed; status "reason"
//     optional); epoch and seq in 1..2^53-1; prices above zero; book sizes above zero,
//     delta sizes at or above zero; at most six decimals (the engine's fixed point);
//     the subject's type and asset must match the payload's. Unknown fields are
//     ignored (additions within v1 are allowed). A broken message is counted
//     (DecodeErrors), logged once, and dropped; the seq it carried then shows as a gap.
//   - A market selection is filtered here, from the "market" field: subjects carry no
//     market, so it reads every message. A list of up to 256 assets is filtered by the
//     server (one filter subject <prefix>.v1.*.<asset> each).
//   - Server restarts are ridden out by the ordered consumer (it resumes after the
//     last sequence read). In a NATS cluster the events consumer runs on one node;
//     when that node dies and the connection (to another node) stays up, nothing
//     tells the client, so while the events consumer delivers nothing the consumer
//     asks the server for its state every 2 s, and opens it again after the last
//     sequence read when two checks in a row fail or find messages pending and
//     undelivered (Stats.Restarts). The read of <PREFIX>_BOOKS at Start runs on one
//     node too: a pause in it ends the read only when the server says nothing is left
//     to deliver; otherwise (its node is gone) the read starts over on a new
//     consumer, until Start's context ends. A recreated events stream (new creation
//     time, or fewer messages than already read: a server with memory storage came
//     back empty) is read again from the look-back window by time; the rules discard
//     what was seen.
//   - Lag is the consumer's clock minus the ts_ms of the last message applied to the
//     book (venue time), so it includes venue and publisher delay.
package stream
