package tap_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/polyfeed/polyfeed/engine/markets"
	"github.com/polyfeed/polyfeed/engine/recycle"
	"github.com/polyfeed/polyfeed/engine/tap"
)

// trace records, in order, what the tap saw and what reached the next
// stage, so a test can check that every record lands before its step.
type trace []string

func (t *trace) add(format string, args ...any) { *t = append(*t, fmt.Sprintf(format, args...)) }

type recorder struct{ t *trace }

func (r recorder) OnOpen(conn int64, url string)                    {}
func (r recorder) OnSubscribe(conn int64, a []string, initial bool) {}
func (r recorder) OnUnsubscribe(conn int64, a []string)             {}
func (r recorder) OnClose(conn int64, code uint16, reason string)   {}
func (r recorder) OnListing(ms []markets.Market, complete bool)     {}
func (r recorder) OnFrame(conn int64, frame []byte, recv int64) {
	r.t.add("tap frame %d %s %d", conn, frame, recv)
}
func (r recorder) OnDrop(a []string)                { r.t.add("tap drop %v", a) }
func (r recorder) OnMigrate(from int64, a []string) { r.t.add("tap migrate %d %v", from, a) }
func (r recorder) OnMigrateEnd(from int64, a []string, end tap.MigrationEnd) {
	r.t.add("tap end %d %v %d", from, a, end)
}

// migration and mover stand for the data path's side of a recycle.
type migration struct{ id int }

func (migration) Pending() int          { return 0 }
func (migration) Done() <-chan struct{} { return nil }

type mover struct{ t *trace }

func (m mover) Begin(ids []string, from int64) recycle.Migration {
	m.t.add("begin %d %v", from, ids)
	return &migration{id: len(ids)}
}

func (m mover) end(what string, mg recycle.Migration) recycle.Result {
	g, ok := mg.(*migration) // the next stage must get its own migration back
	if !ok {
		m.t.add("%s got a foreign migration %T", what, mg)
		return recycle.Result{}
	}
	m.t.add("%s %d", what, g.id)
	return recycle.Result{Switched: g.id}
}

func (m mover) Finish(mg recycle.Migration) recycle.Result   { return m.end("finish", mg) }
func (m mover) Abort(mg recycle.Migration) recycle.Result    { return m.end("abort", mg) }
func (m mover) Rollback(mg recycle.Migration) recycle.Result { return m.end("rollback", mg) }

type dropper struct{ t *trace }

func (d dropper) DropBooks(ids []string) { d.t.add("drop %v", ids) }

// TestAdaptersRecordBeforeEachStep: each adapter hands the step to the
// tap first and then to the next stage, unchanged; a migration's end is
// reported with the assets and connection it began with, and how it ended;
// empty steps are not recorded.
func TestAdaptersRecordBeforeEachStep(t *testing.T) {
	var tr trace
	rec := recorder{&tr}

	tap.Frames(rec, func(conn int64, frame []byte, recv int64) { tr.add("sink %d %s %d", conn, frame, recv) })(3, []byte("f"), 9)
	tap.Drops(rec, dropper{&tr}).DropBooks([]string{"a"})
	tap.Drops(rec, dropper{&tr}).DropBooks(nil)

	mv := tap.Migrations(rec, mover{&tr})
	for _, end := range []struct {
		name string
		f    func(recycle.Migration) recycle.Result
		want tap.MigrationEnd
	}{{"finish", mv.Finish, tap.MigrationFinished}, {"abort", mv.Abort, tap.MigrationAborted}, {"rollback", mv.Rollback, tap.MigrationRolledBack}} {
		m := mv.Begin([]string{"x", "y"}, 7)
		if m.Pending() != 0 {
			t.Fatalf("%s: the wrapped migration does not answer as the next stage's", end.name)
		}
		if r := end.f(m); r.Switched != 2 {
			t.Fatalf("%s: result %+v; want the next stage's (2 switched)", end.name, r)
		}
	}
	mv.Finish(mv.Begin(nil, 8))

	want := []string{
		"tap frame 3 f 9", "sink 3 f 9",
		"tap drop [a]", "drop [a]",
		"drop []",
		"tap migrate 7 [x y]", "begin 7 [x y]", "tap end 7 [x y] 0", "finish 2",
		"tap migrate 7 [x y]", "begin 7 [x y]", "tap end 7 [x y] 1", "abort 2",
		"tap migrate 7 [x y]", "begin 7 [x y]", "tap end 7 [x y] 2", "rollback 2",
		"begin 8 []", "finish 0",
	}
	if !slices.Equal(tr, want) {
		t.Fatalf("trace\n%q\nwant\n%q", tr, want)
	}
}
