package authclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listItem decodes an item of either fake's list: a Komga series (name)
// or an Audiobookshelf library item (media.metadata.title).
type listItem struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Media struct {
		Metadata struct {
			Title string `json:"title"`
		} `json:"metadata"`
	} `json:"media"`
}

func (it listItem) label() string {
	if it.Name != "" {
		return it.Name
	}
	return it.Media.Metadata.Title
}

// pagedFake is a fake server with a paged list, mounted under a path
// prefix, and a client for it.
type pagedFake struct {
	name     string
	c        *Client
	srv      *authtest.Server
	path     string // the list, relative to the base URL
	fakePath string // the list, relative to the fake's prefix (for Requests and Faults)
	add      func(n int)
	label    func(i int) string // the label of the i-th item (from 1)
	size     string             // the page size parameter
}

func (f *pagedFake) requests() int { return f.srv.Requests("GET", f.fakePath) }

func newKomgaPaged(t *testing.T, opts ...Option) *pagedFake {
	t.Helper()
	k := setupKomga(t)
	if len(opts) == 0 {
		opts = []Option{WithAPIKey(k.AddAPIKey(komgaAdmin, "pages"))}
	}
	return &pagedFake{
		name: "komga", c: newTestClient(t, Komga, k.URL, opts...), srv: k.Server,
		path: "api/v1/series", fakePath: "/api/v1/series",
		add:   func(n int) { k.AddSeries(n) },
		label: func(i int) string { return fmt.Sprintf("Series %05d", i) },
		size:  "size",
	}
}

func newABSPaged(t *testing.T) *pagedFake {
	t.Helper()
	a := authtest.NewAudiobookshelf() // under its default base path, /audiobookshelf
	t.Cleanup(a.Close)
	lib := a.AddLibrary("Books")
	key := a.AddAPIKey("root", "pages", 0, true)
	return &pagedFake{
		name: "audiobookshelf", c: newTestClient(t, Audiobookshelf, a.URL, WithAPIKey(key)), srv: a.Server,
		path: "api/libraries/" + lib + "/items", fakePath: "/api/libraries/" + lib + "/items",
		add:   func(n int) { a.AddLibraryItems(lib, n) },
		label: func(i int) string { return fmt.Sprintf("Book %05d", i) },
		size:  "limit",
	}
}

func pagedFakes(t *testing.T) []*pagedFake {
	return []*pagedFake{newKomgaPaged(t), newABSPaged(t)}
}

// collect ranges over seq and returns the items and the errors it yielded.
func collect[T any](seq func(func(T, error) bool)) (items []T, errs []error) {
	for v, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, v)
	}
	return items, errs
}

// Class: a list over several pages is read whole, in order, each item
// once, with one request per page: long lists, short last pages, exact
// multiples, one page, empty lists, on both page schemes, under a prefix.
func TestPaginateReadsEveryPageInOrder(t *testing.T) {
	t.Parallel()
	for name, fake := range map[string]func(*testing.T) *pagedFake{
		"komga":          func(t *testing.T) *pagedFake { return newKomgaPaged(t) },
		"audiobookshelf": newABSPaged,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			big := struct{ n, size, pagesKomga, pagesABS int }{10000, 500, 20, 20}
			if raceEnabled {
				// The same 20 pages, of fewer items: under -race encoding
				// 10,000 items twice takes seconds a run. .ci/run runs this
				// test at full size without -race.
				big = struct{ n, size, pagesKomga, pagesABS int }{600, 30, 20, 20}
			}
			clamp := struct{ n, size, pagesKomga, pagesABS int }{2500, 3000, 2, 1}
			if raceEnabled {
				clamp = struct{ n, size, pagesKomga, pagesABS int }{5, 5, 1, 1} // the 2000 clamp: without -race
			}
			for _, tc := range []struct{ n, size, pagesKomga, pagesABS int }{
				big,
				clamp, // Komga serves at most 2000 a page; the client asks for 2000
				{7, 3, 3, 3},
				{6, 3, 2, 2},
				{3, 100, 1, 1},
				{0, 10, 1, 1},
			} {
				f := fake(t)
				name := fmt.Sprintf("%s n=%d size=%d", f.name, tc.n, tc.size)
				f.add(tc.n)
				items, errs := collect(Paginate[listItem](t.Context(), f.c, f.path, PageSize(tc.size)))
				require.Empty(t, errs, name)
				require.Len(t, items, tc.n, name)
				for i, it := range items {
					if it.label() != f.label(i+1) {
						t.Fatalf("%s: item %d is %q, want %q", name, i, it.label(), f.label(i+1))
					}
				}
				want := tc.pagesKomga
				if f.name == "audiobookshelf" {
					want = tc.pagesABS
				}
				assert.Equal(t, want, f.requests(), name)
				if tc.n > 100 {
					continue
				}
				// The sequence can be ranged again, from the start.
				again, errs := collect(Paginate[listItem](t.Context(), f.c, f.path, PageSize(tc.size)))
				require.Empty(t, errs, name)
				assert.Equal(t, items, again, name)
			}
		})
	}
}

