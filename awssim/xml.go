package awssim

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"sync"
	"time"
)

// xmlWriter builds a response document by hand: the responses are flat and
// their element names fixed, and encoding/xml's reflection would be the
// emulator's hottest path under benchmark load.
type xmlWriter struct {
	buf bytes.Buffer
}

var xmlPool = sync.Pool{New: func() any { return new(xmlWriter) }}

func getXMLWriter() *xmlWriter {
	x := xmlPool.Get().(*xmlWriter)
	x.buf.Reset()
	x.buf.WriteString(xml.Header[:len(xml.Header)-1])
	return x
}

func putXMLWriter(x *xmlWriter) {
	if x.buf.Cap() <= 1<<20 {
		xmlPool.Put(x)
	}
}

func (x *xmlWriter) bytes() []byte { return x.buf.Bytes() }

// open starts an element; attrs are name/value pairs.
func (x *xmlWriter) open(name string, attrs ...string) {
	x.buf.WriteByte('<')
	x.buf.WriteString(name)
	for i := 0; i+1 < len(attrs); i += 2 {
		x.buf.WriteByte(' ')
		x.buf.WriteString(attrs[i])
		x.buf.WriteString(`="`)
		xml.EscapeText(&x.buf, []byte(attrs[i+1]))
		x.buf.WriteByte('"')
	}
	x.buf.WriteByte('>')
}

func (x *xmlWriter) close(name string) {
	x.buf.WriteString("</")
	x.buf.WriteString(name)
	x.buf.WriteByte('>')
}

// leaf writes <name>value</name>, escaping the value.
func (x *xmlWriter) leaf(name, value string) {
	x.open(name)
	xml.EscapeText(&x.buf, []byte(value))
	x.close(name)
}

// opt writes a leaf only for a non-empty value, as AWS omits unset members.
func (x *xmlWriter) opt(name, value string) {
	if value != "" {
		x.leaf(name, value)
	}
}

func (x *xmlWriter) int(name string, v int) { x.leaf(name, strconv.Itoa(v)) }

func (x *xmlWriter) bool(name string, v bool) { x.leaf(name, strconv.FormatBool(v)) }

func (x *xmlWriter) time(name string, t time.Time) {
	if !t.IsZero() {
		x.leaf(name, isoTime(t))
	}
}

// price writes a price the way EC2 does, with six decimals.
func (x *xmlWriter) price(name string, p float64) { x.leaf(name, formatPrice(p)) }

func (x *xmlWriter) tags(name string, tags []tag) {
	x.open(name)
	for _, t := range tags {
		x.open("item")
		x.leaf("key", t.Key)
		x.leaf("value", t.Value)
		x.close("item")
	}
	x.close(name)
}

// isoTime is the timestamp form both EC2 and STS use.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func formatPrice(p float64) string { return strconv.FormatFloat(p, 'f', 6, 64) }
