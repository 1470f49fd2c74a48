package wire

import "strings"

// DecoderStats counts what a Decoder has seen since NewDecoder.
type DecoderStats struct {
	Frames uint64 // frames passed to Decode, PONG included
	Pongs  uint64 // PONG frames
	// Events counts returned events by Kind (index KindUnknown stays 0).
	Events [KindCount]uint64
	// Legacy counts price_change events in the pre-2025-09 form; they are
	// also counted in Events[KindPriceChange].
	Legacy uint64
	// Unknown counts objects skipped because their event_type is not known,
	// or absent with no key that identifies the kind.
	Unknown uint64
	// UnknownTypes splits Unknown by event_type as sent ("" when absent).
	// At most MaxUnknownTypes names are kept; the rest count under "(other)".
	UnknownTypes map[string]uint64
	// Malformed counts skipped parts: whole frames that are not JSON,
	// array elements and single price changes that did not decode.
	Malformed uint64
	// NumericTimestamps counts timestamps sent as a JSON number instead of
	// a string (accepted).
	NumericTimestamps uint64
}

// MaxUnknownTypes bounds DecoderStats.UnknownTypes, so a peer sending random
// event_type values cannot grow memory.
const MaxUnknownTypes = 32

// unknownOther is the UnknownTypes key for names past MaxUnknownTypes.
const unknownOther = "(other)"

// maxTypeName bounds the length of a stored unknown event_type.
const maxTypeName = 64

// Stats returns a copy of the counters. Like Decode, it must be called from
// the goroutine that owns d: the counters are plain integers because an
// atomic add per event would cost more than decoding a price_change.
func (d *Decoder) Stats() DecoderStats {
	s := d.stats
	if d.unknownTypes != nil {
		s.UnknownTypes = make(map[string]uint64, len(d.unknownTypes))
		for name, n := range d.unknownTypes {
			s.UnknownTypes[name] = *n
		}
	}
	return s
}

// countUnknown records a skipped object with event_type name, which aliases
// the frame. It allocates only the first time a name is seen (at most
// MaxUnknownTypes times).
//
// The counts sit behind pointers so that counting a known name is a lookup,
// never a map assignment: assigning to an existing string key stores the new
// key value in the map, which would make the key alias this frame's buffer
// and change when the reader reuses it.
func (d *Decoder) countUnknown(name string) {
	d.stats.Unknown++
	if len(name) > maxTypeName {
		name = name[:maxTypeName]
	}
	if n, ok := d.unknownTypes[name]; ok {
		*n++
		return
	}
	if d.unknownTypes == nil {
		d.unknownTypes = make(map[string]*uint64)
	}
	key := unknownOther
	if len(d.unknownTypes) < MaxUnknownTypes {
		key = strings.Clone(name) // the map must own its keys
	}
	if n, ok := d.unknownTypes[key]; ok {
		*n++
		return
	}
	n := uint64(1)
	d.unknownTypes[key] = &n
}