// Class: the consumer stops ranging; nothing more is fetched, whether it
// stops at the first item, inside a page or at a page's last item.
func TestPaginateBreakFetchesNoMore(t *testing.T) {
	t.Parallel()
	for _, stopAt := range []int{1, 3, 5, 6, 10} {
		for _, f := range pagedFakes(t) {
			f.add(20)
			n := 0
			for it, err := range Paginate[listItem](t.Context(), f.c, f.path, PageSize(5)) {
				require.NoError(t, err)
				n++
				assert.Equal(t, f.label(n), it.label())
				if n == stopAt {
					break
				}
			}
			assert.Equal(t, stopAt, n, f.name)
			assert.Equal(t, (stopAt+4)/5, f.requests(), "%s: stop at %d", f.name, stopAt)
		}
	}
}

// Class: the context ends while the list is read: before the first page,
// between two items of a page, at a page boundary, by deadline. The
// context's error is yielded once, then the sequence ends, with no
// further request.
func TestPaginateStopsOnContextEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cancelAt int // cancel after this many items; 0: before ranging
		deadline bool
		requests int
	}{
		{"before the first page", 0, false, 0},
		{"deadline passed before the first page", 0, true, 0},
		{"inside a page", 2, false, 1},
		{"at a page boundary", 5, false, 1},
		{"inside the second page", 7, false, 2},
	} {
		for _, f := range pagedFakes(t) {
			f.add(20)
			ctx, cancel := context.WithCancel(t.Context())
			want := context.Canceled
			if tc.deadline {
				cancel()
				ctx, cancel = context.WithDeadline(t.Context(), time.Unix(0, 0))
				want = context.DeadlineExceeded
			}
			if tc.cancelAt == 0 {
				cancel()
			}
			n, errs := 0, 0
			for _, err := range Paginate[listItem](ctx, f.c, f.path, PageSize(5)) {
				if err != nil {
					errs++
					assert.ErrorIs(t, err, want, tc.name)
					continue
				}
				n++
				if n == tc.cancelAt {
					cancel()
				}
			}
			cancel()
			assert.Equal(t, 1, errs, "%s %s: one error", f.name, tc.name)
			assert.Equal(t, tc.cancelAt, n, "%s %s: no item after the cancel", f.name, tc.name)
			assert.Equal(t, tc.requests, f.requests(), "%s %s", f.name, tc.name)
		}
	}
}

