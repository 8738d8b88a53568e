package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/smtp"
	"strings"
	"time"
)

// Webhook posts alert changes as JSON: {"source":"dockerbank","alerts":[...]}.
type Webhook struct {
	URL    string
	Client *http.Client
}

// Notify implements Notifier.
func (w *Webhook) Notify(ctx context.Context, alerts []Alert) error {
	body, err := json.Marshal(map[string]any{"source": "dockerbank", "alerts": alerts})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post alerts: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("post alerts: %w", err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		return fmt.Errorf("post alerts to %s: %s", w.URL, res.Status)
	}
	return nil
}

// Mail sends alert changes by e-mail through an SMTP relay (STARTTLS when
// the server offers it; PLAIN auth when a user is set).
type Mail struct {
	Addr     string // host:port
	From     string
	To       []string
	User     string
	Password string
	Hostname string // the host serve runs on, for the subject
}

// Notify implements Notifier.
func (m *Mail) Notify(_ context.Context, alerts []Alert) error {
	var b strings.Builder
	firing := 0
	for _, a := range alerts {
		if a.State == "firing" {
			firing++
		}
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: [dockerbank %s] %d alert(s) firing, %d resolved\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		m.From, strings.Join(m.To, ", "), m.Hostname, firing, len(alerts)-firing)
	for _, a := range alerts {
		fmt.Fprintf(&b, "%s %s [%s] %s: %s (since %s)\r\n", strings.ToUpper(a.State), a.Rule, a.Severity, a.Subject, a.Summary, a.Since.UTC().Format(time.RFC3339))
	}
	var auth smtp.Auth
	if m.User != "" {
		host, _, _ := strings.Cut(m.Addr, ":")
		auth = smtp.PlainAuth("", m.User, m.Password, host)
	}
	if err := smtp.SendMail(m.Addr, auth, m.From, m.To, []byte(b.String())); err != nil {
		return fmt.Errorf("mail alerts via %s: %w", m.Addr, err)
	}
	return nil
}
