package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/site"
)

func newProbeServer(t *testing.T, actions Actions) (*httptest.Server, *Server) {
	t.Helper()
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(s, testPassword); err != nil {
		t.Fatal(err)
	}
	col := &observe.Collector{Site: s}
	srv := &Server{Site: s, Collector: col, Registry: observe.Registry(col), Auth: &Auth{Site: s}, Actions: actions}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, srv
}

// fakeBackuper also backs up.
type fakeBackuper struct {
	fakeActions
	backups []string
}

func (f *fakeBackuper) Backup(_ context.Context, instance, who string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backups = append(f.backups, instance)
	return nil
}

// TestInstanceNamesInURLsAreValidated: a name that is not a valid instance
// name (here one that climbs out of the site) is not found, and no action
// runs on it, however it is encoded.
func TestInstanceNamesInURLsAreValidated(t *testing.T) {
	acts := &fakeBackuper{}
	ts, s := newTestServer(t, acts, "")
	// A record outside the site: <site>/../evil/instance.yaml.
	evil := filepath.Join(filepath.Dir(s.Dir), "evil")
	os.MkdirAll(evil, 0o700)
	os.WriteFile(filepath.Join(evil, "instance.yaml"), []byte("name: evil\nentry: outside-the-site\nversion: '1'\nstate: up\n"), 0o600)
	c := client(t)
	csrf := login(t, c, ts.URL)
	for _, p := range []string{"..%2fevil", "..%2f..%2fevil", "%2e%2e%2fevil", "..%5cevil", "Evil", "a%00b"} {
		t.Run(p, func(t *testing.T) {
			res, body := get(t, c, ts.URL+"/instances/"+p)
			if res.StatusCode != http.StatusNotFound || strings.Contains(body, "outside-the-site") {
				t.Errorf("GET: status %d, body mentions the outside record: %v", res.StatusCode, strings.Contains(body, "outside-the-site"))
			}
			for _, action := range []string{"backup", "restart"} {
				res, _ := post(t, c, ts.URL+"/instances/"+p+"/"+action, url.Values{"csrf": {csrf}})
				if res.StatusCode != http.StatusNotFound {
					t.Errorf("POST %s: status %d, want 404", action, res.StatusCode)
				}
			}
		})
	}
	if len(acts.backups) > 0 || len(acts.restarts) > 0 {
		t.Errorf("actions ran on invalid names: backups %v, restarts %v", acts.backups, acts.restarts)
	}
}

func TestSafeNextRefusesOtherSites(t *testing.T) {
	for _, in := range []string{"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/ /evil.example", "//evil.example",
		"/\\evil.example", "\\\\evil.example", "https://evil.example", "javascript:alert(1)", "http:/evil", "/%0a", "x", "/\x7f/evil.example"} {
		if got := safeNext(in); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", in, got)
		}
	}
	for _, in := range []string{"/instances/demo", "/journal", "/instances/demo?flash=x"} {
		if got := safeNext(in); got != in {
			t.Errorf("safeNext(%q) = %q", in, got)
		}
	}
}

func loginForm(t *testing.T, c *http.Client, base, password string) *http.Response {
	t.Helper()
	_, body := get(t, c, base+"/login")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the login page")
	}
	res, _ := post(t, c, base+"/login", url.Values{"csrf": {m[1]}, "password": {password}, "next": {"/"}})
	return res
}

// TestLoginLockout: parallel guesses from one client are not all checked,
// the client and the user are locked out with a growing backoff (the right
// password is refused too while locked), the lockout is journaled, and
// the lock ends.
func TestLoginLockout(t *testing.T) {
	ts, srv := newProbeServer(t, &fakeActions{})
	s, a := srv.Site, srv.Auth
	now := time.Now()
	var clock sync.Mutex
	a.Now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }

	var wg sync.WaitGroup
	start := time.Now()
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loginForm(t, client(t), ts.URL, "wrong guess")
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("50 parallel guesses took %s", d)
	}
	if n := a.checked.Load(); n > maxFailures {
		t.Errorf("%d of 50 parallel guesses were checked, want at most %d", n, maxFailures)
	}
	res := loginForm(t, client(t), ts.URL, testPassword)
	if loc := res.Header.Get("Location"); !strings.Contains(loc, "error=locked") {
		t.Errorf("the right password while locked out: redirected to %q, want the lockout error", loc)
	}
	recs, _ := s.Journal()
	var locks []site.Record
	for _, r := range recs {
		if r.Outcome == "locked-out" {
			locks = append(locks, r)
		}
	}
	if len(locks) == 0 {
		t.Fatalf("no lockout in the journal: %v", recs)
	}
	// Once the lockout ends, a second run of failures locks out for longer.
	advance(lockoutBase + time.Second)
	for range maxFailures {
		loginForm(t, client(t), ts.URL, "wrong guess")
	}
	advance(lockoutBase + time.Second)
	if loc := loginForm(t, client(t), ts.URL, testPassword).Header.Get("Location"); !strings.Contains(loc, "error=locked") {
		t.Errorf("second lockout ended after the first one's time: %q", loc)
	}
	advance(lockoutBase)
	if loc := loginForm(t, client(t), ts.URL, testPassword).Header.Get("Location"); loc != "/" {
		t.Errorf("second lockout did not end after twice the time: %q", loc)
	}
}

// TestLoginThrottleIsPerClient: a client's failures lock that client (and
// the user it guessed), not a token login from another client.
func TestLoginThrottleIsPerClient(t *testing.T) {
	_, srv := newProbeServer(t, &fakeActions{})
	a := srv.Auth
	for range maxFailures {
		if _, err := a.check("10.0.0.1", "wrong", ""); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if _, err := a.check("10.0.0.1", "", "some-token"); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("the locked client may still guess tokens: %v", err)
	}
	tok, err := NewToken(a.Site)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.check("10.0.0.2", "", tok); err != nil {
		t.Errorf("another client's token login: %v", err)
	}
	if _, err := a.check("10.0.0.2", testPassword, ""); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("the guessed user is not locked for other clients: %v", err)
	}
}