// Class: a page fails mid-way; the failure is yielded once, typed as Do
// would return it (after Do's retries), and the sequence ends. A failure
// that a retry cures is not seen.
func TestPaginatePageFailureStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		times  int
		want   error // nil: retried away
	}{
		{http.StatusServiceUnavailable, 100, ErrUnavailable},
		{http.StatusBadGateway, 100, ErrUnavailable},
		{http.StatusInternalServerError, 1, ErrServer},
		{http.StatusForbidden, 1, ErrForbidden},
		{http.StatusUnauthorized, 100, ErrUnauthorized},
		{http.StatusServiceUnavailable, 1, nil},
	} {
		for _, f := range pagedFakes(t) {
			name := fmt.Sprintf("%s %d×%d", f.name, tc.status, tc.times)
			f.add(15)
			n := 0
			var errs []error
			for it, err := range Paginate[listItem](t.Context(), f.c, f.path, PageSize(5)) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				n++
				assert.Equal(t, f.label(n), it.label(), name)
				if n == 6 { // inside page 2: page 3 fails
					f.srv.Faults.FailNextOn(f.fakePath, tc.times, tc.status, -1)
				}
			}
			f.srv.Faults.FailNextOn("", 0, 0, -1)
			if tc.want == nil {
				assert.Empty(t, errs, name)
				assert.Equal(t, 15, n, name)
				continue
			}
			require.Len(t, errs, 1, name)
			assert.ErrorIs(t, errs[0], tc.want, name)
			var e *Error
			require.ErrorAs(t, errs[0], &e, name)
			assert.Equal(t, tc.status, e.StatusCode, name)
			assert.Equal(t, 10, n, name)
		}
	}
}

// A page on another path than the list's (an unknown library) fails the
// first page.
func TestPaginateUnknownListIsNotFound(t *testing.T) {
	t.Parallel()
	f := newABSPaged(t)
	items, errs := collect(Paginate[listItem](t.Context(), f.c, "api/libraries/nope/items"))
	assert.Empty(t, items)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrNotFound)
}

// A session that expires mid-way is renewed once and the list goes on.
func TestPaginateRenewsAnExpiredSession(t *testing.T) {
	t.Parallel()
	k := setupKomga(t)
	c := newTestClient(t, Komga, k.URL, WithLogin(komgaAdmin, komgaAdminPw))
	k.AddSeries(30)
	n := 0
	for it, err := range Paginate[listItem](t.Context(), c, "api/v1/series", PageSize(10)) {
		require.NoError(t, err)
		n++
		assert.Equal(t, fmt.Sprintf("Series %05d", n), it.label())
		if n == 15 {
			k.ExpireSessions()
		}
	}
	assert.Equal(t, 30, n)
	assert.Equal(t, 2, k.Logins())
}

// Class: a page size that is not a positive number. Audiobookshelf reads
// limit=0 as "everything", so none may be sent: a ConfigError, no request.
func TestPaginatePageSizeMustBePositive(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1, -500, math.MinInt} {
		for _, f := range pagedFakes(t) {
			f.add(3)
			items, errs := collect(Paginate[listItem](t.Context(), f.c, f.path, PageSize(n)))
			assert.Empty(t, items)
			require.Len(t, errs, 1)
			var ce *ConfigError
			require.ErrorAs(t, errs[0], &ce, "%s PageSize(%d)", f.name, n)
			assert.Equal(t, "PageSize", ce.Setting)
			assert.Zero(t, f.requests(), "%s PageSize(%d): nothing sent", f.name, n)
		}
	}
}

// Class: a caller's query that sets a page parameter itself, in any form
// (Query with url.Values or a struct, in the path, percent-encoded): a
// ConfigError, no request; other parameters are kept.
func TestPaginateQueryKeptButPageParamsRefused(t *testing.T) {
	t.Parallel()
	f := newKomgaPaged(t)
	f.add(30)
	// Kept: search filters the fake's list, combined with page and size.
	for _, opt := range []CallOption{
		Query(url.Values{"search": {"Series 0001"}}),
		Query(struct {
			Search string `url:"search"`
		}{"series 0001"}),
	} {
		before := f.requests()
		items, errs := collect(Paginate[listItem](t.Context(), f.c, f.path, opt, PageSize(4)))
		require.Empty(t, errs)
		require.Len(t, items, 10)
		for i, it := range items {
			assert.Equal(t, f.label(10+i), it.label())
		}
		assert.Equal(t, 3, f.requests()-before)
	}
	items, errs := collect(Paginate[listItem](t.Context(), f.c, f.path+"?search=Series%200002", PageSize(4)))
	require.Empty(t, errs)
	assert.Len(t, items, 10)

	for _, f := range pagedFakes(t) {
		f.add(3)
		for _, tc := range []struct {
			path string
			opt  CallOption
		}{
			{f.path, Query(url.Values{"page": {"1"}})},
			{f.path, Query(url.Values{f.size: {"0"}})},
			{f.path, Query(struct {
				Page int `url:"page"`
			}{2})},
			{f.path + "?page=3", nil},
			{f.path + "?" + f.size + "=0", nil},
			{f.path + "?%70age=1", nil},
			{f.path + "?" + url.QueryEscape(f.size) + "=&x=1", nil},
		} {
			items, errs := collect(Paginate[listItem](t.Context(), f.c, tc.path, tc.opt, PageSize(2)))
			assert.Empty(t, items)
			require.Len(t, errs, 1, tc.path)
			var ce *ConfigError
			require.ErrorAs(t, errs[0], &ce, "%s %s", f.name, tc.path)
			assert.Zero(t, f.requests(), "%s %s: nothing sent", f.name, tc.path)
		}
	}
}

