package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// qrQuiet is the quiet zone around the code, in modules, as ISO/IEC 18004
// asks: scanners find the code by its border.
const qrQuiet = 4

// writeQR draws content as a QR code with Unicode half blocks, two module
// rows per text line. It encodes content itself (error correction M, as the
// server's PNG) rather than sampling the PNG: the modules are exact.
//
// By default it draws the light modules and the quiet zone, so that the code
// reads right on the usual dark terminal background; invert draws the dark
// modules instead, for light backgrounds.
func writeQR(w io.Writer, content string, invert bool) error {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return fmt.Errorf("encode QR code: %w", err)
	}
	m := qrModules(code)
	n := len(m)
	ink := func(x, y int) bool {
		dark := x >= 0 && y >= 0 && x < n && y < n && m[y][x]
		return dark == invert
	}
	var b strings.Builder
	for y := -qrQuiet; y < n+qrQuiet; y += 2 {
		for x := -qrQuiet; x < n+qrQuiet; x++ {
			top, bottom := ink(x, y), ink(x, y+1)
			// A row past the quiet zone (odd sizes) stays background.
			if y+1 >= n+qrQuiet {
				bottom = false
			}
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// qrModules returns the code's modules, true for dark: an unscaled
// barcode.Barcode has one pixel per module.
func qrModules(code barcode.Barcode) [][]bool {
	r := code.Bounds()
	m := make([][]bool, r.Dy())
	for y := range m {
		m[y] = make([]bool, r.Dx())
		for x := range m[y] {
			c, _, _, _ := code.At(r.Min.X+x, r.Min.Y+y).RGBA()
			m[y][x] = c < 0x8000
		}
	}
	return m
}
