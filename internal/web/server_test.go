package web

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/site"
)

const testPassword = "correct horse battery staple"

// fakeActions records the actions it is asked for.
type fakeActions struct {
	mu       sync.Mutex
	restarts []string
}

func (f *fakeActions) Restart(_ context.Context, instance, who string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts = append(f.restarts, instance+" by "+who)
	return nil
}

func newTestServer(t *testing.T, actions Actions, metricsToken string) (*httptest.Server, *site.Site) {
	t.Helper()
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := s.Save(&site.Instance{Name: "redcap", Entry: "demo", Version: "2.0", State: site.StateUp, Created: now, Changed: now}); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(s, testPassword); err != nil {
		t.Fatal(err)
	}
	col := &observe.Collector{Site: s}
	srv := &Server{Site: s, Collector: col, Registry: observe.Registry(col), Auth: &Auth{Site: s}, Actions: actions, MetricsToken: metricsToken}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, s
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

// login logs in with the password and returns the session's CSRF token.
func login(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	_, body := get(t, c, base+"/login")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the login page")
	}
	res, _ := post(t, c, base+"/login", url.Values{"csrf": {m[1]}, "password": {testPassword}, "next": {"/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login: %s to %q", res.Status, res.Header.Get("Location"))
	}
	_, body = get(t, c, base+"/")
	m = csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the dashboard")
	}
	return m[1]
}

func TestOnlyHealthzAndMetricsAnswerWithoutLogin(t *testing.T) {
	ts, _ := newTestServer(t, &fakeActions{}, "")
	c := client(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/metrics", 200},
		{"GET", "/", http.StatusSeeOther},
		{"GET", "/instances/redcap", http.StatusSeeOther},
		{"GET", "/journal", http.StatusSeeOther},
		{"POST", "/instances/redcap/restart", http.StatusUnauthorized},
		{"POST", "/logout", http.StatusUnauthorized},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
			if tc.want == http.StatusSeeOther && !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				t.Errorf("redirect to %q, want /login", res.Header.Get("Location"))
			}
		})
	}
}

func TestMetricsToken(t *testing.T) {
	ts, _ := newTestServer(t, &fakeActions{}, "s3cret-token")
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer s3cret-token", 200}} {
		req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("auth %q: status %d, want %d", tc.auth, res.StatusCode, tc.want)
		}
	}
}

func TestLoginSessionAndCSRF(t *testing.T) {
	acts := &fakeActions{}
	ts, s := newTestServer(t, acts, "")
	c := client(t)

	t.Run("wrong password is refused", func(t *testing.T) {
		_, body := get(t, c, ts.URL+"/login")
		m := csrfRE.FindStringSubmatch(body)
		res, _ := post(t, c, ts.URL+"/login", url.Values{"csrf": {m[1]}, "password": {"wrong"}})
		if loc := res.Header.Get("Location"); !strings.Contains(loc, "error=1") {
			t.Errorf("wrong password redirected to %q", loc)
		}
		if res, _ := get(t, c, ts.URL+"/"); res.StatusCode != http.StatusSeeOther {
			t.Errorf("dashboard answered %d after a failed login", res.StatusCode)
		}
	})
	t.Run("login without CSRF token is refused", func(t *testing.T) {
		res, _ := post(t, client(t), ts.URL+"/login", url.Values{"password": {testPassword}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", res.StatusCode)
		}
	})
	csrf := login(t, c, ts.URL)
	t.Run("session cookie flags", func(t *testing.T) {
		c2 := client(t)
		_, body := get(t, c2, ts.URL+"/login")
		m := csrfRE.FindStringSubmatch(body)
		res, _ := post(t, c2, ts.URL+"/login", url.Values{"csrf": {m[1]}, "password": {testPassword}})
		sc := strings.Join(res.Header.Values("Set-Cookie"), "\n")
		for _, want := range []string{cookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
			if !strings.Contains(sc, want) {
				t.Errorf("Set-Cookie %q lacks %s", sc, want)
			}
		}
		if v := regexp.MustCompile(cookieName + `=([0-9a-f]+)`).FindStringSubmatch(sc); v == nil || len(v[1]) != 64 {
			t.Errorf("session id is not 32 random bytes: %q", sc)
		}
	})
	t.Run("POST without CSRF token is refused", func(t *testing.T) {
		res, body := post(t, c, ts.URL+"/instances/redcap/restart", url.Values{})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("status %d (%s), want 403", res.StatusCode, body)
		}
		res, _ = post(t, c, ts.URL+"/instances/redcap/restart", url.Values{"csrf": {"0000"}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("wrong token: status %d, want 403", res.StatusCode)
		}
		if len(acts.restarts) != 0 {
			t.Errorf("restart ran without a CSRF token: %v", acts.restarts)
		}
	})
	t.Run("POST with CSRF token runs the action", func(t *testing.T) {
		res, _ := post(t, c, ts.URL+"/instances/redcap/restart", url.Values{"csrf": {csrf}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", res.StatusCode)
		}
		if len(acts.restarts) != 1 || acts.restarts[0] != "redcap by admin" {
			t.Errorf("restarts = %v", acts.restarts)
		}
	})
	t.Run("login is journalled", func(t *testing.T) {
		recs, _ := s.Journal()
		if len(recs) == 0 || recs[len(recs)-1].Command != "serve login" {
			t.Errorf("journal = %v", recs)
		}
	})
	t.Run("logout ends the session", func(t *testing.T) {
		post(t, c, ts.URL+"/logout", url.Values{"csrf": {csrf}})
		if res, _ := get(t, c, ts.URL+"/"); res.StatusCode != http.StatusSeeOther {
			t.Errorf("dashboard answered %d after logout", res.StatusCode)
		}
	})
}

func TestTokenLogin(t *testing.T) {
	ts, s := newTestServer(t, &fakeActions{}, "")
	tok, err := NewToken(s)
	if err != nil {
		t.Fatal(err)
	}
	c := client(t)
	_, body := get(t, c, ts.URL+"/login")
	m := csrfRE.FindStringSubmatch(body)
	res, _ := post(t, c, ts.URL+"/login", url.Values{"csrf": {m[1]}, "token": {tok}})
	if res.Header.Get("Location") != "/" {
		t.Fatalf("token login redirected to %q", res.Header.Get("Location"))
	}
	if res, _ := get(t, c, ts.URL+"/"); res.StatusCode != 200 {
		t.Errorf("dashboard answered %d after token login", res.StatusCode)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/instances/x": "/instances/x", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/", "": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
