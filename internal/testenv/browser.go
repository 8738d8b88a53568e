package testenv

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Browser drives headless Chromium over the DevTools protocol: a minimal
// client (navigate, evaluate, screenshot, events) over
// golang.org/x/net/websocket, used by the dashboard's and the viewer's
// browser tests, with what a page behind HTTP authentication needs: the
// browser's login dialog answered through the Fetch domain, and the page's
// console errors and failed responses collected.
type Browser struct {
	// FullPage makes screenshots capture the whole page, not the viewport.
	FullPage bool

	t    testing.TB
	ws   *websocket.Conn
	mu   sync.Mutex
	next int
	wait map[int]chan cdpReply
	on   map[string]func(json.RawMessage)
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// StartBrowser launches Chromium with a fresh profile and a window of the
// given size, or reports it missing (a failure in CI). Its WebGL runs on
// SwiftShader, so pages that draw with WebGL (image viewers) render
// without a GPU.
func StartBrowser(t testing.TB, width, height int) *Browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		Missing(t, "chromium is not installed (scripts/deps.sh installs it; apt-get install -y chromium)")
	}
	// Chromium's helper processes outlive the main one for a moment and keep
	// writing to the profile: the whole process group is killed, then the
	// profile removed with a few tries.
	profile, err := os.MkdirTemp("", "dockerbank-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-dev-shm-usage", "--user-data-dir="+profile, "--remote-debugging-port=0",
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		for try := 0; try < 50; try++ {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("chromium profile %s not removed", profile)
	})
	// Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "DevTools listening on ws://"); ok {
				host, _, _ := strings.Cut(rest, "/")
				port <- host
			}
		}
	}()
	var host string
	select {
	case host = <-port:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not start its DevTools server")
	}
	var targets []struct {
		Type, WebSocketDebuggerURL string
	}
	res, err := http.Get("http://" + host + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&targets)
	res.Body.Close()
	wsURL := ""
	for _, tg := range targets {
		if tg.Type == "page" {
			wsURL = tg.WebSocketDebuggerURL
		}
	}
	if wsURL == "" {
		t.Fatal("no page target")
	}
	ws, err := websocket.Dial(wsURL, "", "http://"+host)
	if err != nil {
		t.Fatal(err)
	}
	ws.MaxPayloadBytes = 64 << 20
	b := &Browser{t: t, ws: ws, wait: map[int]chan cdpReply{}, on: map[string]func(json.RawMessage){}}
	t.Cleanup(func() { ws.Close() })
	go b.read()
	return b
}

// On calls fn with the parameters of every event of the method (e.g.
// "Runtime.consoleAPICalled"). fn runs on the reading goroutine: it must
// not block, and may answer with Send but not with Call.
func (b *Browser) On(method string, fn func(params json.RawMessage)) {
	b.mu.Lock()
	b.on[method] = fn
	b.mu.Unlock()
}

func (b *Browser) read() {
	for {
		var msg struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			cdpReply
		}
		if err := websocket.JSON.Receive(b.ws, &msg); err != nil {
			return
		}
		b.mu.Lock()
		if msg.ID == 0 {
			fn := b.on[msg.Method]
			b.mu.Unlock()
			if fn != nil {
				fn(msg.Params)
			}
			continue
		}
		ch := b.wait[msg.ID]
		delete(b.wait, msg.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- msg.cdpReply
		}
	}
}

// Send sends a command without waiting for its answer (for event handlers).
func (b *Browser) Send(method string, params any) {
	b.mu.Lock()
	b.next++
	id := b.next
	b.mu.Unlock()
	websocket.JSON.Send(b.ws, map[string]any{"id": id, "method": method, "params": params})
}

// Call sends a command and decodes its result into result (if not nil).
func (b *Browser) Call(method string, params any, result any) {
	b.t.Helper()
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpReply, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	if err := websocket.JSON.Send(b.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		b.t.Fatal(err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			b.t.Fatalf("%s: %s", method, r.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(r.Result, result); err != nil {
				b.t.Fatalf("%s: %v", method, err)
			}
		}
	case <-time.After(60 * time.Second):
		b.t.Fatalf("%s: no answer", method)
	}
}

// Eval evaluates a JavaScript expression (awaiting promises) in the page.
func (b *Browser) Eval(expr string) any {
	b.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	b.Call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if r.ExceptionDetails != nil {
		b.t.Fatalf("eval %q: %s", expr, r.ExceptionDetails.Text)
	}
	return r.Result.Value
}

// WaitFor polls a JavaScript condition until it is true, at most limit.
func (b *Browser) WaitFor(what, expr string, limit time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if v, _ := b.Eval("(() => { try { return !!(" + expr + ") } catch (e) { return false } })()").(bool); v {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %s waiting for %s (%s); page: %s %v", limit, what, expr, b.Eval("location.href"),
				b.Eval("document.body ? document.body.innerText.slice(0, 500) : ''"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Navigate loads a URL in the page.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Call("Page.navigate", map[string]any{"url": url}, nil)
}

// Screenshot returns a PNG of the page's viewport, and saves it as
// dir/name when dir is set.
func (b *Browser) Screenshot(dir, name string) []byte {
	b.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	b.Call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": b.FullPage}, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	if dir == "" {
		return png
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d bytes)", path, len(png))
	return png
}

// SetT makes failures go to t (a subtest) from now on.
func (b *Browser) SetT(t testing.TB) { b.t = t }

// JSString quotes s as a JavaScript string literal.
func JSString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
