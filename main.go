// Command spotter starts and stops EC2 spot instances from webhooks without
// handing out AWS keys. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	err := run(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "spotter:", err)
	}
	os.Exit(exitCode(err))
}
