package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type inner struct {
	Max  float64           `json:"maxPrice"`
	Tags map[string]string `json:"tags"`
}

type embedded struct {
	Note string `json:"note"`
}

type outer struct {
	embedded
	DryRun  bool              `json:"dryRun"`
	Task    string            `json:"task"`
	Policy  *inner            `json:"policy"`
	List    []inner           `json:"list"`
	Tags    map[string]string `json:"tags"`
	Presets map[string]inner  `json:"presets"`
	Raw     json.RawMessage   `json:"raw"`
}

func TestCheck(t *testing.T) {
	cases := map[string]struct {
		body string
		// dup is the repeated key reported, "" for none.
		dup, path string
		err       error
	}{
		"plain":                      {body: `{"dryRun":true,"task":"launch"}`},
		"exact duplicate":            {body: `{"dryRun":true,"dryRun":false}`, dup: "dryRun"},
		"case variant":               {body: `{"dryRun":true,"DRYRUN":false}`, dup: "DRYRUN"},
		"kelvin sign folds like k":   {body: `{"task":"a","tas\u212a":"b"}`, dup: "tas\u212a"},
		"escaped spelling":           {body: `{"dryRun":true,"dry\u0052un":false}`, dup: "dryRun"},
		"unknown keys fold too":      {body: `{"foo":1,"FOO":2}`, dup: "FOO"},
		"embedded field":             {body: `{"note":"a","Note":"b"}`, dup: "Note"},
		"nested struct":              {body: `{"policy":{"maxPrice":1,"MaxPrice":2}}`, dup: "MaxPrice", path: "policy"},
		"nested via case key":        {body: `{"POLICY":{"tags":{"a":"1","a":"2"}}}`, dup: "a", path: "POLICY.tags"},
		"struct in list":             {body: `{"list":[{},{"maxPrice":1,"maxprice":2}]}`, dup: "maxprice", path: "list[]"},
		"map keys exact duplicate":   {body: `{"tags":{"Env":"a","Env":"b"}}`, dup: "Env", path: "tags"},
		"map keys case variants ok":  {body: `{"tags":{"Env":"a","env":"b","ENV":"c"}}`},
		"map of structs":             {body: `{"presets":{"gpu":{"maxPrice":1,"MAXPRICE":1}}}`, dup: "MAXPRICE", path: "presets.gpu"},
		"map of structs, names case": {body: `{"presets":{"gpu":{},"GPU":{}}}`},
		"raw is strict":              {body: `{"raw":{"x":1,"X":2}}`, dup: "X", path: "raw"},
		"same key in two objects":    {body: `{"list":[{"maxPrice":1},{"maxPrice":2}]}`},
		"array body":                 {body: `[{"task":"launch"}]`, err: ErrNotObject},
		"string body":                {body: `"launch"`, err: ErrNotObject},
		"null body":                  {body: `null`, err: ErrNotObject},
		"malformed is the decoder's": {body: `{"task":"launch",`},
		"empty is the decoder's":     {body: ``},
		"at max depth":               {body: `{"raw":` + strings.Repeat(`[`, MaxDepth-1) + strings.Repeat(`]`, MaxDepth-1) + `}`},
		"past max depth":             {body: `{"raw":` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth) + `}`, err: ErrTooDeep},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := Check([]byte(tc.body), &outer{})
			var de *DuplicateError
			switch {
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("Check = %v, want %v", err, tc.err)
				}
			case tc.dup != "":
				if !errors.As(err, &de) || de.Key != tc.dup || de.Path != tc.path {
					t.Fatalf("Check = %#v, want key %q at %q", err, tc.dup, tc.path)
				}
				if !strings.Contains(err.Error(), tc.dup) {
					t.Fatalf("message %q does not name %q", err, tc.dup)
				}
			case err != nil:
				t.Fatalf("Check = %v, want nil", err)
			}
		})
	}
}

func TestLongKeyShortened(t *testing.T) {
	k := strings.Repeat("k", 10000)
	err := Check([]byte(`{"`+k+`":1,"`+k+`":2}`), &outer{})
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("Check = %d bytes of message", len(err.Error()))
	}
}

// reverseKeys re-encodes a JSON value with every object's members in the
// opposite order, keeping repeats: it changes which of two keys is last.
func reverseKeys(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		b, _ := json.Marshal(tok)
		out.Write(b)
		return nil
	}
	if d == '[' {
		out.WriteByte('[')
		for i := 0; dec.More(); i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := reverseKeys(dec, out); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		out.WriteByte(']')
		return err
	}
	var members [][]byte
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var m bytes.Buffer
		kb, _ := json.Marshal(k)
		m.Write(kb)
		m.WriteByte(':')
		if err := reverseKeys(dec, &m); err != nil {
			return err
		}
		members = append(members, m.Bytes())
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	out.WriteByte('{')
	for i := len(members) - 1; i >= 0; i-- {
		out.Write(members[i])
		if i > 0 {
			out.WriteByte(',')
		}
	}
	out.WriteByte('}')
	return nil
}

// FuzzCheck: whatever Check accepts decodes the same whichever order its
// keys come in, so no reader that takes the first key sees another request
// than one that takes the last.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"dryRun":true,"DRYRUN":false}`, `{"tags":{"a":"1","A":"2"}}`, `{"policy":{"maxPrice":1,"tags":{"x":"y"}}}`,
		`{"list":[{"maxPrice":1}],"task":"t"}`, `{"tas\u212a":"x"}`, `{"note":"n","presets":{"a":{"maxPrice":2}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if Check(body, &outer{}) != nil {
			return
		}
		var a outer
		if json.Unmarshal(body, &a) != nil {
			return
		}
		var rev bytes.Buffer
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := reverseKeys(dec, &rev); err != nil {
			return
		}
		var b outer
		if err := json.Unmarshal(rev.Bytes(), &b); err != nil {
			t.Fatalf("reversed body %s does not decode: %v", rev.Bytes(), err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("accepted %s, but its key order changes what it means:\n%+v\n%+v", body, a, b)
		}
	})
}
