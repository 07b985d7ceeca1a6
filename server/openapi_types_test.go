package server

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
)

// schema is the part of a JSON Schema the type check reads.
type schema struct {
	Ref                  string             `json:"$ref"`
	AllOf                []schema           `json:"allOf"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
}

// TestOpenAPISchemasMatchTypes holds each documented request and reply to
// the api type the server decodes or writes, field by field and both ways,
// down through nested objects: a field added to a type but not to
// openapi.json, or the other way, fails here.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]*schema `json:"schemas"`
		} `json:"components"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	reply := func(path, method, status string) *schema {
		var op struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema *schema `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		}
		if err := json.Unmarshal(doc.Paths[path][method], &op); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return op.Responses[status].Content["application/json"].Schema
	}
	request := func(path, method string) *schema {
		var op struct {
			RequestBody struct {
				Content map[string]struct {
					Schema *schema `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		}
		if err := json.Unmarshal(doc.Paths[path][method], &op); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return op.RequestBody.Content["application/json"].Schema
	}
	tests := map[string]struct {
		schema *schema
		typ    any
	}{
		"createToken request":   {request("/v1/tokens", "post"), api.CreateTokenRequest{}},
		"createToken reply":     {reply("/v1/tokens", "post", "201"), api.CreatedToken{}},
		"listTokens reply":      {reply("/v1/tokens", "get", "200"), api.TokenPage{}},
		"getToken reply":        {reply("/v1/tokens/{id}", "get", "200"), api.TokenReply{}},
		"revokeToken reply":     {reply("/v1/tokens/{id}", "delete", "200"), api.RevokedToken{}},
		"rotateToken request":   {request("/v1/tokens/{id}/rotate", "post"), api.RotateTokenRequest{}},
		"rotateToken reply":     {reply("/v1/tokens/{id}/rotate", "post", "200"), api.RotatedToken{}},
		"unlockToken reply":     {reply("/v1/tokens/{id}/unlock", "post", "200"), api.UnlockedToken{}},
		"rotateKeys reply":      {reply("/v1/keys/rotate", "post", "200"), api.KeyRotation{}},
		"task request":          {request("/v1/tasks", "post"), api.TaskRequest{}},
		"task reply":            {reply("/v1/tasks", "post", "200"), api.TaskReply{}},
		"hook reply":            {reply("/hooks/{token}", "post", "200"), api.TaskReply{}},
		"mailgun reply":         {reply("/hooks/{token}/mailgun", "post", "200"), api.TaskReply{}},
		"ifttt reply":           {reply("/hooks/{token}/ifttt", "post", "200"), api.TaskReply{}},
		"healthz":               {reply("/healthz", "get", "200"), api.Health{}},
		"readyz":                {reply("/readyz", "get", "200"), api.Health{}},
		"readyz, store down":    {reply("/readyz", "get", "503"), api.ErrorBody{}},
		"error":                 {doc.Components.Schemas["Error"], api.ErrorBody{}},
		"getToken not found":    {reply("/v1/tokens/{id}", "get", "404"), api.ErrorBody{}},
		"task refused by token": {reply("/v1/tasks", "post", "403"), api.ErrorBody{}},
		"createPool request":    {request("/v1/pools", "post"), api.Pool{}},
		"createPool reply":      {reply("/v1/pools", "post", "201"), api.CreatedPool{}},
		"listPools reply":       {reply("/v1/pools", "get", "200"), api.PoolPage{}},
		"getPool reply":         {reply("/v1/pools/{name}", "get", "200"), api.PoolReply{}},
		"updatePool reply":      {reply("/v1/pools/{name}", "patch", "200"), api.PoolReply{}},
		"deletePool reply":      {reply("/v1/pools/{name}", "delete", "202"), api.PoolReply{}},
		"drainPool reply":       {reply("/v1/pools/{name}/drain", "post", "200"), api.PoolReply{}},
		"rotatePool reply":      {reply("/v1/pools/{name}/rotate", "post", "200"), api.CreatedPool{}},
		"revokePool reply":      {reply("/v1/pools/{name}/revoke", "post", "200"), api.PoolReply{}},
		"demand request":        {request("/v1/pools/{name}/demand", "post"), api.DemandRequest{}},
		"bootstrap request":     {request("/v1/instances/bootstrap", "post"), api.BootstrapRequest{}},
		"bootstrap reply":       {reply("/v1/instances/bootstrap", "post", "200"), api.BootstrapReply{}},
		"setPoolSecret request": {request("/v1/pools/{name}/secrets/{key}", "put"), api.PoolSecretRequest{}},
		"setPoolSecret reply":   {reply("/v1/pools/{name}/secrets/{key}", "put", "200"), api.PoolSecretReply{}},
		"listPoolSecrets reply": {reply("/v1/pools/{name}/secrets", "get", "200"), api.PoolSecretsReply{}},
		"demand reply":          {reply("/v1/pools/{name}/demand", "post", "200"), api.DemandReply{}},
		"demand by URL request": {request("/hooks/{token}/demand", "post"), api.DemandRequest{}},
		"demand by URL reply":   {reply("/hooks/{token}/demand", "post", "200"), api.DemandReply{}},
		"demand rate limited":   {reply("/hooks/{token}/demand", "post", "429"), api.ErrorBody{}},
		"sources request":       {request("/v1/pools/{name}/sources", "patch"), api.PoolSources{}},
		"sources reply":         {reply("/v1/pools/{name}/sources", "patch", "200"), api.PoolSourcesReply{}},
		"get sources reply":     {reply("/v1/pools/{name}/sources", "get", "200"), api.PoolSourcesReply{}},
		"github hook reply":     {reply("/hooks/{token}/github", "post", "200"), api.SourceEventReply{}},
		"buildkite hook reply":  {reply("/hooks/{token}/buildkite", "post", "200"), api.SourceEventReply{}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if tt.schema == nil {
				t.Fatal("openapi.json documents no JSON schema here")
			}
			for _, p := range matchType(doc.Components.Schemas, tt.schema, reflect.TypeOf(tt.typ), "") {
				t.Error(p)
			}
		})
	}
}

