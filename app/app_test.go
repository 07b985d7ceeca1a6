package app

import (
	"io"
	"log/slog"
)

// sandboxConfig is a valid sandbox Config on a free loopback port with
// its data in dir ("" for the sandbox's own temporary dir).
func sandboxConfig(dir string) Config {
	return Config{
		Addr: "127.0.0.1:0", Sandbox: true, DataDir: dir,
		LogFormat: "json", LogLevel: "info", BodyLimit: "64K", Region: "us-east-1", VaultMount: "spotter",
		Timeouts: DefaultTimeouts(), Self: "spotter", Version: "test",
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
