package strictjson

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// failure is an error on its way up the decoder. The field path is only
// known once the recursion unwinds, so the message is written last, in
// finish.
type failure struct {
	kind   Kind
	offset int
	path   string
	// detail depends on kind: what went wrong for byte-level kinds, the
	// known field names for KindUnknownField, the right name for
	// KindCaseVariantKey, what was expected for KindWrongType.
	detail string
	got    string // KindWrongType, KindNotObject: what was sent
}

// byteLevel reports whether f is about the bytes rather than the content.
// Such failures take precedence and carry no field path.
func (f *failure) byteLevel() bool {
	switch f.kind {
	case KindSyntax, KindInvalidUTF8, KindTooDeep, KindTrailingData:
		return true
	}
	return false
}

func (f *failure) finish() *Error {
	e := &Error{Kind: f.kind, Offset: f.offset}
	if !f.byteLevel() {
		e.Field = f.path
	}
	switch f.kind {
	case KindSyntax:
		e.Message = fmt.Sprintf("invalid JSON at offset %d: %s", f.offset, f.detail)
	case KindInvalidUTF8:
		e.Message = fmt.Sprintf("invalid UTF-8 at offset %d: %s", f.offset, f.detail)
	case KindTooDeep:
		e.Message = fmt.Sprintf("JSON nested more than %d levels deep at offset %d", MaxDepth, f.offset)
	case KindTrailingData:
		e.Message = fmt.Sprintf("unexpected data at offset %d after the JSON object; send exactly one object", f.offset)
	case KindNotObject:
		e.Message = fmt.Sprintf("the body must be a JSON object, got %s", f.got)
	case KindDuplicateKey:
		e.Message = fmt.Sprintf("field %q appears more than once; send each field once", f.path)
	case KindCaseVariantKey:
		e.Message = fmt.Sprintf("field %q is not known: field names are case-sensitive; did you mean %q?", f.path, f.detail)
	case KindUnknownField:
		e.Message = fmt.Sprintf("field %q is not known; %s", f.path, f.detail)
	case KindWrongType:
		e.Message = fmt.Sprintf("field %q must be %s, got %s", f.path, f.detail, f.got)
	}
	return e
}

// within prefixes the path of f with the field or element it occurred in.
// seg is a field name, or "[n]" for a slice element.
func (f *failure) within(seg string) *failure {
	f.path = joinPath(seg, f.path)
	if f.kind == KindCaseVariantKey {
		f.detail = joinPath(seg, f.detail) // the right name, as a full path too
	}
	return f
}

func joinPath(seg, path string) string {
	switch {
	case path == "":
		return seg
	case path[0] == '[':
		return seg + path
	}
	return seg + "." + path
}

func syntaxError(offset int, format string, args ...any) *failure {
	return &failure{kind: KindSyntax, offset: offset, detail: fmt.Sprintf(format, args...)}
}

func endOfInput(data []byte) *failure {
	return syntaxError(len(data), "unexpected end of input")
}

// unexpected reports the byte at i (or the end of input) where something
// else was expected.
func unexpected(data []byte, i int, expected string) *failure {
	if i >= len(data) {
		return endOfInput(data)
	}
	return syntaxError(i, "expected %s, got %s", expected, describeByte(data, i))
}

// describeByte names the character at data[i] for a message. The input is
// UTF-8 by then, so this is a whole character.
func describeByte(data []byte, i int) string {
	r, _ := utf8.DecodeRune(data[i:])
	return fmt.Sprintf("%q", r)
}

// firstInvalidUTF8 returns the offset of the first byte that is not part of
// a valid UTF-8 sequence. Only called once utf8.Valid has said there is one.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(data)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// plainStringByte marks the bytes a string may hold unescaped and that need
// no attention: everything but '"', '\\' and the control characters.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the string starting with the quote at data[i] and
// returns the offset just past its closing quote, and whether it holds
// escapes. UTF-8 validity was checked for the whole input beforehand; here
// we check escapes, including that surrogate escapes come in pairs.
func scanString(data []byte, i int) (end int, escaped bool, f *failure) {
	i++
	for {
		for i < len(data) && plainStringByte[data[i]] {
			i++
		}
		if i >= len(data) {
			return 0, false, endOfInput(data)
		}
		switch c := data[i]; c {
		case '"':
			return i + 1, escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(data) {
				return 0, false, endOfInput(data)
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, f := hexEscape(data, i)
				if f != nil {
					return 0, false, f
				}
				if !utf16.IsSurrogate(r) {
					i += 6
					break
				}
				if r >= 0xdc00 {
					return 0, false, loneSurrogate(data, i)
				}
				if i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
					r2, f := hexEscape(data, i+6)
					if f != nil {
						return 0, false, f
					}
					if 0xdc00 <= r2 && r2 <= 0xdfff {
						i += 12
						break
					}
				}
				return 0, false, loneSurrogate(data, i)
			default:
				return 0, false, syntaxError(i+1, `invalid escape in string: a backslash must be followed by one of " \ / b f n r t u, got %s`,
					describeByte(data, i+1))
			}
		default:
			return 0, false, syntaxError(i, "control character U+%04X in string; write it as \\u%04x", c, c)
		}
	}
}

