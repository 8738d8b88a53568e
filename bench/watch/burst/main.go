// Command burst runs K collections of dockerbank's collector back to back
// on the containers of one instance, so that bench/watch/run.sh can measure
// the engine's CPU per collection with a signal well above the noise of a
// shared machine. It prints the wall time per collection.
//
// Usage: go run ./bench/watch/burst INSTANCE K [cgroup|api]
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/observe"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: burst INSTANCE K [cgroup|api]")
		os.Exit(2)
	}
	k, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	e, err := engine.Connect(ctx, engine.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	col := &observe.Collector{Engine: e, Instance: os.Args[1], Cgroup: observe.HostCgroup()}
	if len(os.Args) > 3 && os.Args[3] == "api" {
		col.Cgroup = nil
	}
	if err := col.Refresh(ctx); err != nil { // inspects every container once
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	for i := 0; i < k; i++ {
		if err := col.Refresh(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	n := len(col.Snapshot().Containers)
	fmt.Printf("%d collections of %d containers in %s (%.1f ms each)\n", k, n, time.Since(start).Round(time.Millisecond), float64(time.Since(start).Milliseconds())/float64(k))
}
