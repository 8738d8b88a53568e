package fingerprint

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
)

// orthancWorkers is how many REST requests run at once.
const orthancWorkers = 4

// orthancIn fingerprints every DICOM instance Orthanc lists: its ID and
// the MD5 Orthanc recorded for its file, proven against the stored file
// (verify-md5 reads it back); /statistics is kept as information. It talks
// to the REST API at the container's address (dockerbank on the engine's
// host), with the entry's REST user and the password from its secret.
func orthancIn(ctx context.Context, e Engine, t Target, id string, s bank.FingerprintSpec, p *Part) error {
	addr, err := e.ContainerAddress(ctx, id, s.Port)
	if err != nil {
		return err
	}
	if t.Secret == nil {
		return fmt.Errorf("the password secret %s is not at hand", s.PasswordSecret)
	}
	pw, err := t.Secret(s.PasswordSecret)
	if err != nil {
		return fmt.Errorf("read secret %s: %w", s.PasswordSecret, err)
	}
	c := &orthancClient{base: "http://" + addr, user: s.User, password: strings.TrimRight(string(pw), "\r\n"),
		http: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: orthancWorkers}}}
	var ids []string
	if err := c.getJSON(ctx, "/instances", &ids); err != nil {
		return err
	}
	var stats map[string]any
	if err := c.getJSON(ctx, "/statistics", &stats); err != nil {
		return err
	}
	p.Info = map[string]int64{}
	for k, v := range stats {
		if f, ok := v.(float64); ok && strings.HasPrefix(k, "Count") {
			p.Info[k] = int64(f)
		}
	}
	p.Items = make([]Item, len(ids))
	jobs := make(chan int)
	errs := make(chan error, orthancWorkers)
	var wg sync.WaitGroup
	for range orthancWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				it, err := c.instance(ctx, ids[i])
				if err != nil {
					errs <- err
					return
				}
				p.Items[i] = it
			}
		}()
	}
	var ferr error
feed:
	for i := range ids {
		select {
		case jobs <- i:
		case ferr = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if ferr == nil {
		select {
		case ferr = <-errs:
		default:
		}
	}
	return ferr
}

type orthancClient struct {
	base, user, password string
	http                 *http.Client
}

func (c *orthancClient) do(ctx context.Context, method, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(c.user, c.password)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("orthanc REST %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("orthanc REST %s %s: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return 0, nil, fmt.Errorf("orthanc REST %s %s: 401 unauthorized: user %s and its password secret do not match the server's registered users", method, path, c.user)
	}
	return resp.StatusCode, body, nil
}

func (c *orthancClient) getJSON(ctx context.Context, path string, v any) error {
	code, body, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("orthanc REST GET %s: status %d: %s", path, code, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("orthanc REST GET %s: %w", path, err)
	}
	return nil
}

// instance returns one instance's item: "md5:<md5>" when the stored file
// matches the MD5 in the index, else a digest saying that it does not.
func (c *orthancClient) instance(ctx context.Context, id string) (Item, error) {
	base := "/instances/" + url.PathEscape(id) + "/attachments/dicom"
	code, body, err := c.do(ctx, http.MethodGet, base+"/md5")
	if err != nil {
		return Item{}, err
	}
	if code == http.StatusNotFound {
		return Item{ID: id, Digest: "no dicom attachment"}, nil
	}
	if code != http.StatusOK {
		return Item{}, fmt.Errorf("orthanc REST GET %s/md5: status %d: %s", base, code, strings.TrimSpace(string(body)))
	}
	md5 := strings.TrimSpace(string(body))
	code, body, err = c.do(ctx, http.MethodPost, base+"/verify-md5")
	if err != nil {
		return Item{}, err
	}
	if code != http.StatusOK {
		var e struct {
			Message string `json:"Message"`
		}
		_ = json.Unmarshal(body, &e)
		return Item{ID: id, Digest: fmt.Sprintf("md5:%s, but the stored file does not match it (verify-md5: %d %s)", md5, code, e.Message)}, nil
	}
	return Item{ID: id, Digest: "md5:" + md5}, nil
}
