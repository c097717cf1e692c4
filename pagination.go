package authclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"net/http"
	"strconv"
)

// maxPages bounds how many pages one [Paginate] range fetches: a server that
// never says its list ended stops there with an error instead of being read
// forever.
const maxPages = 100_000

// pageScheme is how a server pages its lists, as data: the query parameters
// it reads and how a page says it is the last. A serverSpec without one has
// no paged lists, and [Paginate] yields ErrUnsupported.
type pageScheme struct {
	pageParam   string // query parameter of the page index: "page"
	sizeParam   string // query parameter of the page size: "size", "limit"
	firstPage   int    // index of the first page
	defaultSize int    // page size sent when the call has no PageSize
	maxSize     int    // largest size the server honours (a larger PageSize is lowered to it); 0: no limit
	items       string // field of the page object that holds the items: "content", "results"
	// index is the field that echoes the page index ("number", "page"), or
	// "" if there is none. A page whose echo is not the index asked for
	// (a server that ignores the page parameter) is refused.
	index string
	// last reports whether p is the last page. An error means the page
	// contradicts itself; it fails the range.
	last func(p *pageInfo) (bool, error)
}

// pageInfo is one decoded page, as a scheme's last function sees it.
type pageInfo struct {
	index, size int // the page index and size asked for
	count       int // the number of items in the page
	fields      map[string]json.RawMessage
}

// bool reads a boolean field; ok is false when it is absent or null.
func (p *pageInfo) bool(name string) (v, ok bool, err error) {
	raw, found := p.fields[name]
	if !found || string(raw) == "null" {
		return false, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, false, fmt.Errorf("page field %q is not a boolean", name)
	}
	return v, true, nil
}

// int reads an integer field; ok is false when it is absent or null.
func (p *pageInfo) int(name string) (v int64, ok bool, err error) {
	raw, found := p.fields[name]
	if !found || string(raw) == "null" {
		return 0, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, fmt.Errorf("page field %q is not an integer", name)
	}
	return v, true, nil
}

// springLast is the end of a Spring Data page (Komga): the page says so in
// "last", and a short page is not proof of the end. A page that is empty
// but not the last, or not the last by its own totalPages, never ends the
// list: it is refused.
func springLast(p *pageInfo) (bool, error) {
	last, ok, err := p.bool("last")
	if err != nil {
		return false, err
	}
	if !ok {
		return false, errors.New(`the page has no "last" field`)
	}
	if last {
		return true, nil
	}
	if p.count == 0 {
		return false, errors.New("an empty page that says it is not the last")
	}
	if total, ok, err := p.int("totalPages"); err != nil {
		return false, err
	} else if ok && int64(p.index)+1 >= total {
		return false, fmt.Errorf("page %d of %d says it is not the last", p.index, total)
	}
	return false, nil
}

// offsetLast is the end of an offset/limit list that counts its total
// (Audiobookshelf): the server pages with SQL LIMIT and OFFSET, so an
// empty or short page is the end, and so is a page that reaches "total".
// Without "total" (a series filter with collapseseries) a full page is
// followed by another, which is short or empty at the end.
func offsetLast(p *pageInfo) (bool, error) {
	if p.count < p.size {
		return true, nil
	}
	total, ok, err := p.int("total")
	if err != nil || !ok {
		return false, err
	}
	return int64(p.index)*int64(p.size)+int64(p.count) >= total, nil
}

// decodePage decodes one page of scheme s, asked for with index and size,
// in one pass: items decodes the items array (the decoder is at its start)
// and returns how many there were. decodePage returns the raw text of the
// array (to tell a repeated page) and whether the page is the last. Every
// way a page can be malformed or contradict the request is an error, whose
// text quotes nothing from the page.
func decodePage(s *pageScheme, data []byte, index, size int, items func(*json.Decoder) (int, error)) (raw []byte, last bool, err error) {
	notObject := errors.New("the page is not a JSON object")
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false, notObject
	}
	p := &pageInfo{index: index, size: size, count: -1, fields: map[string]json.RawMessage{}}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false, notObject
		}
		key, _ := t.(string)
		if key != s.items {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, false, notObject
			}
			p.fields[key] = v
			continue
		}
		start := int(dec.InputOffset())
		if p.count >= 0 || !isArrayNext(data[start:]) {
			return nil, false, fmt.Errorf("the page has no single %q array", s.items)
		}
		if p.count, err = items(dec); err != nil {
			return nil, false, fmt.Errorf("decoding the page's %q: %w", s.items, err)
		}
		raw = data[start:dec.InputOffset()]
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false, notObject
	}
	if p.count < 0 {
		return nil, false, fmt.Errorf("the page has no %q array", s.items)
	}
	if p.count > size {
		return nil, false, fmt.Errorf("the page has %d items, more than the %d asked for", p.count, size)
	}
	if s.index != "" {
		n, ok, err := p.int(s.index)
		if err != nil {
			return nil, false, err
		}
		if ok && n != int64(index) {
			return nil, false, fmt.Errorf("the server answered page %d when asked for page %d (does it ignore %q?)", n, index, s.pageParam)
		}
	}
	if last, err = s.last(p); err != nil {
		return nil, false, err
	}
	return raw, last, nil
}

// isArrayNext reports whether the next value after an object key (past
// white space and the colon) is an array.
func isArrayNext(rest []byte) bool {
	for _, b := range rest {
		switch b {
		case ' ', '\t', '\r', '\n', ':':
			continue
		}
		return b == '['
	}
	return false
}

// pageOptions is what PageSize (and tests) set on a call; only Paginate
// reads it.
type pageOptions struct {
	size     int // 0: the scheme's default
	maxPages int // 0: maxPages
}

