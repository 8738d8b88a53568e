package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// Actions are the operations the dashboard offers. who names the logged-in
// user for the journal.
type Actions interface {
	Restart(ctx context.Context, instance, who string) error
}

// Backuper is offered by an Actions that can also back up; the dashboard
// shows "backup now" only then.
type Backuper interface {
	Backup(ctx context.Context, instance, who string) error
}

// Alerts reports the alerts currently firing, for the dashboard.
type Alerts interface {
	Firing() []observe.Alert
}

// Server serves the dashboard, /metrics and /healthz.
type Server struct {
	Site      *site.Site
	Collector *observe.Collector
	// Engines are the collectors of further engines (serve --engine),
	// shown grouped by engine.
	Engines  []*observe.Collector
	Registry *prometheus.Registry
	Auth     *Auth
	Actions  Actions
	Alerts   Alerts // may be nil
	Log      *slog.Logger
	// MetricsToken, when set, must be sent as "Authorization: Bearer ..."
	// to read /metrics.
	MetricsToken string

	tmpl *template.Template
}

//go:embed templates/*.html
var templateFS embed.FS

// Handler returns the HTTP handler of the server.
func (s *Server) Handler() http.Handler {
	if s.Log == nil {
		s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	metrics := observe.MetricsHandler(s.Registry)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.MetricsToken != "" {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.MetricsToken)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dockerbank metrics"`)
				http.Error(w, "metrics token required", http.StatusUnauthorized)
				return
			}
		}
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /login", s.handle(s.loginPage))
	mux.HandleFunc("POST /login", s.handle(s.loginPost))
	mux.HandleFunc("POST /logout", s.authed(s.logoutPost))
	mux.HandleFunc("GET /{$}", s.authed(s.dashboard))
	mux.HandleFunc("GET /instances/{name}", s.authed(s.named(s.instancePage)))
	mux.HandleFunc("POST /instances/{name}/restart", s.authed(s.named(s.restartPost)))
	mux.HandleFunc("POST /instances/{name}/backup", s.authed(s.named(s.backupPost)))
	mux.HandleFunc("GET /journal", s.authed(s.journalPage))
	return securityHeaders(mux)
}

// securityHeaders forbids framing and external resources: every asset is
// inline, so the policy can be strict.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// httpError is an error with the status to answer.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// handle adapts a handler that returns an error.
func (s *Server) handle(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			var he *httpError
			if errors.As(err, &he) {
				http.Error(w, he.msg, he.code)
				return
			}
			s.Log.Error("serve request", "path", r.URL.Path, "err", err)
			http.Error(w, "internal error: "+err.Error(), http.StatusInternalServerError)
		}
	}
}

type ctxKey struct{}

// authed requires a session, and a CSRF token on every POST.
func (s *Server) authed(fn func(http.ResponseWriter, *http.Request, *session) error) http.HandlerFunc {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		sess, _ := s.Auth.session(r)
		if sess == nil {
			if r.Method != http.MethodGet {
				return &httpError{http.StatusUnauthorized, "login required"}
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return nil
		}
		if r.Method == http.MethodPost && !validCSRF(sess, r) {
			return &httpError{http.StatusForbidden, "missing or invalid CSRF token"}
		}
		return fn(w, r, sess)
	})
}

