package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/dicom"
)

// orthancWorkers is how many REST requests run at once.
const orthancWorkers = 4

// orthancIn fingerprints every DICOM instance Orthanc lists: its ID and
// the MD5 Orthanc recorded for its file, with Damage when the stored file
// does not match it; /statistics is kept as information. It talks to the
// REST API at the container's address (dockerbank on the engine's host),
// with the entry's REST user and the password from its secret. With an
// index declared (index is its running container), the recorded MD5s come
// from one query of the index and the files are hashed from the storage
// volume (orthancIndexed); instances that query does not cover are asked
// for one by one, as without one (orthancItem). The files on the volume
// are what a backup captures: Orthanc 1.10's storage cache may answer
// verify-md5 from memory for a file damaged on disk since it was read.
func orthancIn(ctx context.Context, e Engine, t Target, id, index string, s bank.FingerprintSpec, p *Part, cache string) error {
	api, err := OrthancClient(ctx, e, t, id, s)
	if err != nil {
		return err
	}
	// The index query and the hashing of the stored files run beside the
	// REST calls. Either order is sound: an instance the API lists that
	// the index query did not see is asked for by REST below; one the
	// index holds and the API no longer lists is not in the fingerprint.
	known := map[string]Item{}
	indexed := make(chan error, 1)
	go func() {
		var ierr error
		if index != "" {
			known, ierr = orthancIndexed(ctx, e, t, index, s, cache)
		}
		indexed <- ierr
	}()
	ids, err := api.Instances(ctx)
	var st dicom.Statistics
	if err == nil {
		st, err = api.Statistics(ctx)
	}
	if ierr := <-indexed; err == nil {
		err = ierr
	}
	if err != nil {
		return err
	}
	p.Info = map[string]int64{"CountPatients": int64(st.CountPatients), "CountStudies": int64(st.CountStudies),
		"CountSeries": int64(st.CountSeries), "CountInstances": int64(st.CountInstances)}
	p.Items = make([]Item, len(ids))
	var rest []int // not in the index when it was read (stored since): asked one by one
	for i, iid := range ids {
		it, ok := known[iid]
		if !ok {
			rest = append(rest, i)
			continue
		}
		p.Items[i] = it
	}
	return parallel(len(rest), func(k int) error {
		it, err := orthancItem(ctx, api, ids[rest[k]])
		p.Items[rest[k]] = it
		return err
	})
}

// parallel runs fn(0..n-1) on orthancWorkers goroutines and returns the
// first error; after one, no new call starts.
func parallel(n int, fn func(int) error) error {
	jobs := make(chan int)
	errs := make(chan error, orthancWorkers)
	var wg sync.WaitGroup
	for range orthancWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var ferr error
feed:
	for i := range n {
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

// OrthancClient returns a REST client of the Orthanc container id with the
// credentials a fingerprint spec of kind orthanc names.
func OrthancClient(ctx context.Context, e Engine, t Target, id string, s bank.FingerprintSpec) (*dicom.Orthanc, error) {
	addr, err := e.ContainerAddress(ctx, id, s.Port)
	if err != nil {
		return nil, err
	}
	if t.Secret == nil {
		return nil, fmt.Errorf("the password secret %s is not at hand", s.PasswordSecret)
	}
	pw, err := t.Secret(s.PasswordSecret)
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", s.PasswordSecret, err)
	}
	return &dicom.Orthanc{URL: "http://" + addr, User: s.User, Password: strings.TrimRight(string(pw), "\r\n"),
		HTTP: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: orthancWorkers}}}, nil
}

// orthancItem returns one instance's item: "md5:<md5>", the MD5 Orthanc
// recorded, and Damage set when the stored file does not match it.
func orthancItem(ctx context.Context, api *dicom.Orthanc, id string) (Item, error) {
	var he *dicom.HTTPError
	md5, err := api.MD5(ctx, id)
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return Item{ID: id, Digest: "no dicom attachment"}, nil
	}
	if err != nil {
		return Item{}, err
	}
	it := Item{ID: id, Digest: "md5:" + md5}
	if err := api.VerifyMD5(ctx, id); err != nil {
		if !errors.As(err, &he) || he.Status == http.StatusUnauthorized {
			return Item{}, err
		}
		it.Damage = fmt.Sprintf("the stored file does not match the MD5 Orthanc recorded (verify-md5: HTTP %d %s)", he.Status, he.Reason())
	}
	return it, nil
}