// PageSize sets how many items [Paginate] asks for per page. n must be at
// least 1 (a ConfigError otherwise: Audiobookshelf reads a limit of 0 as
// "everything at once"); a size above the server's maximum (2000 on Komga,
// which would silently lower it) is lowered to it. Without PageSize,
// Paginate asks for 100 items a page. Calls other than Paginate ignore it.
func PageSize(n int) CallOption {
	return func(cl *call) error {
		if n < 1 {
			return configErr("PageSize", "must be at least 1, got %d", n)
		}
		cl.page.size = n
		return nil
	}
}

// pager is the state of one range over a paged list. It is the target Do
// decodes each page into, so that a malformed page is an [*Error] like any
// other unexpected answer.
type pager[T any] struct {
	scheme   *pageScheme
	index    int
	size     int
	maxPages int
	seed     maphash.Seed
	prev     uint64 // hash of the previous page's items
	hasPrev  bool
	items    []T
	last     bool
}

// option sets the page parameters on a call; it runs after the caller's
// options, so it sees their query and PageSize.
func (p *pager[T]) option(cl *call) error {
	s := p.scheme
	for _, k := range []string{s.pageParam, s.sizeParam} {
		if _, dup := cl.query[k]; dup {
			return configErr("Paginate", "the query must not set %q: Paginate sets %q and %q itself (use PageSize for the size)", k, s.pageParam, s.sizeParam)
		}
	}
	p.size = s.defaultSize
	if cl.page.size > 0 {
		p.size = cl.page.size
	}
	if s.maxSize > 0 && p.size > s.maxSize {
		p.size = s.maxSize
	}
	p.maxPages = maxPages
	if cl.page.maxPages > 0 {
		p.maxPages = cl.page.maxPages
	}
	cl.ownQuery(2)
	cl.query[s.pageParam] = []string{strconv.Itoa(p.index)}
	cl.query[s.sizeParam] = []string{strconv.Itoa(p.size)}
	return nil
}

// UnmarshalJSON decodes one page: its items into T, and whether it is the
// last. A page that repeats the previous one, or that is still not the
// last after the page bound, is refused.
func (p *pager[T]) UnmarshalJSON(data []byte) error {
	var items []T
	raw, last, err := decodePage(p.scheme, data, p.index, p.size, func(dec *json.Decoder) (int, error) {
		err := dec.Decode(&items)
		return len(items), err
	})
	if err != nil {
		return err
	}
	if len(items) > 0 {
		h := maphash.Bytes(p.seed, raw)
		if p.hasPrev && h == p.prev {
			return fmt.Errorf("page %d repeats the page before it (does the server ignore %q?)", p.index, p.scheme.pageParam)
		}
		p.prev, p.hasPrev = h, true
	}
	if !last && p.index-p.scheme.firstPage+1 >= p.maxPages {
		return fmt.Errorf("the list has not ended after %d pages", p.maxPages)
	}
	p.items, p.last = items, last
	return nil
}

// Paginate ranges over a paged list of the server: a GET of path (relative
// to the base URL, as for [Client.Do]) for each page, with the server's page
// parameters added, each item decoded from JSON into T. Pages are fetched
// lazily, one when the consumer has ranged over the one before: breaking
// out of the loop fetches nothing more.
//
//	for s, err := range authclient.Paginate[Series](ctx, c, "api/v1/series", authclient.PageSize(500)) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(s.Name)
//	}
//
// The page scheme is the server's: Komga's Spring pages (page from 0,
// size, until "last" is true) and Audiobookshelf's (page from 0, limit,
// until a page is short, empty or reaches "total"). Every page is
// requested with an explicit size: [PageSize], or 100 by default. The
// options are those of [Client.Do] and apply to every page; a [Query] is
// kept and combined with the page parameters, but it may not set them
// itself ("page" and "size" on Komga, "page" and "limit" on
// Audiobookshelf, also not in path): that is a [*ConfigError].
//
// An error is yielded once, and then the sequence ends: a page's failure
// (the [*Error] or [*TransportError] Do would return, after Do's
// retries), the context's error when ctx is cancelled between items or
// pages, or an [*Error] matching ErrUnexpectedServer for a page that is
// malformed, that answers another page than the one asked for, repeats
// the page before it, contradicts itself, or still does not end the list
// after 100,000 pages. On a server without paged lists (ComfyUI, Khoj)
// the sequence yields one [*UnsupportedError] (errors.ErrUnsupported).
//
// Items are not deduplicated: an item added or removed while the list is
// read may shift the pages, so an item may be seen twice or missed.
func Paginate[T any](ctx context.Context, c *Client, path string, opts ...CallOption) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		switch {
		case c == nil:
			yield(zero, configErr("Paginate", "the client is nil"))
			return
		case ctx == nil:
			yield(zero, configErr("context", "is nil (use context.Background())"))
			return
		}
		if err := c.spec.require(OpPaginate); err != nil {
			yield(zero, err)
			return
		}
		p := &pager[T]{scheme: c.spec.pages, seed: maphash.MakeSeed()}
		all := append(opts[:len(opts):len(opts)], p.option)
		for p.index = p.scheme.firstPage; ; p.index++ {
			if err := ctx.Err(); err != nil {
				yield(zero, err)
				return
			}
			p.items = nil
			if err := c.Do(ctx, http.MethodGet, path, nil, p, all...); err != nil {
				yield(zero, err)
				return
			}
			for _, v := range p.items {
				if err := ctx.Err(); err != nil {
					yield(zero, err)
					return
				}
				if !yield(v, nil) {
					return
				}
			}
			if p.last {
				return
			}
		}
	}
}
