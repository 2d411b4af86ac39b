package strictjson

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Unmarshal decodes the JSON object in data into the struct v points to,
// refusing anything but an exact match of the struct's shape (see the
// package documentation for the rules). Refused input gives an *Error; a v
// that is not a non-nil pointer to a supported struct gives an error
// wrapping ErrUnsupportedTarget.
//
// Unmarshal checks that data is UTF-8, then decodes it in one pass straight
// into v: no intermediate tree, no encoding/json. Only when it refuses the
// content does it scan the rest of data again, for a problem with the bytes
// to report instead.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: need a non-nil pointer to a struct, got %T", ErrUnsupportedTarget, v)
	}
	p, err := planFor(rv.Type().Elem())
	if err != nil {
		return err
	}
	target := rv.Elem()
	// Every field is set at most once (duplicate keys are refused), so
	// starting from zero is what gives null and absent fields their zero
	// value.
	target.SetZero()
	if f := decode(data, p, target); f != nil {
		target.SetZero()
		return f.finish()
	}
	return nil
}

// decode is Unmarshal without the reflection set-up.
func decode(data []byte, p *typePlan, v reflect.Value) *failure {
	if !utf8.Valid(data) {
		return &failure{kind: KindInvalidUTF8, offset: firstInvalidUTF8(data), detail: "the body must be UTF-8 encoded"}
	}
	d := decoder{data: data}
	i := skipSpace(data, 0)
	var f *failure
	switch {
	case i >= len(data):
		return syntaxError(i, "the body is empty; expected a JSON object")
	case data[i] == '{':
		if i, f = d.object(i, p, v); f == nil {
			if i = skipSpace(data, i); i < len(data) {
				return &failure{kind: KindTrailingData, offset: i}
			}
			return nil
		}
	default:
		f = &failure{kind: KindNotObject, offset: i, got: jsonType(data[i])}
	}
	if !f.byteLevel() {
		// The decoder stopped at a problem with the content. Everything
		// before it has been checked; a problem with the bytes further on
		// wins, so that invalid JSON is always reported as such whatever
		// the order of the keys.
		if vf := validate(data); vf != nil {
			return vf
		}
	}
	return f
}

type decoder struct {
	data  []byte
	depth int
	buf   []byte // scratch for unescaping keys and strings, made on first use
}

func (d *decoder) value(i int, p *typePlan, v reflect.Value) (int, *failure) {
	data := d.data
	if i >= len(data) {
		return 0, endOfInput(data)
	}
	c := data[i]
	if c == 'n' {
		// null leaves the field at its zero value, which it already has.
		return literal(data, i, "null")
	}
	switch p.kind {
	case kindString:
		if c == '"' {
			end, escaped, f := scanString(data, i)
			if f != nil {
				return 0, f
			}
			raw := data[i+1 : end-1]
			if escaped {
				d.buf = unescape(d.buf[:0], raw)
				raw = d.buf
			}
			v.SetString(string(raw))
			return end, nil
		}
	case kindBool:
		if c == 't' || c == 'f' {
			lit := "false"
			if c == 't' {
				lit = "true"
			}
			end, f := literal(data, i, lit)
			if f == nil {
				v.SetBool(c == 't')
			}
			return end, f
		}
	case kindInt, kindUint, kindFloat:
		if c == '-' || '0' <= c && c <= '9' {
			return d.number(i, p, v)
		}
	case kindStruct:
		if c == '{' {
			return d.object(i, p, v)
		}
	case kindSlice:
		if c == '[' {
			return d.array(i, p, v)
		}
	case kindPointer:
		ptr := reflect.New(p.typ.Elem())
		end, f := d.value(i, p.elem, ptr.Elem())
		if f != nil {
			return 0, f
		}
		v.Set(ptr)
		return end, nil
	}
	got := jsonType(c)
	if got == "" {
		return 0, unexpected(data, i, "a JSON value")
	}
	return 0, &failure{kind: KindWrongType, offset: i, detail: p.want, got: got}
}

func (d *decoder) object(i int, p *typePlan, v reflect.Value) (int, *failure) {
	data := d.data
	if d.depth++; d.depth > MaxDepth {
		return 0, &failure{kind: KindTooDeep, offset: i}
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		d.depth--
		return i + 1, nil
	}
	seen := newFieldSet(len(p.fields))
	next := 0 // bodies usually list fields in struct order: try that first
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, unexpected(data, i, "a string key")
		}
		keyAt := i
		end, escaped, f := scanString(data, i)
		if f != nil {
			return 0, f
		}
		key := data[i+1 : end-1]
		if escaped {
			d.buf = unescape(d.buf[:0], key)
			key = d.buf
		}
		if i = skipSpace(data, end); i >= len(data) || data[i] != ':' {
			return 0, unexpected(data, i, "':' after object key")
		}
		i = skipSpace(data, i+1)

		fi := -1
		if next < len(p.fields) && string(key) == p.fields[next].name {
			fi = next
		} else if n, ok := p.byName[string(key)]; ok {
			fi = n
		}
		if fi < 0 {
			return 0, unknownKey(keyAt, p, key)
		}
		fp := &p.fields[fi]
		if seen.has(fi) {
			return 0, &failure{kind: KindDuplicateKey, offset: keyAt, path: fp.name}
		}
		seen.add(fi)
		next = fi + 1
		if i, f = d.value(i, fp.plan, v.Field(fp.index)); f != nil {
			return 0, f.within(fp.name)
		}

		i = skipSpace(data, i)
		switch {
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		case i < len(data) && data[i] == '}':
			d.depth--
			return i + 1, nil
		default:
			return 0, unexpected(data, i, "',' or '}' after object member")
		}
	}
}

