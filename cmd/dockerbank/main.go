// Command dockerbank deploys, protects and watches biomedical applications
// in containers. See internal/cli.
package main

import (
	"os"

	"github.com/dockerbank/dockerbank/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
