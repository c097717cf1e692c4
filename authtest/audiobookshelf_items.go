package authtest

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type absLibraryItem struct {
	id, title string
	addedAt   time.Time
}

// absItemJSON is the part of a minified library item (toOldJSONMinified)
// the fake fills in.
type absItemJSON struct {
	ID          string       `json:"id"`
	Ino         string       `json:"ino"`
	LibraryID   string       `json:"libraryId"`
	FolderID    string       `json:"folderId"`
	Path        string       `json:"path"`
	RelPath     string       `json:"relPath"`
	IsFile      bool         `json:"isFile"`
	MtimeMs     int64        `json:"mtimeMs"`
	CtimeMs     int64        `json:"ctimeMs"`
	BirthtimeMs int64        `json:"birthtimeMs"`
	AddedAt     int64        `json:"addedAt"`
	UpdatedAt   int64        `json:"updatedAt"`
	IsMissing   bool         `json:"isMissing"`
	IsInvalid   bool         `json:"isInvalid"`
	MediaType   string       `json:"mediaType"`
	Media       absMediaJSON `json:"media"`
	NumFiles    int          `json:"numFiles"`
	Size        int64        `json:"size"`
}

type absMediaJSON struct {
	ID            string          `json:"id"`
	Metadata      absBookMetadata `json:"metadata"`
	CoverPath     *string         `json:"coverPath"`
	Tags          []string        `json:"tags"`
	NumTracks     int             `json:"numTracks"`
	NumAudioFiles int             `json:"numAudioFiles"`
	NumChapters   int             `json:"numChapters"`
	Duration      float64         `json:"duration"`
	Size          int64           `json:"size"`
}

type absBookMetadata struct {
	Title             string `json:"title"`
	TitleIgnorePrefix string `json:"titleIgnorePrefix"`
	AuthorName        string `json:"authorName"`
}

// AddLibraryItems adds n books to the library with that id (from
// [Audiobookshelf.AddLibrary]) and returns their ids. They are titled
// "Book 00001", "Book 00002" and so on, numbered on from the library's
// items added before. AddLibraryItems panics if there is no such library.
//
// GET /api/libraries/:id/items lists them in the order they were added
// (the real server has no ORDER BY without a known sort key) as
// {"results", "total", "limit", "page", "offset", "sortDesc", "mediaType",
// "minified", "collapseseries", "include"}, each result a minified library
// item. page is zero-based and the offset is page*limit; a limit of 0 or
// none means no limit (every item in one page). limit and page that are not
// numbers read as 0; a negative or fractional one is 400 text "Invalid
// request. limit must be a positive integer" (or page). An unknown library
// is 404 "Library not found". Filters and sorting are not modelled.
func (a *Audiobookshelf) AddLibraryItems(libraryID string, n int) (ids []string) {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	var lib *absLibrary
	for _, l := range a.st.libraries {
		if l.id == libraryID {
			lib = l
		}
	}
	if lib == nil {
		panic("authtest: Audiobookshelf.AddLibraryItems: no library with id " + strconv.Quote(libraryID))
	}
	now := a.st.clock.Now()
	for range n {
		it := &absLibraryItem{id: uuid4(), title: fmt.Sprintf("Book %05d", len(lib.items)+1), addedAt: now}
		lib.items = append(lib.items, it)
		ids = append(ids, it.id)
	}
	return ids
}

// absQueryInt reads limit or page as the route middleware does: a value
// that is not a number is 0; ok is false for a negative or fractional one.
func absQueryInt(v string) (n int64, ok bool) {
	if v == "" {
		return 0, true
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) {
		return 0, true
	}
	if f < 0 || math.IsInf(f, 0) || f != math.Trunc(f) {
		return 0, false
	}
	if f > 1<<53 {
		f = 1 << 53
	}
	return int64(f), true
}

func (st *absState) hLibraryItems(q *absReq) *absResp {
	var lib *absLibrary
	for _, l := range st.libraries {
		if l.id == q.params[0] {
			lib = l
		}
	}
	if lib == nil {
		return absSendText(http.StatusNotFound, "Library not found")
	}
	limit, ok := absQueryInt(q.query.Get("limit"))
	if !ok {
		return absSendText(http.StatusBadRequest, "Invalid request. limit must be a positive integer")
	}
	page, ok := absQueryInt(q.query.Get("page"))
	if !ok {
		return absSendText(http.StatusBadRequest, "Invalid request. page must be a positive integer")
	}
	total := int64(len(lib.items))
	offset := int64(0)
	if limit > 0 && page > math.MaxInt64/limit {
		offset = math.MaxInt64
	} else {
		offset = page * limit
	}
	start, end := int64(0), total
	if limit > 0 {
		start = min(total, offset)
		end = start + min(total-start, limit)
	}
	results := make([]absItemJSON, 0, end-start)
	for i := start; i < end; i++ {
		results = append(results, absItemToJSON(lib, int(i)))
	}
	resp := map[string]any{
		"results":        results,
		"total":          total,
		"limit":          limit,
		"page":           page,
		"offset":         offset,
		"sortDesc":       q.query.Get("desc") == "1",
		"mediaType":      "book",
		"minified":       q.query.Get("minified") == "1",
		"collapseseries": q.query.Get("collapseseries") == "1",
		"include":        "",
	}
	if v := q.query.Get("sort"); v != "" {
		resp["sortBy"] = v
	}
	if v := q.query.Get("filter"); v != "" {
		resp["filterBy"] = v
	}
	return absJSON(http.StatusOK, resp)
}

func absItemToJSON(lib *absLibrary, i int) absItemJSON {
	it := lib.items[i]
	ms := it.addedAt.UnixMilli()
	rel := it.title
	return absItemJSON{
		ID: it.id, Ino: strconv.Itoa(1000 + i), LibraryID: lib.id, FolderID: lib.folderID,
		Path: "/data/" + rel, RelPath: rel, MtimeMs: ms, CtimeMs: ms, BirthtimeMs: ms, AddedAt: ms, UpdatedAt: ms,
		MediaType: "book",
		Media: absMediaJSON{ID: it.id, Metadata: absBookMetadata{Title: it.title, TitleIgnorePrefix: it.title, AuthorName: ""},
			Tags: []string{}},
		NumFiles: 1,
	}
}