func (d *decoder) array(i int, p *typePlan, v reflect.Value) (int, *failure) {
	data := d.data
	if d.depth++; d.depth > MaxDepth {
		return 0, &failure{kind: KindTooDeep, offset: i}
	}
	// [] gives an empty slice, not nil, as with encoding/json: the sender
	// said "none", which is not the same as saying nothing.
	v.Set(reflect.MakeSlice(p.typ, 0, 0))
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		d.depth--
		return i + 1, nil
	}
	for n := 0; ; n++ {
		if n == v.Cap() {
			v.Grow(1)
		}
		v.SetLen(n + 1)
		var f *failure
		if i, f = d.value(i, p.elem, v.Index(n)); f != nil {
			return 0, f.within("[" + strconv.Itoa(n) + "]")
		}
		i = skipSpace(data, i)
		switch {
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		case i < len(data) && data[i] == ']':
			d.depth--
			return i + 1, nil
		default:
			return 0, unexpected(data, i, "',' or ']' after array element")
		}
	}
}

func (d *decoder) number(i int, p *typePlan, v reflect.Value) (int, *failure) {
	end, integer, f := scanNumber(d.data, i)
	if f != nil {
		return 0, f
	}
	lit := d.data[i:end]
	bits := p.typ.Bits()
	switch p.kind {
	case kindInt:
		if !integer {
			return 0, &failure{kind: KindWrongType, offset: i, detail: "an integer", got: "a number with a fraction or exponent"}
		}
		neg := lit[0] == '-'
		if neg {
			lit = lit[1:]
		}
		u, ok := parseDigits(lit)
		var n int64
		switch {
		case !ok:
		case neg && u <= 1<<63:
			n = -int64(u) // 1<<63 wraps to math.MinInt64, which is right
		case !neg && u <= math.MaxInt64:
			n = int64(u)
		default:
			ok = false
		}
		if !ok || v.OverflowInt(n) {
			return 0, &failure{kind: KindWrongType, offset: i, got: "a number out of range",
				detail: fmt.Sprintf("an integer from %d to %d", int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)}
		}
		v.SetInt(n)
	case kindUint:
		if !integer {
			return 0, &failure{kind: KindWrongType, offset: i, detail: "an integer", got: "a number with a fraction or exponent"}
		}
		u, ok := parseDigits(lit) // fails on a minus sign, even for -0, as in encoding/json
		if !ok || v.OverflowUint(u) {
			return 0, &failure{kind: KindWrongType, offset: i, got: "a number out of range",
				detail: fmt.Sprintf("an integer from 0 to %d", uint64(math.MaxUint64)>>(64-bits))}
		}
		v.SetUint(u)
	case kindFloat:
		x, err := strconv.ParseFloat(string(lit), bits)
		if err != nil {
			// The literal was checked, so this can only be ErrRange.
			return 0, &failure{kind: KindWrongType, offset: i, got: "a number out of range",
				detail: fmt.Sprintf("a number that fits a %d-bit float", bits)}
		}
		v.SetFloat(x)
	}
	return end, nil
}

// parseDigits parses a run of decimal digits; false if it is empty, holds
// anything else, or overflows uint64.
func parseDigits(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		digit := uint64(c - '0')
		if n > (math.MaxUint64-digit)/10 {
			return 0, false
		}
		n = n*10 + digit
	}
	return n, true
}

// unknownKey builds the failure for a key that names no field of p.
func unknownKey(offset int, p *typePlan, key []byte) *failure {
	f := &failure{kind: KindUnknownField, offset: offset, path: truncateKey(key), detail: p.known}
	for _, fp := range p.fields {
		if bytes.EqualFold(key, []byte(fp.name)) {
			f.kind, f.detail = KindCaseVariantKey, fp.name
			break
		}
	}
	return f
}

// maxKeyInError bounds how much of a sender's key goes into an error, so
// that a huge or odd key cannot make a huge error or log line.
const maxKeyInError = 64

func truncateKey(key []byte) string {
	if len(key) <= maxKeyInError {
		return string(key)
	}
	n := maxKeyInError
	for n > 0 && !utf8.RuneStart(key[n]) {
		n--
	}
	return string(key[:n]) + "..."
}

// fieldSet records which fields of one object were seen, without
// allocating for structs of up to 64 fields.
type fieldSet struct {
	small uint64
	large []bool
}

func newFieldSet(n int) fieldSet {
	if n > 64 {
		return fieldSet{large: make([]bool, n)}
	}
	return fieldSet{}
}

func (s *fieldSet) has(i int) bool {
	if s.large != nil {
		return s.large[i]
	}
	return s.small&(1<<i) != 0
}

func (s *fieldSet) add(i int) {
	if s.large != nil {
		s.large[i] = true
		return
	}
	s.small |= 1 << i
}
