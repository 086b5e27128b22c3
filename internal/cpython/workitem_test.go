package cpython

import (
	"testing"

	"pyscope/internal/model"
)

// The lock and tasks analyses complete the same snapshot one after the
// other and must share its WorkItems, so that its frames are read once;
// the next snapshot gets its own.
func TestWorkItemsOnePerSnapshot(t *testing.T) {
	r := &Reader{}
	a, b := &model.Snapshot{}, &model.Snapshot{}
	wa := r.WorkItems(a)
	if r.WorkItems(a) != wa {
		t.Error("a second analysis of the same snapshot made its own WorkItems")
	}
	if r.WorkItems(b) == wa {
		t.Error("another snapshot got the last one's WorkItems")
	}
}

// Wait is the one rule both analyses apply: a RUNNING future waits on
// its worker (none here: the snapshot has no threads), a PENDING one on
// no worker yet, anything else on neither.
func TestWorkItemsWait(t *testing.T) {
	w := (&Reader{}).WorkItems(&model.Snapshot{})
	for _, c := range []struct {
		so      SyncObject
		pending bool
	}{
		{SyncObject{Kind: SyncFuture, Addr: 1, FutureState: "PENDING"}, true},
		{SyncObject{Kind: SyncFuture, Addr: 1, FutureState: "RUNNING"}, false},
		{SyncObject{Kind: SyncFuture, Addr: 1, FutureState: "FINISHED"}, false},
		{SyncObject{Kind: SyncFuture, Addr: 1}, false},
		{SyncObject{Kind: SyncEvent, Addr: 1, FutureState: "PENDING"}, false},
	} {
		held, pending := w.Wait(c.so)
		if len(held) != 0 || pending != c.pending {
			t.Errorf("%s %q: held by %v pending %v, want [] %v", c.so.Kind, c.so.FutureState, held, pending, c.pending)
		}
	}
}
