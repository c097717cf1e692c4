package authclient

import (
	"math"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-querystring/query"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// planned is a struct queryValues encodes from its plan: every plain kind,
// with and without omitempty, pointers, a []string, a repeated name, an
// untagged field, an ignored one and an unexported one.
type planned struct {
	S      string   `url:"s"`
	SO     string   `url:"so,omitempty"`
	B      bool     `url:"b"`
	BO     bool     `url:"bo,omitempty"`
	I      int      `url:"i"`
	IO     int64    `url:"io,omitempty"`
	I8     int8     `url:"i8"`
	U      uint     `url:"u,omitempty"`
	U16    uint16   `url:"u16"`
	F      float64  `url:"f"`
	FO     float64  `url:"fo,omitempty"`
	F32    float32  `url:"f32"`
	PS     *string  `url:"ps"`
	PSO    *string  `url:"pso,omitempty"`
	PI     *int     `url:"pi,omitempty"`
	L      []string `url:"l"`
	LO     []string `url:"lo,omitempty"`
	Again  string   `url:"s"`
	NoTag  string
	Comma  string `url:",omitempty"`
	Skip   string `url:"-"`
	hidden string
}

// notPlanned are structs go-querystring encodes itself: a queryValues
// plan would get them wrong.
type (
	stringer   string
	withOption struct {
		B bool `url:"b,int"`
	}
	withList struct {
		L []string `url:"l,comma"`
	}
	withDel struct {
		L []string `url:"l" del:"+"`
	}
	withTime struct {
		T time.Time `url:"t"`
	}
	withStringer struct {
		S stringer `url:"s"`
	}
	withNested struct {
		N struct{ A string } `url:"n"`
	}
	inner        struct{ A string }
	withEmbedded struct {
		inner
		B string `url:"b"`
	}
	withInts struct {
		L []int `url:"l"`
	}
	withPtrPtr struct {
		P **string `url:"p"`
	}
)

func (s stringer) String() string { return "str:" + string(s) }

// FuzzQueryPlan: for any values of a planned struct, queryValues gives
// what go-querystring gives.
func FuzzQueryPlan(f *testing.F) {
	f.Add("a b&c", "", true, false, int64(2), int64(0), uint64(20), 1.5, 0.0, "x", "")
	f.Add("", "é/?#%", false, true, int64(-1), int64(math.MinInt64), uint64(math.MaxUint64), math.Inf(1), math.Copysign(0, -1), "", "y")
	f.Add("1e6", "z", true, true, int64(1e6), int64(127), uint64(0), 1e6, 1e21, "a,b", "c")
	f.Add("NaN", "", false, false, int64(0), int64(-128), uint64(65535), math.NaN(), 1e-7, "", "")
	f.Add("\xff", "\x00", false, false, int64(0), int64(0), uint64(0), 123456789.0, -0.000001, "\r\n", "")
	f.Fuzz(func(t *testing.T, s, s2 string, b, b2 bool, i, i2 int64, u uint64, fl, fl2 float64, l1, l2 string) {
		v := planned{
			S: s, SO: s2, B: b, BO: b2, I: int(i), IO: i2, I8: int8(i2), U: uint(u), U16: uint16(u),
			F: fl, FO: fl2, F32: float32(fl), Again: s2, NoTag: s, Comma: s2, Skip: s, hidden: s,
		}
		if b {
			v.PS, v.PI = &s2, new(int)
		}
		if b2 {
			v.PSO = &s
			*(&v.L) = []string{l1, l2}
		}
		if l1 != "" {
			v.LO = []string{l1}
		}
		want, werr := query.Values(v)
		require.NoError(t, werr)
		for _, in := range []any{v, &v} {
			got, err := queryValues(in)
			require.NoError(t, err)
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("%+v:\ngo-querystring %v\nqueryValues    %v", v, want, got)
			}
		}
	})
}

// TestQueryPlanLeavesTheRestToGoQuerystring: structs with fields a plan
// does not encode exactly get no plan, and their values are
// go-querystring's; nil pointers, non-structs and url.Values too.
func TestQueryPlanLeavesTheRestToGoQuerystring(t *testing.T) {
	s := "v"
	ps := &s
	for _, v := range []any{
		withOption{B: true}, withList{L: []string{"a", "b"}}, withDel{L: []string{"a", "b"}},
		withTime{T: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}, withStringer{S: "x"},
		withNested{N: struct{ A string }{"x"}}, withEmbedded{inner: inner{A: "a"}, B: "b"},
		withInts{L: []int{1, 2}}, withPtrPtr{P: &ps},
	} {
		assert.Nil(t, planFor(reflect.TypeOf(v)), "%T must have no plan", v)
		want, werr := query.Values(v)
		got, err := queryValues(v)
		assert.Equal(t, werr, err)
		assert.Equal(t, want, got, "%T", v)
	}
	assert.NotNil(t, planFor(reflect.TypeOf(planned{})))
	for _, v := range []any{(*planned)(nil), nil, 3, "x"} {
		want, werr := query.Values(v)
		got, err := queryValues(v)
		assert.Equal(t, want, got, "%#v", v)
		assert.Equal(t, werr == nil, err == nil, "%#v", v)
	}
	var u url.Values
	_, err := queryValues(u)
	assert.Error(t, err, "a url.Values is Query's to use as it is, not a struct")
}

// TestQueryPlanAllocations: a planned struct of four fields costs the map,
// one slice per parameter and the formatted numbers; go-querystring's
// reflection on the type (a tag split per field, each value boxed and
// printed with fmt) is gone.
func TestQueryPlanAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	type seriesQuery struct {
		LibraryID string `url:"library_id,omitempty"`
		Search    string `url:"search,omitempty"`
		Page      int    `url:"page"`
		Size      int    `url:"size"`
	}
	q := seriesQuery{LibraryID: "0B7QW9RQ6J4PX", Search: "one piece", Page: 2, Size: 200}
	planned := testing.AllocsPerRun(100, func() { _, _ = queryValues(q) })
	reference := testing.AllocsPerRun(100, func() { _, _ = query.Values(q) })
	t.Logf("queryValues %.0f allocations, go-querystring %.0f", planned, reference)
	assert.LessOrEqual(t, planned, reference/2)
}
