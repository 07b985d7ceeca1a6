// Command spotter starts and stops EC2 spot instances from webhooks without
// handing out AWS keys. See README.md; the commands live in package cli.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spotter-dev/spotter/cli"
)

func main() {
	err := cli.Run(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "spotter:", err)
	}
	os.Exit(cli.ExitCode(err))
}
