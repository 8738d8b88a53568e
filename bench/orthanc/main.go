// Command benchorthanc loads, watches and checks the Orthanc of the
// Orthanc benchmark. run.sh drives it:
//
//	benchorthanc load  -url U -password-file F -seed S -from I -n N [-workers W] [-kb K]
//	    store instances I..I+N-1 of a generated set over REST in parallel;
//	    prints "stored N failed F already-there A seconds S"; -kb K makes each file about
//	    K KiB (square 16-bit images, 8 low bits noise so they compress like a
//	    scanner's); without it 64x64 noiseless (8.6 KB, the first archive)
//	benchorthanc poll  -url U -password-file F -out FILE [-every 100ms]
//	    ask GET /system until killed (SIGTERM/SIGINT), then write
//	    "polls P failed F longest_outage_s L first_fail_s A" to FILE
//	benchorthanc count -url U -password-file F
//	    print Orthanc's instance count
//	benchorthanc delete -url U -password-file F -seed S -from I -n N
//	    delete instances I..I+N-1 of the generated set where stored (back to
//	    the cached archive after a run)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dockerbank/dockerbank/internal/dicom"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchorthanc:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: benchorthanc load|poll|count|delete [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	url := fs.String("url", "", "Orthanc REST base URL")
	pwFile := fs.String("password-file", "", "file with the admin password")
	seed := fs.Int64("seed", 1, "seed of the generated set")
	from := fs.Int("from", 0, "first instance index")
	n := fs.Int("n", 0, "number of instances")
	workers := fs.Int("workers", 4, "parallel uploads")
	out := fs.String("out", "", "poll: result file")
	every := fs.Duration("every", 100*time.Millisecond, "poll: interval")
	kb := fs.Int("kb", 0, "load: file size in KiB (0: 64x64 noiseless)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pw, err := os.ReadFile(*pwFile)
	if err != nil {
		return fmt.Errorf("read password: %w", err)
	}
	o := &dicom.Orthanc{URL: *url, User: "admin", Password: strings.TrimSpace(string(pw)),
		HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	set := dicom.Set{Seed: *seed, StudiesPerPatient: 2, SeriesPerStudy: 4, InstancesPerSeries: 25}
	if *kb > 0 { // pixel data is nearly all of the file: side = sqrt(K KiB / 2 bytes)
		side := int(math.Round(math.Sqrt(float64(*kb) * 1024 / 2)))
		set.Rows, set.Columns, set.NoiseBits, set.Modality = side, side, 8, "MR"
	}
	switch args[0] {
	case "load":
		return load(ctx, o, set, *from, *n, *workers)
	case "delete":
		deleted := 0
		for i := *from; i < *from+*n; i++ {
			err := o.Delete(ctx, set.Instance(i).OrthancID())
			var he *dicom.HTTPError
			if errors.As(err, &he) && he.Status == http.StatusNotFound {
				continue
			}
			if err != nil {
				return err
			}
			deleted++
		}
		fmt.Println("deleted", deleted)
		return nil
	case "poll":
		return poll(ctx, o, *every, *out)
	case "count":
		s, err := o.Statistics(ctx)
		if err != nil {
			return err
		}
		fmt.Println(s.CountInstances)
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// load stores the instances Orthanc does not hold yet (a rerun after a
// failed load sends only the missing ones); an upload that fails is tried
// twice more (a loaded machine drops a connection now and then).
func load(ctx context.Context, o *dicom.Orthanc, set dicom.Set, from, n, workers int) error {
	start := time.Now()
	ids, err := o.Instances(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(ids))
	for _, id := range ids {
		have[id] = true
	}
	var next, failed, skipped atomic.Int64
	next.Store(int64(from))
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= from+n || ctx.Err() != nil {
					return
				}
				in := set.Instance(i)
				if have[in.OrthancID()] {
					skipped.Add(1)
					continue
				}
				var err error
				for try := range 3 {
					if _, err = o.Store(ctx, in.Data); err == nil || ctx.Err() != nil {
						break
					}
					time.Sleep(time.Duration(try+1) * time.Second)
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("stored %d failed %d already-there %d seconds %.1f\n", int64(n)-failed.Load()-skipped.Load(), failed.Load(), skipped.Load(), time.Since(start).Seconds())
	if firstErr != nil {
		return fmt.Errorf("%d uploads failed, the first: %w", failed.Load(), firstErr)
	}
	return ctx.Err()
}

// poll asks GET /system every interval until ctx ends. An outage is the
// time from the first failed poll to the next good one.
func poll(ctx context.Context, o *dicom.Orthanc, every time.Duration, out string) error {
	start := time.Now()
	var polls, failed int
	var longest, firstFail time.Duration = 0, -1
	var downSince time.Time
	t := time.NewTicker(every)
	defer t.Stop()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := o.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			break
		}
		polls++
		now := time.Now()
		if err != nil {
			failed++
			if downSince.IsZero() {
				downSince = now
				if firstFail < 0 {
					firstFail = now.Sub(start)
				}
			}
		} else if !downSince.IsZero() {
			longest = max(longest, now.Sub(downSince))
			downSince = time.Time{}
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	if !downSince.IsZero() {
		longest = max(longest, time.Since(downSince))
	}
	return os.WriteFile(out, fmt.Appendf(nil, "polls %d failed %d longest_outage_s %.2f first_fail_s %.2f\n",
		polls, failed, longest.Seconds(), firstFail.Seconds()), 0o644)
}
