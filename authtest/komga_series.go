package authtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Komga's Spring paging defaults (spring.data.web.pageable.*, which Komga
// leaves as they are).
const (
	komgaDefaultPageSize = 20
	komgaMaxPageSize     = 2000
)

type komgaSeries struct {
	id, name string
	created  time.Time
}

// komgaSeriesDto is the part of Komga's SeriesDto the fake fills in.
type komgaSeriesDto struct {
	ID                   string                 `json:"id"`
	LibraryID            string                 `json:"libraryId"`
	Name                 string                 `json:"name"`
	URL                  string                 `json:"url"`
	Created              string                 `json:"created"`
	LastModified         string                 `json:"lastModified"`
	FileLastModified     string                 `json:"fileLastModified"`
	BooksCount           int                    `json:"booksCount"`
	BooksReadCount       int                    `json:"booksReadCount"`
	BooksUnreadCount     int                    `json:"booksUnreadCount"`
	BooksInProgressCount int                    `json:"booksInProgressCount"`
	Metadata             komgaSeriesMetadataDto `json:"metadata"`
	Deleted              bool                   `json:"deleted"`
	Oneshot              bool                   `json:"oneshot"`
}

type komgaSeriesMetadataDto struct {
	Status    string `json:"status"`
	Title     string `json:"title"`
	TitleSort string `json:"titleSort"`
}

// komgaPage is Spring Data's PageImpl as Jackson writes it.
type komgaPage struct {
	Content          []komgaSeriesDto `json:"content"`
	Pageable         komgaPageable    `json:"pageable"`
	TotalElements    int64            `json:"totalElements"`
	TotalPages       int              `json:"totalPages"`
	Number           int              `json:"number"`
	Size             int              `json:"size"`
	NumberOfElements int              `json:"numberOfElements"`
	First            bool             `json:"first"`
	Last             bool             `json:"last"`
	Empty            bool             `json:"empty"`
	Sort             komgaSort        `json:"sort"`
}

type komgaPageable struct {
	PageNumber int       `json:"pageNumber"`
	PageSize   int       `json:"pageSize"`
	Offset     int64     `json:"offset"`
	Paged      bool      `json:"paged"`
	Unpaged    bool      `json:"unpaged"`
	Sort       komgaSort `json:"sort"`
}

type komgaSort struct {
	Sorted   bool `json:"sorted"`
	Unsorted bool `json:"unsorted"`
	Empty    bool `json:"empty"`
}

// AddSeries adds n series to the fake's one library and returns their ids,
// for GET /api/v1/series. They are named "Series 00001", "Series 00002"
// and so on, numbered on from the series added before, and are listed in
// the order they were added.
//
// GET /api/v1/series answers a Spring Data page ({"content", "pageable",
// "totalElements", "totalPages", "number", "size", "numberOfElements",
// "first", "last", "empty", "sort"}) with Spring's paging rules: page is
// zero-based; size defaults to 20 and is clamped to 2000; a page or size
// that is not a number, or a negative page, reads as 0 (and a size below 1
// as the default); unpaged=true returns every series in page 0 of size
// max(count, 20). search keeps the series whose name contains it,
// case-insensitively. A page past the end is empty, with "last": true.
// Series urls are blanked for users who are not ADMIN, as in Komga.
func (k *Komga) AddSeries(n int) (ids []string) {
	k.lock.Lock()
	defer k.lock.Unlock()
	if k.libraryID == "" {
		k.libraryID = k.newID()
	}
	now := k.Clock.Now()
	for range n {
		s := &komgaSeries{id: k.newID(), name: fmt.Sprintf("Series %05d", len(k.series)+1), created: now}
		k.series = append(k.series, s)
		ids = append(ids, s.id)
	}
	return ids
}

// komgaPageParam reads a Spring page parameter: a number clamped at 0 and
// upper; anything that is not an int is 0.
func komgaPageParam(v string, upper int) int {
	n, err := strconv.ParseInt(v, 10, 32)
	switch {
	case err != nil || n < 0:
		return 0
	case n > int64(upper):
		return upper
	}
	return int(n)
}

func (k *Komga) listSeries(w http.ResponseWriter, r *http.Request, rq *komgaRequest, status int) {
	q := r.URL.Query()
	var match []*komgaSeries
	search := strings.ToLower(q.Get("search"))
	for _, s := range k.series {
		if search == "" || strings.Contains(strings.ToLower(s.name), search) {
			match = append(match, s)
		}
	}
	// Even unpaged, the DAOs build the page as PageRequest.of(0, max(count, 20)).
	page, size := 0, komgaDefaultPageSize
	if q.Get("unpaged") == "true" {
		size = max(len(match), komgaDefaultPageSize)
	} else {
		if v := q.Get("page"); v != "" {
			page = komgaPageParam(v, 1<<31-1)
		}
		if v := q.Get("size"); v != "" {
			size = komgaPageParam(v, komgaMaxPageSize)
			if size < 1 {
				size = komgaDefaultPageSize
			}
		}
	}
	total := int64(len(match))
	offset := int64(page) * int64(size)
	var content []komgaSeriesDto
	for i := offset; i < total && i < offset+int64(size); i++ {
		content = append(content, k.seriesDto(match[i], rq.user))
	}
	if content == nil {
		content = []komgaSeriesDto{}
	}
	totalPages := int((total + int64(size) - 1) / int64(size))
	sort := komgaSort{Sorted: false, Unsorted: true, Empty: true}
	writeJSON(w, status, komgaPage{
		Content:          content,
		Pageable:         komgaPageable{PageNumber: page, PageSize: size, Offset: offset, Paged: true, Sort: sort},
		TotalElements:    total,
		TotalPages:       totalPages,
		Number:           page,
		Size:             size,
		NumberOfElements: len(content),
		First:            page == 0,
		Last:             page+1 >= totalPages,
		Empty:            len(content) == 0,
		Sort:             sort,
	})
}

func (k *Komga) seriesDto(s *komgaSeries, u *komgaUser) komgaSeriesDto {
	date := s.created.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	url := "/data/" + strings.ReplaceAll(strings.ToLower(s.name), " ", "-")
	if !u.roles["ADMIN"] {
		url = "" // restrictUrl
	}
	return komgaSeriesDto{
		ID: s.id, LibraryID: k.libraryID, Name: s.name, URL: url,
		Created: date, LastModified: date, FileLastModified: date,
		Metadata: komgaSeriesMetadataDto{Status: "ONGOING", Title: s.name, TitleSort: s.name},
	}
}
