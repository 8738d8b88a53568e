package web

import (
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

// startBrowser launches Chromium (testenv.Browser) with the dashboard's
// window, its screenshots of the whole page.
func startBrowser(t *testing.T) *testenv.Browser {
	b := testenv.StartBrowser(t, 1280, 900)
	b.FullPage = true
	return b
}

// waitFor polls a JavaScript condition on the loaded page for 20 seconds.
func waitFor(b *testenv.Browser, what, expr string) {
	b.WaitFor(what, "document.readyState === 'complete' && ("+expr+")", 20*time.Second)
}
