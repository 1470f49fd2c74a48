package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the format version written after the magic of every file.
const Version = 1

// magic opens the decompressed stream of every file; the version byte follows.
const magic = "PFREC"

// maxBody bounds one record's body; anything longer is damage, not data. It
// is above the largest frame a connection accepts (16 MiB by default) and the
// largest listing (10,000 markets of JSON).
const maxBody = 64 << 20

// Kind is the type of a record.
type Kind uint8

// Record kinds. The numbers are part of the format: never renumber.
const (
	// KindSession opens every file: Session identifies the recording
	// process. Connection ids are only unique within one session.
	KindSession Kind = 1
	// KindOpen: connection Conn opened a socket to URL.
	KindOpen Kind = 2
	// KindSubscribe: connection Conn sent a subscribe for Assets; Initial
	// when it is the first subscribe of a socket (the whole asset set).
	KindSubscribe Kind = 3
	// KindUnsubscribe: connection Conn sent an unsubscribe for Assets.
	KindUnsubscribe Kind = 4
	// KindFrame: connection Conn received Frame (a text data frame, exactly
	// as received; keepalive replies excluded).
	KindFrame Kind = 5
	// KindClose: connection Conn's socket went away other than by a stop,
	// with WebSocket close Code (0: dropped without a close frame).
	KindClose Kind = 6
	// KindListing: a market listing (Markets); Complete when the listing
	// was whole, so an absent market is really gone.
	KindListing Kind = 7
	// KindGap: the recorder dropped Dropped records (DroppedBytes bytes)
	// here.
	KindGap Kind = 8
	// KindDrop: the engine forgot the books of Assets.
	KindDrop Kind = 9
	// KindMark: a label set by the recording's owner (Label).
	KindMark Kind = 10
	// KindMigrate: the engine began moving Assets off connection Conn
	// (make before break), before the replacement subscribed them.
	KindMigrate Kind = 11
	// KindMigrateEnd: the move of Assets off connection Conn ended: what
	// was left switched to the replacement, or stayed when Abort.
	KindMigrateEnd Kind = 12
)

var kindNames = [...]string{
	KindSession: "session", KindOpen: "open", KindSubscribe: "subscribe", KindUnsubscribe: "unsubscribe",
	KindFrame: "frame", KindClose: "close", KindListing: "listing", KindGap: "gap", KindDrop: "drop", KindMark: "mark",
	KindMigrate: "migrate", KindMigrateEnd: "migrate_end",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Record is one decoded record. Which fields are set depends on Kind. The
// slices returned by Reader.Next (Frame, Assets) are valid until the next
// call to Next; Markets is the caller's to keep.
type Record struct {
	Kind Kind
	// Time is the receive (or event) time in Unix nanoseconds.
	Time int64
	// Conn is the connection id (Open, Subscribe, Unsubscribe, Frame, Close).
	Conn int64
	// Session identifies the recording process (Session).
	Session uint64
	// URL of the socket (Open).
	URL string
	// Initial marks a socket's first, whole-set subscribe (Subscribe).
	Initial bool
	// Assets are asset ids (Subscribe, Unsubscribe, Drop).
	Assets []string
	// Frame is the raw frame (Frame).
	Frame []byte
	// Code and Reason say why a socket closed (Close).
	Code   uint16
	Reason string
	// Markets and Complete are a listing (Listing).
	Markets  []Market
	Complete bool
	// Dropped and DroppedBytes size a gap (Gap).
	Dropped, DroppedBytes uint64
	// Label names a mark (Mark).
	Label string
	// End: how the move ended (MigrateEnd).
	End MigrationEnd
}

// MigrationEnd is how a recorded move of assets ended (KindMigrateEnd).
type MigrationEnd uint8

const (
	// EndFinish: what was left switched to the replacement.
	EndFinish MigrationEnd = iota
	// EndAbort: the replacement never took over; unswitched assets stayed
	// on the old connection, books untouched.
	EndAbort
	// EndRollback: the replacement was closed after it may have delivered;
	// switched assets went back to the old connection, invalidated.
	EndRollback
)

// errDamaged reports a record that cannot be decoded.
var errDamaged = errors.New("damaged record")

// appendString appends a uvarint length and the bytes.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// decoder reads the fields of one record body.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errDamaged
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errDamaged
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errDamaged
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errDamaged
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

// strings decodes a list into dst (reused).
func (d *decoder) strings(dst []string) []string {
	n := d.uvarint()
	// Every string takes at least one byte: a count above what is left is damage.
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errDamaged
		return dst[:0]
	}
	dst = dst[:0]
	for range n {
		dst = append(dst, d.string())
		if d.err != nil {
			return dst[:0]
		}
	}
	return dst
}

