package nbd

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Options.Resolve decides each new client's export: a name it allows is
// served with the device it gives (and stays in Exports, so Remove ends
// its connections); once it refuses, new clients hear "no such export"
// (NBD_REP_ERR_UNKNOWN, proto.md NBD_OPT_GO) although the name was served
// before, while a connection already in transmission goes on.
func TestResolveDecidesEachClient(t *testing.T) {
	dev := newMem(1 * MiB)
	var allowed atomic.Bool
	allowed.Store(true)
	s := quietServer(Options{Resolve: func(_ context.Context, name string) (Device, bool, error) {
		if name != "vol" || !allowed.Load() {
			return nil, false, kind.Errorf(kind.NotFound, "no export %q", name)
		}
		return dev, false, nil
	}})
	sock := startServer(t, s)

	first := dial(t, "unix", sock)
	first.connect("vol")
	if first.size != 1*MiB {
		t.Fatalf("size %d", first.size)
	}
	if got := s.Exports(); len(got) != 1 || got[0] != "vol" {
		t.Fatalf("Exports after a resolved client: %v", got)
	}
	other := dial(t, "unix", sock)
	other.hello(clientFlagFixedNewstyle | clientFlagNoZeroes)
	if _, typ := other.infoGo(optGo, "other"); typ != repErrUnknown {
		t.Fatalf("a name Resolve refuses: reply %#x", typ)
	}

	allowed.Store(false)
	late := dial(t, "unix", sock)
	late.hello(clientFlagFixedNewstyle | clientFlagNoZeroes)
	if _, typ := late.infoGo(optGo, "vol"); typ != repErrUnknown {
		t.Fatalf("a name Resolve now refuses is still served: reply %#x", typ)
	}
	if errno, _ := first.read(0, 512); errno != 0 {
		t.Fatalf("the connection in transmission stopped: errno %d", errno)
	}
	s.Remove("vol")
	if !first.closed() {
		t.Fatal("Remove did not end the resolved export's connection")
	}
}
