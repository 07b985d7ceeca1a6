package main

import (
	"context"
	"errors"
	"io"
)

// runSim is replaced by the awssim work in progress (issue 3).
func runSim(_ context.Context, _ []string, _ func(string) string, _ io.Reader, _, _ io.Writer) error {
	return errors.New("sim: not built yet")
}
