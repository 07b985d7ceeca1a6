// Package jsonkeys refuses JSON whose meaning depends on which of two keys a
// reader believes. encoding/json keeps the last of two equal keys and
// matches struct fields case-insensitively, so {"dryRun":true,"DRYRUN":false}
// decodes as a real launch while a proxy, a reviewer or an audit log reading
// the first key sees a dry run. Check reads the body once as a token stream,
// guided by the Go type it will be decoded into, before the real decode.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds nesting. No spotter body nests more than five levels
// (policy → presets → name → tags → key); the bound keeps the walk cheap and
// refuses a body built to exhaust the decoder.
const MaxDepth = 32

// ErrNotObject: the body is a JSON value but not an object.
var ErrNotObject = errors.New("send a JSON object")

// ErrTooDeep: the body nests deeper than MaxDepth.
var ErrTooDeep = fmt.Errorf("the JSON nests deeper than %d levels", MaxDepth)

// DuplicateError names a key that appears twice in one object, exactly or,
// where the object is a struct, in another case.
type DuplicateError struct {
	// Path is where the object sits ("policy.tags"); empty for the top level.
	Path string
	// Key is the later key; Earlier the one it repeats.
	Key, Earlier string
}

func (e *DuplicateError) Error() string {
	where := ""
	if e.Path != "" {
		where = " in " + short(e.Path)
	}
	if e.Key == e.Earlier {
		return fmt.Sprintf("key %q appears twice%s; send each key once", short(e.Key), where)
	}
	return fmt.Sprintf("key %q repeats %q%s (keys are matched regardless of case); send each key once",
		short(e.Key), short(e.Earlier), where)
}

// short keeps a key echoed in an error readable: a body may carry keys of
// any length.
func short(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

// Check reports the first repeated key in body, read as the type of v, or
// ErrNotObject or ErrTooDeep. In objects that decode into a struct, keys
// that differ only in case repeat each other, as encoding/json would fill
// one field from both. In objects that decode into a map (tags, presets),
// only exact repeats are refused: a map keeps keys as sent, so "Env" and
// "env" are two entries that no reader can confuse, and AWS treats tag keys
// as case-sensitive. Objects of unknown shape (json.RawMessage, any) are
// checked as strictly as structs.
//
// Malformed JSON is not Check's to describe: it returns nil and leaves the
// error to the decoder that follows, so callers keep one wording for it.
func Check(body []byte, v any) error {
	c := checker{dec: json.NewDecoder(bytes.NewReader(body)), fields: map[reflect.Type]fields{}}
	c.dec.UseNumber()
	tok, err := c.dec.Token()
	if err != nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return ErrNotObject
	}
	err = c.object(typeOf(v), 1, "")
	var syn *json.SyntaxError
	if errors.As(err, &syn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

type checker struct {
	dec    *json.Decoder
	fields map[reflect.Type]fields
}

// value reads one value whose opening token may already be read (tok).
func (c *checker) value(tok json.Token, t reflect.Type, depth int, path string) error {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth > MaxDepth {
		return ErrTooDeep
	}
	switch d {
	case '{':
		return c.object(t, depth, path)
	case '[':
		elem := elemOf(t)
		for c.dec.More() {
			tok, err := c.dec.Token()
			if err != nil {
				return err
			}
			if err := c.value(tok, elem, depth+1, path+"[]"); err != nil {
				return err
			}
		}
		_, err := c.dec.Token() // ']'
		return err
	}
	return nil
}

// object reads the keys and values of an object whose '{' is read.
func (c *checker) object(t reflect.Type, depth int, path string) error {
	isMap := t != nil && t.Kind() == reflect.Map
	seen := map[string]string{}
	for c.dec.More() {
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		norm := key
		if !isMap {
			norm = fold(key)
		}
		if earlier, dup := seen[norm]; dup {
			return &DuplicateError{Path: path, Key: key, Earlier: earlier}
		}
		seen[norm] = key
		tok, err = c.dec.Token()
		if err != nil {
			return err
		}
		if err := c.value(tok, c.memberOf(t, key), depth+1, join(path, key)); err != nil {
			return err
		}
	}
	_, err := c.dec.Token() // '}'
	return err
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fold maps s to one representative of its case-fold class, so that
// fold(a) == fold(b) exactly when strings.EqualFold(a, b), the rule
// encoding/json matches field names by (it folds "K", U+212A KELVIN SIGN,
// to "k" too).
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == utf8.RuneError {
			b.WriteRune(r)
			continue
		}
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		b.WriteRune(lo)
	}
	return b.String()
}

func typeOf(v any) reflect.Type {
	if v == nil {
		return nil
	}
	return deref(reflect.TypeOf(v))
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func elemOf(t reflect.Type) reflect.Type {
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		return deref(t.Elem())
	}
	return nil
}

// memberOf is the type a key's value decodes into: a map's element type, or
// the struct field the key names (matched as encoding/json does). nil means
// unknown, which is checked strictly.
func (c *checker) memberOf(t reflect.Type, key string) reflect.Type {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return deref(t.Elem())
	case reflect.Struct:
		fields := c.fieldsOf(t)
		if ft, ok := fields.exact[key]; ok {
			return ft
		}
		return fields.folded[fold(key)]
	}
	return nil
}

// fields maps a struct's JSON names, as written and folded, to field types.
type fields struct {
	exact, folded map[string]reflect.Type
}

// fieldsOf maps each JSON name of t to the field's type, with embedded
// structs flattened as encoding/json flattens them. The checker keeps them
// per type for one body.
func (c *checker) fieldsOf(t reflect.Type) fields {
	if m, ok := c.fields[t]; ok {
		return m
	}
	m := fields{exact: map[string]reflect.Type{}, folded: map[string]reflect.Type{}}
	addFields(m, t, 0)
	c.fields[t] = m
	return m
}

func addFields(m fields, t reflect.Type, depth int) {
	if depth > MaxDepth {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := deref(f.Type)
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			addFields(m, ft, depth+1)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := m.exact[name]; !ok {
			m.exact[name] = ft
		}
		if _, ok := m.folded[fold(name)]; !ok {
			m.folded[fold(name)] = ft
		}
	}
}