// Class: servers without paged lists. One UnsupportedError, nothing sent.
func TestPaginateUnsupportedServers(t *testing.T) {
	t.Parallel()
	for _, s := range []Server{ComfyUI, Khoj} {
		c := newTestClient(t, s, "http://127.0.0.1:1/")
		items, errs := collect(Paginate[listItem](t.Context(), c, "api/anything"))
		assert.Empty(t, items)
		require.Len(t, errs, 1, s)
		assert.ErrorIs(t, errs[0], errors.ErrUnsupported, s)
		var ue *UnsupportedError
		require.ErrorAs(t, errs[0], &ue)
		assert.Equal(t, OpPaginate, ue.Op)
		assert.NotEmpty(t, ue.Reason)
	}
}

func TestPaginateNilArguments(t *testing.T) {
	t.Parallel()
	f := newKomgaPaged(t)
	var ce *ConfigError
	_, errs := collect(Paginate[listItem](nil, f.c, f.path))
	require.Len(t, errs, 1)
	assert.ErrorAs(t, errs[0], &ce)
	_, errs = collect(Paginate[listItem](t.Context(), nil, f.path))
	require.Len(t, errs, 1)
	assert.ErrorAs(t, errs[0], &ce)
	assert.Zero(t, f.requests())
}

// pageServer is a server that answers every list request under /base/
// with page(index, size), for misbehaving servers.
type pageServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	queries  []url.Values
}

func newPageServer(t *testing.T, sizeParam string, page func(index, size int) string) *pageServer {
	t.Helper()
	ps := &pageServer{}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/base/") {
			http.Error(w, "outside the base path", http.StatusInternalServerError)
			return
		}
		q := r.URL.Query()
		ps.mu.Lock()
		ps.requests++
		ps.queries = append(ps.queries, q)
		ps.mu.Unlock()
		index, _ := strconv.Atoi(q.Get("page"))
		size, _ := strconv.Atoi(q.Get(sizeParam))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(page(index, size)))
	}))
	t.Cleanup(ps.Close)
	return ps
}

func (ps *pageServer) count() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.requests
}

