package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"
)

// valueKind is what a plan decodes; the reflect kinds collapse onto these.
type valueKind uint8

const (
	kindString valueKind = iota
	kindBool
	kindInt
	kindUint
	kindFloat
	kindStruct
	kindPointer
	kindSlice
)

// typePlan is everything the decoder needs about one Go type, worked out
// once per type so that the hot path does no tag parsing or name folding.
type typePlan struct {
	kind valueKind
	typ  reflect.Type
	elem *typePlan // kindPointer, kindSlice

	// kindStruct
	fields []fieldPlan
	byName map[string]int
	known  string // for messages: `expected one of: "url", "page_url", ...`

	// want describes the expected JSON value for messages: "a string".
	want string
}

type fieldPlan struct {
	name  string // exact JSON key
	index int    // reflect field index
	plan  *typePlan
}

// planEntry is what the cache holds: a plan, or why the type cannot be
// decoded (cached too, so a bad type costs a map lookup, not a rebuild).
type planEntry struct {
	plan *typePlan
	err  error
}

// plans caches per reflect.Type. It is package state because Unmarshal is
// a plain function; it only grows with the number of distinct target types
// in the program, which is small and fixed.
var plans sync.Map // reflect.Type -> planEntry

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonNumberType      = reflect.TypeFor[json.Number]()
)

// planFor returns the plan for struct type t.
func planFor(t reflect.Type) (*typePlan, error) {
	if e, ok := plans.Load(t); ok {
		pe := e.(planEntry)
		return pe.plan, pe.err
	}
	var pe planEntry
	if t.Kind() != reflect.Struct {
		pe.err = fmt.Errorf("%w: %s is not a struct; pass a pointer to a struct", ErrUnsupportedTarget, t)
	} else {
		b := planBuilder{building: map[reflect.Type]*typePlan{}}
		pe.plan, pe.err = b.build(t)
	}
	e, _ := plans.LoadOrStore(t, pe)
	pe = e.(planEntry)
	return pe.plan, pe.err
}

// planBuilder builds the plans of one type graph. building holds plans
// under construction so that recursive types (type Node struct{ Next *Node })
// end up as a cyclic plan instead of endless recursion.
type planBuilder struct {
	building map[reflect.Type]*typePlan
}

func (b *planBuilder) build(t reflect.Type) (*typePlan, error) {
	if p := b.building[t]; p != nil {
		return p, nil
	}
	if t == jsonNumberType {
		return nil, fmt.Errorf("%w: json.Number is not supported; use a float64 or integer field", ErrUnsupportedTarget)
	}
	// A type with its own decoding would be decoded differently here than
	// by encoding/json; refuse it rather than guess.
	if t.Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return nil, fmt.Errorf("%w: %s has its own UnmarshalJSON or UnmarshalText", ErrUnsupportedTarget, t)
	}
	p := &typePlan{typ: t}
	b.building[t] = p
	switch t.Kind() {
	case reflect.String:
		p.kind, p.want = kindString, "a string"
	case reflect.Bool:
		p.kind, p.want = kindBool, "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.kind, p.want = kindInt, "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		p.kind, p.want = kindUint, "an integer"
	case reflect.Float32, reflect.Float64:
		p.kind, p.want = kindFloat, "a number"
	case reflect.Pointer:
		// The kind is set before recursing so that a cycle can be seen.
		p.kind = kindPointer
		elem, err := b.build(t.Elem())
		if err != nil {
			return nil, err
		}
		p.elem = elem
		for q := elem; q != nil && q.kind == kindPointer; q = q.elem {
			if q == p {
				// type P *P: no JSON value but null could ever fill it.
				return nil, fmt.Errorf("%w: %s is a pointer to itself", ErrUnsupportedTarget, t)
			}
		}
		// A pointer has no want of its own: the decoder always passes
		// non-null values on to the element.
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			// encoding/json reads []byte as base64 text; we would read an
			// array of numbers. Neither is a good request field.
			return nil, fmt.Errorf("%w: %s: byte slices are not supported", ErrUnsupportedTarget, t)
		}
		p.kind, p.want = kindSlice, "an array"
		elem, err := b.build(t.Elem())
		if err != nil {
			return nil, err
		}
		p.elem = elem
	case reflect.Struct:
		p.kind, p.want = kindStruct, "an object"
		if err := b.buildFields(p); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: %s: kind %s is not supported", ErrUnsupportedTarget, t, t.Kind())
	}
	return p, nil
}

func (b *planBuilder) buildFields(p *typePlan) error {
	t := p.typ
	p.byName = make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if !sf.IsExported() && ft.Kind() != reflect.Struct {
				continue // encoding/json ignores these too
			}
			if name == "" && ft.Kind() == reflect.Struct || !sf.IsExported() {
				return fmt.Errorf("%w: %s: embedded field %s: promoted fields are not supported; give it a json tag name or make it a named field",
					ErrUnsupportedTarget, t, sf.Name)
			}
		} else if !sf.IsExported() {
			continue
		}
		if hasTag && name != "" && !isValidTag(name) {
			return fmt.Errorf("%w: %s.%s: json tag name %q is not valid", ErrUnsupportedTarget, t, sf.Name, name)
		}
		if name == "" {
			name = sf.Name
		}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "", "omitempty", "omitzero":
			default:
				// ",string" changes the wire format; v2 options such as
				// "case:ignore" would suggest a leniency we do not have.
				return fmt.Errorf("%w: %s.%s: json tag option %q is not supported", ErrUnsupportedTarget, t, sf.Name, o)
			}
		}
		for _, f := range p.fields {
			if bytes.EqualFold([]byte(f.name), []byte(name)) {
				// Two names equal under case folding would make a body with
				// both keys a case-variant, and encoding/json drops both.
				return fmt.Errorf("%w: %s: fields %q and %q differ only in case", ErrUnsupportedTarget, t, f.name, name)
			}
		}
		fp, err := b.build(sf.Type)
		if err != nil {
			return err
		}
		p.byName[name] = len(p.fields)
		p.fields = append(p.fields, fieldPlan{name: name, index: i, plan: fp})
	}
	names := make([]string, 0, len(p.fields))
	for i, f := range p.fields {
		if i == 20 {
			names = append(names, "...")
			break
		}
		names = append(names, fmt.Sprintf("%q", f.name))
	}
	p.known = "expected one of: " + strings.Join(names, ", ")
	if len(p.fields) == 0 {
		p.known = "this object takes no fields"
	}
	return nil
}

// isValidTag is encoding/json's rule for tag names, so that the two agree
// on which names exist.
func isValidTag(s string) bool {
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return s != ""
}