// appendPayload appends the kind-specific part of r (everything after the
// kind and the time), as both the buffer and the files carry it.
func appendPayload(b []byte, r *Record) ([]byte, error) {
	switch r.Kind {
	case KindSession:
		b = binary.AppendUvarint(b, r.Session)
	case KindOpen:
		b = binary.AppendUvarint(b, uint64(r.Conn))
		b = appendString(b, r.URL)
	case KindSubscribe:
		b = binary.AppendUvarint(b, uint64(r.Conn))
		b = append(b, boolByte(r.Initial))
		b = appendStrings(b, r.Assets)
	case KindUnsubscribe:
		b = binary.AppendUvarint(b, uint64(r.Conn))
		b = appendStrings(b, r.Assets)
	case KindFrame:
		b = binary.AppendUvarint(b, uint64(r.Conn))
		b = append(b, r.Frame...)
	case KindClose:
		b = binary.AppendUvarint(b, uint64(r.Conn))
		b = binary.AppendUvarint(b, uint64(r.Code))
		b = appendString(b, r.Reason)
	case KindListing:
		b = append(b, boolByte(r.Complete))
		var err error
		if b, err = appendMarkets(b, r.Markets); err != nil {
			return b, err
		}
	case KindGap:
		b = binary.AppendUvarint(b, r.Dropped)
		b = binary.AppendUvarint(b, r.DroppedBytes)
	case KindDrop:
		b = appendStrings(b, r.Assets)
	case KindMark:
		b = appendString(b, r.Label)
	case KindMigrate:
		b = binary.AppendUvarint(b, uint64(r.Conn))
		b = appendStrings(b, r.Assets)
	case KindMigrateEnd:
		b = binary.AppendUvarint(b, uint64(r.Conn))
		b = append(b, byte(r.End))
		b = appendStrings(b, r.Assets)
	default:
		return b, fmt.Errorf("cannot encode record: unknown kind %d", r.Kind)
	}
	return b, nil
}

// decodePayload fills r from the kind-specific part p. Frame aliases p.
func decodePayload(r *Record, p []byte) error {
	d := decoder{b: p}
	switch r.Kind {
	case KindSession:
		r.Session = d.uvarint()
	case KindOpen:
		r.Conn = int64(d.uvarint())
		r.URL = d.string()
	case KindSubscribe:
		r.Conn = int64(d.uvarint())
		r.Initial = d.byte1() != 0
		r.Assets = d.strings(r.Assets)
	case KindUnsubscribe:
		r.Conn = int64(d.uvarint())
		r.Assets = d.strings(r.Assets)
	case KindFrame:
		r.Conn = int64(d.uvarint())
		r.Frame = d.b
		d.b = nil
	case KindClose:
		r.Conn = int64(d.uvarint())
		code := d.uvarint()
		if code > 0xffff {
			return errDamaged
		}
		r.Code = uint16(code)
		r.Reason = d.string()
	case KindListing:
		r.Complete = d.byte1() != 0
		if d.err == nil {
			ms, err := decodeMarkets(d.b)
			if err != nil {
				return err
			}
			r.Markets = ms
			d.b = nil
		}
	case KindGap:
		r.Dropped = d.uvarint()
		r.DroppedBytes = d.uvarint()
	case KindDrop:
		r.Assets = d.strings(r.Assets)
	case KindMark:
		r.Label = d.string()
	case KindMigrate:
		r.Conn = int64(d.uvarint())
		r.Assets = d.strings(r.Assets)
	case KindMigrateEnd:
		r.Conn = int64(d.uvarint())
		r.End = MigrationEnd(d.byte1())
		if r.End > EndRollback {
			// An unknown ending replayed as a finish would rebuild the wrong books.
			d.err = errDamaged
		}
		r.Assets = d.strings(r.Assets)
	default:
		// A newer writer's kind: the length prefix lets a reader skip it.
		return nil
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return errDamaged
	}
	return nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