// items returns n JSON items named from start on.
func jsonItems(start, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"id":"i%d","name":"Item %d"}`, start+i, start+i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// withMaxPages lowers the page bound of one Paginate range, so that the
// bound is tested without 100,000 requests.
func withMaxPages(n int) CallOption {
	return func(cl *call) error { cl.page.maxPages = n; return nil }
}

// Class: a server whose list never ends, or whose pages contradict the
// request or themselves: ignoring the page parameter, repeating a page,
// endless fresh pages, an empty page that is not the last, a missing or
// malformed end marker, more items than asked for, no items array,
// undecodable items. Each is a bounded number of requests, then one
// *Error matching ErrUnexpectedServer, without the credential.
func TestPaginateRefusesMisbehavingServers(t *testing.T) {
	t.Parallel()
	const key = "k-0123456789abcdef"
	spring := func(content string, number, totalPages int, last string) string {
		return fmt.Sprintf(`{"content":%s,"number":%d,"totalPages":%d,"last":%s}`, content, number, totalPages, last)
	}
	for _, tc := range []struct {
		name     string
		server   Server
		page     func(index, size int) string
		opts     []CallOption
		requests int
	}{
		{"komga ignores page", Komga, func(i, n int) string { return spring(jsonItems(0, n), 0, 99, "false") }, nil, 2},
		{"komga repeats a page", Komga, func(i, n int) string {
			return fmt.Sprintf(`{"content":%s,"last":false}`, jsonItems(0, n))
		}, nil, 2},
		{"komga repeats an earlier page number", Komga, func(i, n int) string { return spring(jsonItems(i*n, n), min(i, 1), 99, "false") }, nil, 3},
		{"komga endless fresh pages", Komga, func(i, n int) string { return spring(jsonItems(i*n, n), i, i+2, "false") }, []CallOption{withMaxPages(5)}, 5},
		{"komga empty page not last", Komga, func(i, n int) string { return spring("[]", i, 99, "false") }, nil, 1},
		{"komga not last past totalPages", Komga, func(i, n int) string { return spring(jsonItems(i*n, n), i, 1, "false") }, nil, 1},
		{"komga no last", Komga, func(i, n int) string { return fmt.Sprintf(`{"content":%s}`, jsonItems(0, n)) }, nil, 1},
		{"komga last null", Komga, func(i, n int) string { return spring(jsonItems(0, n), i, 9, "null") }, nil, 1},
		{"komga last a string", Komga, func(i, n int) string { return spring(jsonItems(0, n), i, 9, `"true"`) }, nil, 1},
		{"komga number a string", Komga, func(i, n int) string {
			return `{"content":[],"number":"0","last":true}`
		}, nil, 1},
		{"komga more items than asked", Komga, func(i, n int) string { return spring(jsonItems(0, n+1), i, 9, "false") }, nil, 1},
		{"komga content null", Komga, func(i, n int) string { return spring("null", i, 9, "true") }, nil, 1},
		{"komga content an object", Komga, func(i, n int) string { return spring(`{"a":1}`, i, 9, "true") }, nil, 1},
		{"komga no content", Komga, func(i, n int) string { return `{"last":true}` }, nil, 1},
		{"komga page an array", Komga, func(i, n int) string { return jsonItems(0, n) }, nil, 1},
		{"komga page null", Komga, func(i, n int) string { return `null` }, nil, 1},
		{"komga item of the wrong type", Komga, func(i, n int) string { return spring(`[{"name":5}]`, i, 1, "true") }, nil, 1},
		{"komga malformed items", Komga, func(i, n int) string { return `{"content":[{"name":"x"},],"last":true}` }, nil, 1},
		{"abs ignores page", Audiobookshelf, func(i, n int) string {
			return fmt.Sprintf(`{"results":%s,"total":1000000,"page":0}`, jsonItems(i*n, n))
		}, nil, 2},
		{"abs repeats a page", Audiobookshelf, func(i, n int) string {
			return fmt.Sprintf(`{"results":%s,"total":1000000}`, jsonItems(0, n))
		}, nil, 2},
		{"abs endless without total", Audiobookshelf, func(i, n int) string {
			return fmt.Sprintf(`{"results":%s,"page":%d}`, jsonItems(i*n, n), i)
		}, []CallOption{withMaxPages(7)}, 7},
		{"abs endless with a growing total", Audiobookshelf, func(i, n int) string {
			return fmt.Sprintf(`{"results":%s,"page":%d,"total":%d}`, jsonItems(i*n, n), i, (i+2)*n)
		}, []CallOption{withMaxPages(4)}, 4},
		{"abs total a string", Audiobookshelf, func(i, n int) string {
			return fmt.Sprintf(`{"results":%s,"total":"9"}`, jsonItems(0, n))
		}, nil, 1},
		{"abs no results", Audiobookshelf, func(i, n int) string { return `{"total":0,"page":0}` }, nil, 1},
		{"abs more items than asked", Audiobookshelf, func(i, n int) string {
			return fmt.Sprintf(`{"results":%s,"total":100}`, jsonItems(0, n+1))
		}, nil, 1},
	} {
		sizeParam := "size"
		if tc.server == Audiobookshelf {
			sizeParam = "limit"
		}
		ps := newPageServer(t, sizeParam, tc.page)
		c := newTestClient(t, tc.server, ps.URL+"/base/", WithAPIKey(key))
		n := 0
		var errs []error
		for _, err := range Paginate[listItem](t.Context(), c, "api/list", append(tc.opts, PageSize(3))...) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
		require.Len(t, errs, 1, tc.name)
		err := errs[0]
		assert.ErrorIs(t, err, ErrUnexpectedServer, tc.name)
		var e *Error
		require.ErrorAs(t, err, &e, tc.name)
		assert.Equal(t, tc.requests, ps.count(), "%s: requests", tc.name)
		assert.LessOrEqual(t, n, 3*(tc.requests-1), "%s: items of the refused page are not yielded", tc.name)
		msg := err.Error()
		assert.NotContains(t, msg, key, tc.name)
		assert.NotContains(t, msg, "\n", tc.name)
		t.Logf("%s: %v", tc.name, err)
	}
}

// The default bound is large enough for any real list and still finite.
func TestPaginateDefaultPageBound(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 100_000, maxPages)
}

// Class: the page size sent. Without PageSize the scheme's default; with
// one above the server's maximum, the maximum (Komga would lower it
// silently); Audiobookshelf has none. Never 0.
func TestPaginateSendsThePageSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		server    Server
		opts      []CallOption
		sizeParam string
		want      string
	}{
		{Komga, nil, "size", "100"},
		{Komga, []CallOption{PageSize(5000)}, "size", "2000"},
		{Komga, []CallOption{PageSize(2000)}, "size", "2000"},
		{Komga, []CallOption{PageSize(1)}, "size", "1"},
		{Audiobookshelf, nil, "limit", "100"},
		{Audiobookshelf, []CallOption{PageSize(5000)}, "limit", "5000"},
		{Audiobookshelf, []CallOption{PageSize(1)}, "limit", "1"},
	} {
		ps := newPageServer(t, tc.sizeParam, func(i, n int) string {
			return `{"content":[],"last":true,"results":[],"total":0}`
		})
		c := newTestClient(t, tc.server, ps.URL+"/base/", WithAPIKey("k"))
		_, errs := collect(Paginate[listItem](t.Context(), c, "api/list", append(tc.opts, Query(url.Values{"sort": {"name"}}))...))
		require.Empty(t, errs)
		require.Len(t, ps.queries, 1)
		q := ps.queries[0]
		assert.Equal(t, []string{tc.want}, q[tc.sizeParam], tc.server)
		assert.Equal(t, []string{"0"}, q["page"], tc.server)
		assert.Equal(t, []string{"name"}, q["sort"], tc.server)
	}
}

// FuzzDecodePage feeds arbitrary pages (server input) to both page
// schemes: no panic, the items never exceed the size asked for, and an
// error is one short clean line.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte(`{"content":[{"id":"a"}],"number":0,"totalPages":1,"last":true}`), 0, 20, false)
	f.Add([]byte(`{"content":[],"last":false}`), 3, 20, false)
	f.Add([]byte(`{"results":[{"id":"a"},{"id":"b"}],"total":2,"page":0,"limit":2}`), 0, 2, true)
	f.Add([]byte(`{"results":[],"page":1}`), 1, 2, true)
	f.Add([]byte(`{"results":null}`), 0, 1, true)
	f.Add([]byte(`[1,2]`), 0, 1, false)
	f.Add([]byte(`{"content":[1],"number":9223372036854775807,"last":"x"}`), 0, 1, false)
	f.Fuzz(func(t *testing.T, data []byte, index, size int, abs bool) {
		if size < 1 || index < 0 {
			return
		}
		s := komgaSpec.pages
		if abs {
			s = absSpec.pages
		}
		var items []json.RawMessage
		_, _, err := decodePage(s, data, index, size, func(dec *json.Decoder) (int, error) {
			err := dec.Decode(&items)
			return len(items), err
		})
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) || len(msg) > 200 {
				t.Fatalf("bad error text %q", msg)
			}
			return
		}
		if len(items) > size {
			t.Fatalf("%d items for a page of %d", len(items), size)
		}
		for _, it := range items {
			if !json.Valid(it) {
				t.Fatalf("invalid item %q", it)
			}
		}
	})
}
