package elfx

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DebuginfodCacheDir is the elfutils client's cache: $DEBUGINFOD_CACHE_PATH,
// else $XDG_CACHE_HOME/debuginfod_client, else ~/.cache/debuginfod_client.
func DebuginfodCacheDir() string {
	if p := os.Getenv("DEBUGINFOD_CACHE_PATH"); p != "" {
		return p
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "debuginfod_client")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "debuginfod_client")
}

// debuginfodMaxSize bounds a download (DEBUGINFOD_MAXSIZE overrides).
const debuginfodMaxSize = 4 << 30

// DebuginfodFetch returns the path of the debug file of build-id id in the
// debuginfod cache, downloading it from the servers in DEBUGINFOD_URLS
// (GET <url>/buildid/<id>/debuginfo) when it is not cached. It returns ""
// and no error when no server has it.
func DebuginfodFetch(id string) (string, error) {
	if _, err := hex.DecodeString(id); err != nil || len(id) < 2 || len(id) > 128 {
		return "", fmt.Errorf("debuginfod: bad build-id %q", id)
	}
	dst, cached := debuginfodCached(id)
	if dst == "" {
		return "", fmt.Errorf("debuginfod: no cache directory (set DEBUGINFOD_CACHE_PATH)")
	}
	if cached {
		return dst, nil
	}
	urls := strings.Fields(os.Getenv("DEBUGINFOD_URLS"))
	if len(urls) == 0 {
		return "", nil
	}
	timeout := 30 * time.Second
	if s := os.Getenv("DEBUGINFOD_TIMEOUT"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	maxSize := int64(debuginfodMaxSize)
	if s := os.Getenv("DEBUGINFOD_MAXSIZE"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			maxSize = n
		}
	}
	var firstErr error
	for _, u := range urls {
		err := download(strings.TrimRight(u, "/")+"/buildid/"+id+"/debuginfo", dst, timeout, maxSize)
		if err == nil {
			return dst, nil
		}
		if err != errNotFound && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", fmt.Errorf("debuginfod: %v (check DEBUGINFOD_URLS)", firstErr)
	}
	return "", nil
}

// debuginfodCached returns where the debug file of build-id id is cached
// ("" without a cache directory) and whether it is there.
func debuginfodCached(id string) (path string, ok bool) {
	cache := DebuginfodCacheDir()
	if cache == "" {
		return "", false
	}
	path = filepath.Join(cache, id, "debuginfo")
	st, err := os.Stat(path)
	return path, err == nil && st.Mode().IsRegular() && st.Size() > 0
}

// DebuginfodDebugFile returns f's separate debug file from the debuginfod
// cache or, with download, from the servers in DEBUGINFOD_URLS. It returns
// nil and no error when there is none.
func DebuginfodDebugFile(f *File, download bool) (*File, error) {
	id := f.BuildID()
	if id == "" {
		return nil, nil
	}
	p, ok := debuginfodCached(id)
	if !ok {
		if !download {
			return nil, nil
		}
		var err error
		if p, err = DebuginfodFetch(id); err != nil || p == "" {
			return nil, err
		}
	}
	if df := openMatching(os.Open, p, id, nil); df != nil {
		return df, nil
	}
	return nil, fmt.Errorf("debuginfod: %s does not match build-id %s", p, id)
}

var errNotFound = fmt.Errorf("not found")

func download(url, dst string, timeout time.Duration, maxSize int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".debuginfo-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, maxSize+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %v", url, err)
	}
	if n > maxSize {
		return fmt.Errorf("%s: larger than %d bytes", url, maxSize)
	}
	if n == 0 {
		return errNotFound
	}
	return os.Rename(tmp.Name(), dst)
}
