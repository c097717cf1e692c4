package authclient

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-querystring/query"
)

// queryValues encodes v, a struct or a pointer to one, as
// query.Values(v) does. go-querystring walks the struct's type on every
// call (each field's tag split, each value boxed and formatted with
// fmt.Sprint); what of that depends on the type alone is worked out once
// per type here, into a queryPlan, and a struct whose every field the plan
// can encode exactly is encoded from it, without reflection on the type
// and without fmt. Any other struct (a field of another kind, with
// methods, embedded, or with a tag option but omitempty) is left to
// go-querystring, which is the reference: FuzzQueryPlan checks that both
// give the same values.
func queryValues(v any) (url.Values, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return query.Values(v)
	}
	p := planFor(rv.Type())
	if p == nil {
		return query.Values(v)
	}
	return p.encode(rv), nil
}

// queryPlan is how to encode a struct type: its fields, in order.
type queryPlan struct {
	fields []queryField
}

// queryField is one field of a planned struct.
type queryField struct {
	index     int
	name      string
	omitEmpty bool
	kind      reflect.Kind // of the value, under ptr
	ptr       bool         // the field is a pointer to the value
	list      bool         // the field is a []string, one parameter per element
}

// queryPlans caches a *queryPlan per reflect.Type; a nil one means the
// type is go-querystring's to encode.
var queryPlans sync.Map

func planFor(t reflect.Type) *queryPlan {
	if p, ok := queryPlans.Load(t); ok {
		return p.(*queryPlan)
	}
	p := makePlan(t)
	queryPlans.Store(t, p)
	return p
}

// makePlan plans t, or returns nil if a field is one it does not encode
// exactly as go-querystring does.
func makePlan(t reflect.Type) *queryPlan {
	p := &queryPlan{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil // embedded: go-querystring's rules for those
		}
		if sf.PkgPath != "" {
			continue // unexported: go-querystring skips it too
		}
		tag := sf.Tag.Get("url")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := queryField{index: i, name: name}
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "":
			case "omitempty":
				f.omitEmpty = true
			default:
				return nil // "int", "comma", "unix", … and options it ignores
			}
		}
		if f.name == "" {
			f.name = sf.Name
		}
		ft := sf.Type
		if ft.NumMethod() > 0 {
			return nil // an Encoder, a Stringer: their own say
		}
		switch {
		case ft.Kind() == reflect.Pointer:
			f.ptr, ft = true, ft.Elem()
		case ft.Kind() == reflect.Slice && sf.Tag.Get("del") == "":
			f.list, ft = true, ft.Elem()
		}
		if ft.NumMethod() > 0 || !plainKind(ft.Kind()) || f.list && ft.Kind() != reflect.String {
			return nil
		}
		f.kind = ft.Kind()
		p.fields = append(p.fields, f)
	}
	return p
}

// plainKind reports whether fmt.Sprint prints a value of kind k, with no
// methods, as scalarString does.
func plainKind(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// encode encodes rv, a struct of the plan's type. The values of the
// parameters that have one share one backing array, each a slice of it
// whose capacity is its length, so that adding to one copies it.
func (p *queryPlan) encode(rv reflect.Value) url.Values {
	vals := make(url.Values, len(p.fields))
	backing := make([]string, 0, len(p.fields))
	add := func(name, v string) {
		if vs, ok := vals[name]; ok {
			vals[name] = append(vs, v) // a repeated name
			return
		}
		backing = append(backing, v)
		vals[name] = backing[len(backing)-1 : len(backing) : len(backing)]
	}
	for _, f := range p.fields {
		fv := rv.Field(f.index)
		switch {
		case f.list:
			// An empty list sends nothing, with or without omitempty.
			for i := range fv.Len() {
				vals[f.name] = append(vals[f.name], fv.Index(i).String())
			}
		case f.ptr:
			if fv.IsNil() {
				if !f.omitEmpty {
					add(f.name, "")
				}
				continue
			}
			add(f.name, scalarString(fv.Elem(), f.kind))
		default:
			if f.omitEmpty && emptyScalar(fv, f.kind) {
				continue
			}
			add(f.name, scalarString(fv, f.kind))
		}
	}
	return vals
}

// emptyScalar is go-querystring's isEmptyValue for a value of a plain
// kind: the zero value, and for a float also -0 (v.Float() == 0).
func emptyScalar(v reflect.Value, k reflect.Kind) bool {
	if k == reflect.Float32 || k == reflect.Float64 {
		return v.Float() == 0
	}
	return v.IsZero()
}

// scalarString is fmt.Sprint(v.Interface()) for a value of a plain kind.
func scalarString(v reflect.Value, k reflect.Kind) string {
	switch k {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float32:
		return strconv.FormatFloat(v.Float(), 'g', -1, 32)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return strconv.FormatUint(v.Uint(), 10)
}