// leaves are the Go types a schema gives as a plain value, not an object.
var leaves = []reflect.Type{reflect.TypeFor[time.Time](), reflect.TypeFor[api.Duration](), reflect.TypeFor[[]byte]()}

// matchType lists where s and the JSON of t differ: fields one names and
// the other does not, at where (a dotted path) and below.
func matchType(defs map[string]*schema, s *schema, t reflect.Type, where string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if slices.Contains(leaves, t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice:
		if e := t.Elem(); e.Kind() != reflect.Struct && e.Kind() != reflect.Pointer || slices.Contains(leaves, e) {
			return nil // a list of plain values
		}
		items := resolve(defs, s).Items
		if items == nil {
			return []string{where + ": a list of objects whose items the document does not describe"}
		}
		return matchType(defs, items, t.Elem(), where+"[]")
	case reflect.Map:
		if t.Elem().Kind() != reflect.Struct {
			return nil
		}
		var add schema
		if err := json.Unmarshal(resolve(defs, s).AdditionalProperties, &add); err != nil {
			return []string{where + ": a map of objects whose values the document does not describe"}
		}
		return matchType(defs, &add, t.Elem(), where+".*")
	case reflect.Struct:
	default:
		return nil
	}
	props := properties(defs, s)
	fields := jsonFields(t)
	var out []string
	for name, ft := range fields {
		p, ok := props[name]
		if !ok {
			out = append(out, where+"."+name+": in "+t.String()+" but not in openapi.json")
			continue
		}
		out = append(out, matchType(defs, p, ft, where+"."+name)...)
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			out = append(out, where+"."+name+": in openapi.json but not in "+t.String())
		}
	}
	slices.Sort(out)
	return out
}

// resolve follows $ref.
func resolve(defs map[string]*schema, s *schema) *schema {
	for s.Ref != "" {
		s = defs[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

// properties gathers an object schema's properties through $ref and allOf.
func properties(defs map[string]*schema, s *schema) map[string]*schema {
	s = resolve(defs, s)
	out := map[string]*schema{}
	for _, part := range s.AllOf {
		for k, v := range properties(defs, &part) {
			out[k] = v
		}
	}
	for k, v := range s.Properties {
		out[k] = v
	}
	return out
}

// jsonFields maps each JSON name of struct t to its field's type, with
// embedded structs' fields promoted as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, shadowed := out[k]; !shadowed {
						out[k] = v
					}
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