func loneSurrogate(data []byte, i int) *failure {
	return &failure{kind: KindInvalidUTF8, offset: i,
		detail: fmt.Sprintf(`%s is an unpaired UTF-16 surrogate, which is not a character`, data[i:i+6])}
}

// hexEscape decodes the \uXXXX escape at data[i].
func hexEscape(data []byte, i int) (rune, *failure) {
	if i+6 > len(data) {
		// Report a bad digit before the end if there is one.
		for j := i + 2; j < len(data); j++ {
			if hexVal(data[j]) < 0 {
				return 0, syntaxError(j, `expected four hex digits after \u, got %s`, describeByte(data, j))
			}
		}
		return 0, endOfInput(data)
	}
	var r rune
	for j := i + 2; j < i+6; j++ {
		v := hexVal(data[j])
		if v < 0 {
			return 0, syntaxError(j, `expected four hex digits after \u, got %s`, describeByte(data, j))
		}
		r = r<<4 | rune(v)
	}
	return r, nil
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// unescape appends the decoded content of a string checked by scanString
// (without its quotes) to dst.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		c := s[i+1]
		switch c {
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r = utf16.DecodeRune(r, hex4(s[i+2:]))
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			continue
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		}
		dst = append(dst, c)
		i += 2
	}
	return dst
}

// hex4 decodes four hex digits already checked by scanString.
func hex4(s []byte) rune {
	return rune(hexVal(s[0])<<12 | hexVal(s[1])<<8 | hexVal(s[2])<<4 | hexVal(s[3]))
}

// scanNumber checks the number starting at data[i] and returns the offset
// just past it, and whether it is an integer literal (no fraction or
// exponent).
func scanNumber(data []byte, i int) (end int, integer bool, f *failure) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return 0, false, endOfInput(data)
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return 0, false, unexpected(data, i, "a digit")
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		integer = false
		j := skipDigits(data, i+1)
		if j == i+1 {
			return 0, false, unexpected(data, j, "a digit after the decimal point")
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return 0, false, unexpected(data, j, "a digit in the exponent")
		}
		i = j
	}
	return i, integer, nil
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// literal checks that data[i:] starts with lit (true, false or null).
func literal(data []byte, i int, lit string) (int, *failure) {
	for j := 0; j < len(lit); j++ {
		if i+j >= len(data) {
			return 0, endOfInput(data)
		}
		if data[i+j] != lit[j] {
			return 0, syntaxError(i+j, "invalid literal: expected %s, got %s", lit, describeByte(data, i+j))
		}
	}
	return i + len(lit), nil
}

// jsonType names the JSON type of the value starting with c, for messages;
// "" if no value starts with c.
func jsonType(c byte) string {
	switch {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "number"
	}
	return ""
}

// validate checks that data is one JSON value followed by whitespace, with
// nesting within MaxDepth. It is the error path only: after the decoder
// finds a problem with the content, validate looks for a problem with the
// bytes further on, which is reported instead.
func validate(data []byte) *failure {
	i, f := skipValue(data, skipSpace(data, 0), 1)
	if f != nil {
		return f
	}
	if i = skipSpace(data, i); i < len(data) {
		return &failure{kind: KindTrailingData, offset: i}
	}
	return nil
}

// skipValue checks the value at data[i], at nesting level depth if it is
// an object or array, and returns the offset just past it.
func skipValue(data []byte, i, depth int) (int, *failure) {
	if i >= len(data) {
		return 0, endOfInput(data)
	}
	switch c := data[i]; c {
	case '{', '[':
		if depth > MaxDepth {
			return 0, &failure{kind: KindTooDeep, offset: i}
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == closer {
			return i + 1, nil
		}
		for {
			var f *failure
			if c == '{' {
				if i >= len(data) || data[i] != '"' {
					return 0, unexpected(data, i, "a string key")
				}
				if i, _, f = scanString(data, i); f != nil {
					return 0, f
				}
				if i = skipSpace(data, i); i >= len(data) || data[i] != ':' {
					return 0, unexpected(data, i, "':' after object key")
				}
				i = skipSpace(data, i+1)
			}
			if i, f = skipValue(data, i, depth+1); f != nil {
				return 0, f
			}
			i = skipSpace(data, i)
			switch {
			case i < len(data) && data[i] == ',':
				i = skipSpace(data, i+1)
			case i < len(data) && data[i] == closer:
				return i + 1, nil
			case c == '{':
				return 0, unexpected(data, i, "',' or '}' after object member")
			default:
				return 0, unexpected(data, i, "',' or ']' after array element")
			}
		}
	case '"':
		end, _, f := scanString(data, i)
		return end, f
	case 't':
		return literal(data, i, "true")
	case 'f':
		return literal(data, i, "false")
	case 'n':
		return literal(data, i, "null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			end, _, f := scanNumber(data, i)
			return end, f
		}
		return 0, unexpected(data, i, "a JSON value")
	}
}
