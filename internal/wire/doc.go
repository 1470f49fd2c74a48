// Package wire decodes the text frames of Polymarket's CLOB WebSocket market
// channel into typed, reusable events.
//
// A frame is one JSON object, a JSON array of objects, or the plain text PONG
// (see IsPong). Decoder.Decode turns it into []Event without allocating in
// steady state: it decodes each object with sonic into one reused raw struct
// whose string fields alias the frame, then parses prices, sizes and
// timestamps into fixed.Point and int64.
//
//	d := wire.NewDecoder()
//	for frame := range frames {
//		events, err := d.Decode(frame)
//		for i := range events { route(&events[i]) }
//		if err != nil { count(err) } // bad elements were skipped, good ones returned
//	}
//
// Concurrency: a Decoder belongs to one goroutine. Decode and Stats must be
// called from that goroutine only. The returned events, every slice in them
// and every string in them alias the Decoder's buffers and the frame bytes:
// they are valid only until the next Decode on the same Decoder and only while
// the caller leaves the frame bytes untouched. Copy what must outlive that.
// Kind, Side and the plain value types are safe to share.
package wire
