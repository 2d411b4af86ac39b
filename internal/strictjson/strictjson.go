// Package strictjson decodes small JSON request bodies into Go structs and
// refuses what encoding/json lets through silently: invalid UTF-8 (which it
// replaces with U+FFFD), duplicate keys (the last one wins), keys whose case
// differs from the struct tag (it matches "URL" to `json:"url"`), unknown
// fields, trailing data and unbounded nesting.
//
// A body that reaches a handler through Unmarshal therefore means exactly
// one thing: what the sender wrote is what the struct holds.
//
// # Accepted input
//
// The body must be exactly one JSON object (RFC 8259), optionally surrounded
// by JSON whitespace, encoded as UTF-8. Every key must be the exact name of a
// field of the target struct after JSON unescaping ("\u0075rl" is "url"),
// at most once per object. Values must have the field's type:
//
//   - string: a JSON string
//   - bool: true or false
//   - intN / uintN: an integer literal without fraction or exponent, in range
//     (so 1.0 and 1e2 are refused for integer fields, as encoding/json does)
//   - float32 / float64: any JSON number in range
//   - struct: an object, decoded by the same rules
//   - pointer: whatever its element takes
//   - slice: an array of values its element takes; [] gives an empty,
//     non-nil slice
//
// null is accepted for every field and leaves it unset: the field keeps its
// zero value (nil for pointers and slices, "" for strings, and so on). So a
// handler cannot tell "absent" from "null", and need not.
//
// Unmarshal replaces *v entirely: fields absent from the body or given as
// null hold their zero value afterwards, whatever *v held before. On error
// *v is left zero, so half-decoded data never reaches a caller that ignores
// the error.
//
// # Unicode
//
// The whole body is checked to be UTF-8 before anything else. A \u escape
// of a lone UTF-16 surrogate (such as "\ud800", which encoding/json quietly
// turns into U+FFFD) is refused as KindInvalidUTF8: it names no character,
// and the value we stored would not be the one that was sent. A correctly
// paired surrogate escape ("\ud83d\ude00") is accepted. "\u0000" and other
// escaped control characters are valid JSON and accepted; judging content
// is the caller's validation, not the decoder's.
//
// # Errors
//
// Problems with the input are reported as *Error. When a body has several
// problems, one with the bytes themselves (KindSyntax, KindInvalidUTF8,
// KindTooDeep, KindTrailingData) is reported in preference to one with the
// content, so a body that is not valid JSON always says so. Messages never
// quote string values (they may be reported URLs): they name fields, quote
// keys (truncated to 64 bytes), give byte offsets and at most the one
// character where the syntax broke.
//
// Problems with the target type (not a pointer to a struct, an unsupported
// field type such as a map or interface, a type with its own UnmarshalJSON,
// tag names that collide) are programming errors: they wrap
// ErrUnsupportedTarget and are never *Error.
package strictjson

import "errors"

// Kind names a class of refused input. Kinds are stable strings so that an
// HTTP adapter can put them into problem responses.
type Kind string

const (
	// KindSyntax is input that is not valid JSON.
	KindSyntax Kind = "syntax"
	// KindInvalidUTF8 is input that is not UTF-8, or a \u escape of an
	// unpaired UTF-16 surrogate.
	KindInvalidUTF8 Kind = "invalid-utf8"
	// KindNotObject is valid JSON whose top-level value is not an object.
	KindNotObject Kind = "not-object"
	// KindDuplicateKey is a key that appears twice in one object.
	KindDuplicateKey Kind = "duplicate-key"
	// KindCaseVariantKey is a key that matches a field name only when case
	// is ignored ("URL" for "url"). encoding/json would accept it.
	KindCaseVariantKey Kind = "case-variant-key"
	// KindUnknownField is a key that names no field.
	KindUnknownField Kind = "unknown-field"
	// KindWrongType is a value of the wrong JSON type for its field, or a
	// number the field cannot hold.
	KindWrongType Kind = "wrong-type"
	// KindTrailingData is anything but whitespace after the object.
	KindTrailingData Kind = "trailing-data"
	// KindTooDeep is nesting of objects and arrays beyond MaxDepth.
	KindTooDeep Kind = "too-deep"
)

// MaxDepth is how deeply objects and arrays may nest; the top-level object
// is level 1. Request bodies need two or three levels; the limit keeps a
// hostile body from costing stack and time.
const MaxDepth = 16

// ErrUnsupportedTarget is wrapped by every error about v rather than about
// the input: a bug in the caller, not in the request.
var ErrUnsupportedTarget = errors.New("strictjson: unsupported target")

// Error is input that Unmarshal refused.
type Error struct {
	Kind Kind
	// Field is the dotted path of the field concerned, such as
	// "client.name", with slice elements as "tags[2]". Keys that are not
	// field names appear as sent (truncated to 64 bytes). Empty for
	// problems that concern the bytes rather than a field (KindSyntax,
	// KindInvalidUTF8, KindTooDeep, KindTrailingData) and for
	// KindNotObject.
	Field string
	// Offset is the byte offset in the input where the problem starts.
	Offset int
	// Message says in plain English what is wrong and what was expected.
	Message string
}

func (e *Error) Error() string { return e.Message }
