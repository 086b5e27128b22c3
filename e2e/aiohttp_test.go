package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// PyPI's aiohttp and uvloop for 3.14, pinned with their dependencies.
var aiohttpReqs = []string{"aiohttp==3.14.5", "aiohappyeyeballs==2.7.1", "aiosignal==1.4.0", "attrs==26.1.0",
	"frozenlist==1.8.0", "idna==3.20", "multidict==7.2.1", "propcache==0.5.4", "typing_extensions==4.16.0",
	"yarl==1.25.1", "uvloop==0.23.0"}

type aiohttpOracle struct {
	Requests []struct {
		ID        uint64      `json:"id"`
		Name      string      `json:"name"`
		Path      string      `json:"path"`
		Coroutine []DumpFrame `json:"coroutine"`
	} `json:"requests"`
	Loop    string `json:"loop"`
	Handler string `json:"handler"`
}

// TestAiohttpServer is the real case of issue 12: an aiohttp server
// (Debian's python3-aiohttp 3.8 on Debian's 3.11, PyPI's 3.14 on 3.14)
// with 20 slow requests in flight, made concurrently by the test, on
// asyncio's loop and on uvloop's (Debian's python3-uvloop, PyPI's on
// 3.14). Every request's task must appear, on the loop's thread, with its
// chain as the handler's task walks it (cr_await, f_lineno) and the
// handler's frame in it; live and from a core.
func TestAiohttpServer(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		if in.Name != "debian-3.11" && in.Minor != "3.14" {
			continue
		}
		for _, loop := range []string{"asyncio", "uvloop"} {
			t.Run(in.Name+"/"+loop, func(t *testing.T) {
				t.Parallel()
				site := ""
				if in.Name == "debian-3.11" {
					testenv.NeedPackages(t, "python3-aiohttp", "python3-uvloop")
				} else {
					site = testenv.PySite(t, in, aiohttpReqs...)
				}
				checkAiohttp(t, bin, in, site, loop)
			})
		}
	}
}

func checkAiohttp(t *testing.T, bin string, in testenv.Interp, site, loop string) {
	const n = 20
	dir := t.TempDir()
	oracle := filepath.Join(dir, "oracle.json")
	tg := testenv.StartPlain(t, in, "aiohttp_server.py", "listening", oracle, strconv.Itoa(n), site, loop)
	port, err := os.ReadFile(oracle + ".port")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableKeepAlives: true}}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%s/slow/%d", port, i), nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	// The target writes its oracles once every request waits.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, e1 := os.Stat(oracle)
		_, e2 := os.Stat(oracle + ".tasks.json")
		if e1 == nil && e2 == nil {
			break
		}
		if time.Now().After(deadline) || tg.Exited() {
			t.Fatalf("the server never reported %d requests in flight\n%s", n, tg.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var o aiohttpOracle
	var threads testenv.Oracle
	for path, v := range map[string]any{oracle + ".tasks.json": &o, oracle: &threads} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
	}
	if len(o.Requests) != n {
		t.Fatalf("the target recorded %d requests, want %d", len(o.Requests), n)
	}
	if wantLoop := map[string]string{"asyncio": "asyncio.", "uvloop": "uvloop."}[loop]; !strings.HasPrefix(o.Loop, wantLoop) {
		t.Fatalf("the server runs on %s, want %s", o.Loop, loop)
	}
	var mainIdent uint64
	for _, th := range threads.Threads {
		if th.IsMain {
			mainIdent = th.ThreadID
		}
	}
	t.Logf("%s loop %s: %d requests", in.Name, o.Loop, n)
	check := func(what string, d *tasksDump) {
		got := map[uint64]DumpTask{}
		for _, tk := range d.Tasks {
			got[tk.ID] = tk
		}
		for _, w := range d.Warnings {
			t.Errorf("%s: warning: %s", what, w)
		}
		for _, r := range o.Requests {
			g, ok := got[r.ID]
			if !ok {
				t.Errorf("%s: the task of request %s (%q) is missing", what, r.Path, r.Name)
				continue
			}
			if g.Name != r.Name || g.State != "pending" || g.ThreadID == nil || *g.ThreadID != mainIdent || g.Error != "" {
				t.Errorf("%s: request %s: task %q %s thread %s error %q, want %q pending thread %d",
					what, r.Path, g.Name, g.State, ptrStr(g.ThreadID), g.Error, r.Name, mainIdent)
			}
			var want, have []string
			for _, f := range r.Coroutine {
				want = append(want, fhLine(f)+" "+f.Qualname)
			}
			handler := false
			for _, f := range g.Coroutine {
				have = append(have, fhLine(f.DumpFrame)+" "+f.Qualname)
				handler = handler || f.Function == o.Handler
			}
			if !slices.Equal(have, want) || !handler {
				t.Errorf("%s: request %s: chain\n  got  %s\n  want %s", what, r.Path,
					strings.Join(have, "\n       "), strings.Join(want, "\n       "))
			}
		}
	}
	pid := strconv.Itoa(tg.PID)
	check("live", dumpTasks(t, bin, pid))
	tg.CheckRunning(t)
	core := filepath.Join(t.TempDir(), "aiohttp.core")
	pyscopeGcore(t, bin, tg, core)
	check("core", dumpTasks(t, bin, core))
}
