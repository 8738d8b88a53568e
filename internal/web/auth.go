package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dockerbank/dockerbank/internal/site"
)

// Files in <site>/serve holding the dashboard's credentials (mode 0600).
const (
	PasswordFile = "passwd"       // bcrypt hash of the admin password
	TokenFile    = "token.sha256" // SHA-256 of the login token
)

// ErrNoCredentials means neither a password nor a token is set, so nobody
// could log in.
var ErrNoCredentials = errors.New("no dashboard password or token is set")

// CredentialsDir is where a site keeps the dashboard's credentials.
func CredentialsDir(s *site.Site) string { return filepath.Join(s.Dir, "serve") }

// SetPassword stores the bcrypt hash of password.
func SetPassword(s *site.Site, password string) error {
	if len(password) < 12 {
		return fmt.Errorf("password too short: use at least 12 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return writeCredential(s, PasswordFile, hash)
}

// NewToken creates a login token, stores its SHA-256 and returns it; it is
// shown once.
func NewToken(s *site.Site) (string, error) {
	tok := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(tok))
	return tok, writeCredential(s, TokenFile, []byte(hex.EncodeToString(sum[:])))
}

func writeCredential(s *site.Site, name string, data []byte) error {
	dir := CredentialsDir(s)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	return site.WriteFileAtomic(filepath.Join(dir, name), data, 0o600)
}

// Auth checks logins against the site's credential files and keeps the
// sessions (in memory: a restart of serve logs everyone out).
type Auth struct {
	Site *site.Site
	// TTL is the idle lifetime of a session (default 8 h).
	TTL time.Duration
	// Secure marks cookies Secure (serve over TLS).
	Secure bool

	// Now is the clock of sessions and lockouts (default time.Now).
	Now func() time.Time

	mu        sync.Mutex
	sessions  map[string]*session
	throttles map[string]*throttle
	// checked counts the credentials checked (tests).
	checked atomic.Int64
}

// Login throttling: each client address and each user may fail
// maxFailures times in a row (attempts still being checked count as
// failed); then it is locked out for lockoutBase, doubled with each further
// lockout up to lockoutMax. A successful login clears both.
const (
	maxFailures = 5
	lockoutBase = 30 * time.Second
	lockoutMax  = 15 * time.Minute
)

type throttle struct {
	failures int // in a row, including attempts being checked
	lockouts int // lockouts in a row
	until    time.Time
	last     time.Time
}

// ErrLockedOut means a client or user failed too many logins in a row.
var ErrLockedOut = errors.New("too many failed logins")

// LockedOut says for how long.
type LockedOut struct {
	Key  string
	Wait time.Duration
}

func (e *LockedOut) Error() string {
	return fmt.Sprintf("%s: %s is locked out for %s", ErrLockedOut, e.Key, e.Wait.Round(time.Second))
}

func (e *LockedOut) Unwrap() error { return ErrLockedOut }

// errWrongCredentials means the password or token did not match.
var errWrongCredentials = errors.New("wrong password or token")

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

type session struct {
	user    string
	csrf    string
	expires time.Time
}

const cookieName = "dockerbank_session"

// Configured says whether a password or token exists.
func (a *Auth) Configured() bool {
	for _, f := range []string{PasswordFile, TokenFile} {
		if _, err := os.Stat(filepath.Join(CredentialsDir(a.Site), f)); err == nil {
			return true
		}
	}
	return false
}

// check verifies a password or a token from client (its address). It
// refuses at once, without checking, while the client or the user is
// locked out, and journals each new lockout.
func (a *Auth) check(client, password, token string) (string, error) {
	user := "admin"
	if password == "" {
		user = "token"
	}
	keys := []string{"client " + client, "user " + user}
	a.mu.Lock()
	now := a.now()
	if a.throttles == nil {
		a.throttles = map[string]*throttle{}
	}
	if len(a.throttles) > 10000 {
		for k, t := range a.throttles {
			if now.Sub(t.last) > 24*time.Hour {
				delete(a.throttles, k)
			}
		}
	}
	for _, k := range keys {
		t := a.throttles[k]
		if t == nil {
			t = &throttle{}
			a.throttles[k] = t
		}
		if now.Sub(t.last) > 24*time.Hour {
			t.lockouts = 0
		}
		switch {
		case now.Before(t.until):
			a.mu.Unlock()
			return "", &LockedOut{Key: k, Wait: t.until.Sub(now)}
		case t.failures >= maxFailures:
			// Attempts in flight already fill the allowance.
			a.mu.Unlock()
			return "", &LockedOut{Key: k, Wait: time.Second}
		}
	}
	for _, k := range keys {
		t := a.throttles[k]
		t.failures++
		t.last = now
	}
	a.mu.Unlock()

	a.checked.Add(1)
	dir := CredentialsDir(a.Site)
	ok := false
	if password != "" {
		if hash, err := os.ReadFile(filepath.Join(dir, PasswordFile)); err == nil {
			ok = bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(string(hash))), []byte(password)) == nil
		}
	} else if token != "" {
		if want, err := os.ReadFile(filepath.Join(dir, TokenFile)); err == nil {
			sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
			ok = subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.TrimSpace(string(want)))) == 1
		}
	}

	a.mu.Lock()
	now = a.now()
	var locked []string
	for _, k := range keys {
		t := a.throttles[k]
		switch {
		case ok:
			delete(a.throttles, k)
		case t.failures >= maxFailures && !now.Before(t.until):
			t.lockouts++
			wait := min(lockoutBase<<min(t.lockouts-1, 10), lockoutMax)
			t.until, t.failures, t.last = now.Add(wait), 0, now
			locked = append(locked, fmt.Sprintf("%s locked out for %s after %d failed logins", k, wait, maxFailures))
		}
	}
	a.mu.Unlock()
	for _, l := range locked {
		a.Site.Append(site.Record{Command: "serve login", Outcome: "locked-out", User: user, Detail: l})
	}
	if !ok {
		return "", errWrongCredentials
	}
	return user, nil
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// login starts a session and sets its cookie.
func (a *Auth) login(w http.ResponseWriter, user string) {
	id := randomToken()
	a.mu.Lock()
	if a.sessions == nil {
		a.sessions = map[string]*session{}
	}
	now := time.Now()
	for k, s := range a.sessions {
		if now.After(s.expires) {
			delete(a.sessions, k)
		}
	}
	a.sessions[id] = &session{user: user, csrf: randomToken(), expires: now.Add(a.ttl())}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: a.Secure, SameSite: http.SameSiteStrictMode})
}

func (a *Auth) ttl() time.Duration {
	if a.TTL > 0 {
		return a.TTL
	}
	return 8 * time.Hour
}

// session returns the request's live session, extending it.
func (a *Auth) session(r *http.Request) (*session, string) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s == nil || time.Now().After(s.expires) {
		return nil, ""
	}
	s.expires = time.Now().Add(a.ttl())
	return s, c.Value
}

func (a *Auth) logout(w http.ResponseWriter, id string) {
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: a.Secure, SameSite: http.SameSiteStrictMode})
}

// validCSRF compares the form's token with the session's.
func validCSRF(s *session, r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}