const loginCookie = "dockerbank_login"

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	nonce := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: "/login", HttpOnly: true, Secure: s.Auth.Secure, SameSite: http.SameSiteStrictMode})
	return s.render(w, "login.html", map[string]any{"CSRF": nonce, "Next": safeNext(r.URL.Query().Get("next")), "Error": r.URL.Query().Get("error"), "Configured": s.Auth.Configured()})
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		return &httpError{http.StatusForbidden, "missing or invalid CSRF token"}
	}
	user, err := s.Auth.check(clientOf(r), r.PostFormValue("password"), r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	var lo *LockedOut
	if errors.As(err, &lo) {
		s.Log.Warn("dashboard login refused", "remote", r.RemoteAddr, "err", err)
		w.Header().Set("Retry-After", fmt.Sprint(int(lo.Wait.Seconds()+1)))
		http.Redirect(w, r, "/login?error=locked&next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	if err != nil {
		s.Log.Warn("dashboard login refused", "remote", r.RemoteAddr)
		http.Redirect(w, r, "/login?error=1&next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	s.Auth.login(w, user)
	s.Site.Append(site.Record{Command: "serve login", Outcome: "ok", Detail: "dashboard login as " + user + " from " + r.RemoteAddr})
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// clientOf is the client's address (without port) for login throttling.
// Forwarded headers are not trusted: behind a proxy every client shares the
// proxy's address, which then throttles them together.
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// safeNext keeps redirects on this site: a path starting with one "/",
// without backslashes, control characters or white space (browsers drop
// tabs and newlines, so "/\t/evil.example" would become "//evil.example"),
// with neither scheme nor host.
func safeNext(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return "/"
	}
	for _, r := range p {
		if r < 0x21 || r == 0x7f || unicode.IsSpace(r) {
			return "/"
		}
	}
	if u, err := url.Parse(p); err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	if strings.Contains(strings.ToLower(p), "%0") || strings.Contains(strings.ToLower(p), "%5c") {
		return "/"
	}
	return p
}

// named refuses a request whose {name} is not a valid instance name (a
// name that could climb out of the site directory) before the handler
// sees it.
func (s *Server) named(fn func(http.ResponseWriter, *http.Request, *session) error) func(http.ResponseWriter, *http.Request, *session) error {
	return func(w http.ResponseWriter, r *http.Request, sess *session) error {
		if err := site.ValidName(r.PathValue("name")); err != nil {
			return &httpError{http.StatusNotFound, "no such instance: " + err.Error()}
		}
		return fn(w, r, sess)
	}
}

func (s *Server) logoutPost(w http.ResponseWriter, r *http.Request, _ *session) error {
	_, id := s.Auth.session(r)
	s.Auth.logout(w, id)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func (s *Server) render(w http.ResponseWriter, name string, data any) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return s.tmpl.ExecuteTemplate(w, name, data)
}

// page is the data every authenticated page gets.
type page struct {
	User      string
	CSRF      string
	Snapshot  observe.Snapshot
	Alerts    []observe.Alert
	CanBackup bool
	Flash     string
}

func (s *Server) page(r *http.Request, sess *session) page {
	p := page{User: sess.user, CSRF: sess.csrf, Snapshot: s.Collector.Snapshot(), Flash: r.URL.Query().Get("flash")}
	if s.Alerts != nil {
		p.Alerts = s.Alerts.Firing()
	}
	_, p.CanBackup = s.Actions.(Backuper)
	return p
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, sess *session) error {
	p := s.page(r, sess)
	type row struct {
		observe.InstanceStat
		Containers []observe.ContainerStat
		Findings   []observe.Findings
	}
	var rows []row
	for _, in := range p.Snapshot.Instances {
		rw := row{InstanceStat: in}
		for _, c := range p.Snapshot.Containers {
			if c.Instance == in.Instance.Name {
				rw.Containers = append(rw.Containers, c)
			}
		}
		rw.Findings = findingsOf(p.Snapshot, in.Instance.Name)
		rows = append(rows, rw)
	}
	engines := []observe.Snapshot{p.Snapshot}
	for _, c := range s.Engines {
		engines = append(engines, c.Snapshot())
	}
	return s.render(w, "dashboard.html", map[string]any{"Page": p, "Rows": rows, "Engines": engines})
}

func findingsOf(snap observe.Snapshot, instance string) []observe.Findings {
	var out []observe.Findings
	for _, f := range snap.Findings {
		if f.Instance == instance {
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) instancePage(w http.ResponseWriter, r *http.Request, sess *session) error {
	name := r.PathValue("name")
	in, err := s.Site.Instance(name)
	if err != nil {
		return &httpError{http.StatusNotFound, err.Error()}
	}
	p := s.page(r, sess)
	type chart struct {
		Container observe.ContainerStat
		CPU, Mem  template.HTML
	}
	var charts []chart
	for _, c := range p.Snapshot.Containers {
		if c.Instance != name {
			continue
		}
		pts := s.Collector.History(c.Name)
		charts = append(charts, chart{Container: c, CPU: cpuChart(pts), Mem: memChart(pts)})
	}
	health := "missing"
	var drill *site.Drill
	for _, is := range p.Snapshot.Instances {
		if is.Instance.Name == name {
			health, drill = is.Health, is.Drill
		}
	}
	recs, err := s.Site.Journal()
	if err != nil {
		return err
	}
	var mine []site.Record
	for i := len(recs) - 1; i >= 0 && len(mine) < 20; i-- {
		if recs[i].Instance == name {
			mine = append(mine, recs[i])
		}
	}
	return s.render(w, "instance.html", map[string]any{"Page": p, "Instance": in, "Health": health, "Charts": charts, "Journal": mine,
		"Drill": drill, "Findings": findingsOf(p.Snapshot, name)})
}

func (s *Server) journalPage(w http.ResponseWriter, r *http.Request, sess *session) error {
	recs, err := s.Site.Journal()
	if err != nil {
		return err
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.After(recs[j].Time) })
	if len(recs) > 200 {
		recs = recs[:200]
	}
	return s.render(w, "journal.html", map[string]any{"Page": s.page(r, sess), "Journal": recs})
}

func (s *Server) restartPost(w http.ResponseWriter, r *http.Request, sess *session) error {
	name := r.PathValue("name")
	if _, err := s.Site.Instance(name); err != nil {
		return &httpError{http.StatusNotFound, err.Error()}
	}
	if err := s.Actions.Restart(r.Context(), name, sess.user); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	// Show the new state at once rather than at the next tick.
	s.Collector.Refresh(r.Context())
	http.Redirect(w, r, "/instances/"+url.PathEscape(name)+"?flash="+url.QueryEscape("restarted "+name), http.StatusSeeOther)
	return nil
}

func (s *Server) backupPost(w http.ResponseWriter, r *http.Request, sess *session) error {
	b, ok := s.Actions.(Backuper)
	if !ok {
		return &httpError{http.StatusNotImplemented, "backups are not available in this build"}
	}
	name := r.PathValue("name")
	if _, err := s.Site.Instance(name); err != nil {
		return &httpError{http.StatusNotFound, err.Error()}
	}
	if err := b.Backup(r.Context(), name, sess.user); err != nil {
		return fmt.Errorf("back up %s: %w", name, err)
	}
	s.Collector.Refresh(r.Context())
	http.Redirect(w, r, "/instances/"+url.PathEscape(name)+"?flash="+url.QueryEscape("backed up "+name), http.StatusSeeOther)
	return nil
}

var funcs = template.FuncMap{
	"bytes": func(n uint64) string { return progress.Bytes(int64(n)) },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		d := time.Since(t).Round(time.Second)
		switch {
		case d < time.Minute:
			return d.String() + " ago"
		case d < 48*time.Hour:
			return d.Round(time.Minute).String() + " ago"
		}
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	},
	"percent": func(f float64) float64 { return 100 * f },
	"size": func(n int64) string {
		if n < 0 {
			n = 0
		}
		return progress.Bytes(n)
	},
	"severities": func() []string { return observe.Severities },
	"ms":         func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) },
	"time":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
}
