package replay

import "github.com/polyfeed/polyfeed/record"

// Owners follows which connection carries each asset, from the recorded
// subscribes and unsubscribes, so that consumers who want one stream per
// asset (a venue, an export) skip the copies a second connection carried
// while a recycle or a resync overlapped. The latest subscribe wins; an
// asset never seen subscribed (a recording read from its middle) belongs to
// the first connection that speaks of it. Not safe for concurrent use.
type Owners struct{ m map[string]int64 }

// NewOwners returns an empty Owners.
func NewOwners() *Owners { return &Owners{m: map[string]int64{}} }

// Apply follows a subscribe or unsubscribe record of connection id (as
// mapped by Replayer.ConnID or by the caller's own session mapping).
func (o *Owners) Apply(r *record.Record, id int64) {
	switch r.Kind {
	case record.KindSubscribe:
		for _, a := range r.Assets {
			o.m[a] = id
		}
	case record.KindUnsubscribe:
		for _, a := range r.Assets {
			if o.m[a] == id {
				delete(o.m, a)
			}
		}
	}
}

// Streams reports whether connection id is the one asset is taken from.
func (o *Owners) Streams(asset string, id int64) bool {
	cur, ok := o.m[asset]
	if !ok {
		o.m[asset] = id
		return true
	}
	return cur == id
}
