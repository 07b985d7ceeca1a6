package safe

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

func TestRun(t *testing.T) {
	tests := map[string]struct {
		f       func()
		wantErr bool
	}{
		"panic with a value": {f: func() { panic("boom") }, wantErr: true},
		//lint:ignore SA5000 the write to a nil map is the runtime panic under test
		"nil map write": {f: func() { var m map[string]int; m["x"] = 1 }, wantErr: true},
		"no panic":      {f: func() {}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			err := Run(context.Background(), slog.New(slog.NewJSONHandler(&logs, nil)), "job", tt.f)
			if !tt.wantErr {
				if err != nil || logs.Len() != 0 {
					t.Fatalf("Run = %v, log %q; want nil and nothing logged", err, logs.String())
				}
				return
			}
			var pe *PanicError
			if apperr.Code(err) != apperr.Internal || !errors.As(err, &pe) {
				t.Fatalf("Run = %v; want internal_error wrapping a *PanicError", err)
			}
			if !strings.Contains(logs.String(), `"msg":"job panicked"`) || !strings.Contains(logs.String(), "safe_test.go") {
				t.Errorf("log %q; want the panic with a stack naming this file", logs.String())
			}
		})
	}
}
