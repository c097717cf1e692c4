package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The wire data: Komga-shaped JSON, marshalled once at start-up so that the
// servers never spend time encoding while a client is being measured.

// Page is the decode target of every GET: a Komga (Spring Data) page of
// series.
type Page struct {
	Content          []Series `json:"content"`
	Pageable         Pageable `json:"pageable"`
	TotalElements    int      `json:"totalElements"`
	TotalPages       int      `json:"totalPages"`
	Last             bool     `json:"last"`
	Size             int      `json:"size"`
	Number           int      `json:"number"`
	NumberOfElements int      `json:"numberOfElements"`
	First            bool     `json:"first"`
	Empty            bool     `json:"empty"`
}

// Pageable is Spring's paging block.
type Pageable struct {
	PageNumber int  `json:"pageNumber"`
	PageSize   int  `json:"pageSize"`
	Offset     int  `json:"offset"`
	Paged      bool `json:"paged"`
	Unpaged    bool `json:"unpaged"`
}

// Series is a trimmed Komga series.
type Series struct {
	ID         string         `json:"id"`
	LibraryID  string         `json:"libraryId"`
	Name       string         `json:"name"`
	URL        string         `json:"url"`
	BooksCount int            `json:"booksCount"`
	Metadata   SeriesMetadata `json:"metadata"`
}

// SeriesMetadata is a trimmed Komga series metadata block.
type SeriesMetadata struct {
	Status    string `json:"status"`
	Title     string `json:"title"`
	Publisher string `json:"publisher"`
}

// CollectionRequest is the body of PostJSON: create a collection.
type CollectionRequest struct {
	Name      string   `json:"name"`
	Ordered   bool     `json:"ordered"`
	SeriesIDs []string `json:"seriesIds"`
}

// Collection is the decode target of PostJSON.
type Collection struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Ordered          bool     `json:"ordered"`
	SeriesIDs        []string `json:"seriesIds"`
	CreatedDate      string   `json:"createdDate"`
	LastModifiedDate string   `json:"lastModifiedDate"`
	Filtered         bool     `json:"filtered"`
}

// SeriesQuery is GetQuery's four query options, for go-querystring.
type SeriesQuery struct {
	LibraryID string `url:"library_id,omitempty"`
	Search    string `url:"search,omitempty"`
	Page      int    `url:"page"`
	Size      int    `url:"size"`
}

// Request paths, relative to the base URL.
const (
	seriesPath      = "api/v1/series"
	collectionsPath = "api/v1/collections"
	importPath      = "api/v1/books/import"
)

const (
	apiKey       = "bench-0123456789abcdef0123456789abcdef"
	sessionValue = "c2Vzc2lvbg==" // base64("session"), as Komga's KOMGA-SESSION cookie
	smallLen     = 2              // series in the small page
)

var (
	benchQuery = SeriesQuery{LibraryID: "0B7QW9RQ6J4PX", Search: "one piece", Page: 2, Size: 20}
	// benchRawQuery is what every contestant must send for benchQuery.
	benchRawQuery = "library_id=0B7QW9RQ6J4PX&page=2&search=one+piece&size=20"

	smallPage  []byte // ~600 B page, sent with Content-Length
	listPage   []byte // ~64 KB page, sent chunked
	listLen    int    // series in listPage
	collReq    *CollectionRequest
	collReqLen int    // marshalled size of collReq
	collResp   []byte // ~1.1 KB answer to PostJSON
	bigBody    []byte // ~1 MiB JSON for Post1MiB

	body401 = []byte(`{"timestamp":"2025-11-23T02:27:00.000+00:00","status":401,"error":"Unauthorized","message":"Unauthorized","path":"/api/v1/series"}`)
	body503 = []byte(`{"timestamp":"2025-11-23T02:27:00.000+00:00","status":503,"error":"Service Unavailable","message":"Service Unavailable","path":"/api/v1/series"}`)
)

func series(i int) Series {
	id := fmt.Sprintf("0B7QW9RR%05X", i)
	name := fmt.Sprintf("Series %04d", i)
	if i == 0 {
		name = "One Piece"
	}
	return Series{
		ID:         id,
		LibraryID:  "0B7QW9RQ6J4PX",
		Name:       name,
		URL:        "/data/manga/" + name,
		BooksCount: 100 + i%50,
		Metadata:   SeriesMetadata{Status: "ONGOING", Title: name, Publisher: "Shueisha"},
	}
}

func page(content []Series, total int) Page {
	return Page{
		Content:          content,
		Pageable:         Pageable{PageNumber: 0, PageSize: len(content), Paged: true},
		TotalElements:    total,
		TotalPages:       (total + len(content) - 1) / len(content),
		Last:             len(content) == total,
		Size:             len(content),
		NumberOfElements: len(content),
		First:            true,
	}
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func init() {
	smallPage = mustMarshal(page([]Series{series(0), series(1)}, 214))

	// Grow the list until it is about 64 KB.
	var list []Series
	for i := 0; ; i++ {
		list = append(list, series(i))
		if len(mustMarshal(page(list, len(list)))) >= 64<<10-300 {
			break
		}
	}
	listPage, listLen = mustMarshal(page(list, len(list))), len(list)

	ids := make([]string, 58)
	for i := range ids {
		ids[i] = series(i).ID
	}
	collReq = &CollectionRequest{Name: "Reading list: shonen classics", Ordered: true, SeriesIDs: ids}
	collReqLen = len(mustMarshal(collReq))
	collResp = mustMarshal(Collection{
		ID: "0B7R1C0L1EC71", Name: collReq.Name, Ordered: true, SeriesIDs: ids,
		CreatedDate: "2025-11-23T02:27:00Z", LastModifiedDate: "2025-11-23T02:27:00Z",
	})

	// About 1 MiB of a Komga book import request.
	b := []byte(`{"books":[`)
	for i := 0; len(b) < 1<<20-200; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"sourceFile":"/import/incoming/Series %05d/Volume %03d.cbz","seriesId":"0B7QW9RR%05X"}`, i/40, i%40, i/40)
	}
	bigBody = append(b, `],"copyMode":"HARDLINK"}`...)
}

// canned is one pre-built answer.
type canned struct {
	status  int
	header  http.Header // shared by all answers; clients only read it
	body    []byte
	chunked bool          // loopback: no Content-Length, written in 8 KiB pieces with a Flush after each
	holdEnd time.Duration // chunked: wait this long before sending the terminating chunk
}

func jsonAnswer(status int, body []byte, extra ...string) *canned {
	h := http.Header{
		"Content-Type":   {"application/json"},
		"Content-Length": {strconv.Itoa(len(body))},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h[http.CanonicalHeaderKey(extra[i])] = []string{extra[i+1]}
	}
	return &canned{status: status, header: h, body: body}
}

// benchHoldEnd is the pause between the last data chunk of the chunked list
// and the terminating chunk. On a real network the terminating chunk often
// arrives in a later segment; on loopback a fast server would have it in the
// client's buffer before the decoder gets there, and a client that closes
// without draining would get away with it. With 100 µs such a client dials
// on ~85 % of calls (raw-nodrain), while a draining client's time does not
// measurably change: it is still decoding when the chunk arrives.
const benchHoldEnd = 100 * time.Microsecond

// The answers, built in init once the data exists.
var answerSmall, answerList, answerColl, answerAccepted, answer401, answer503 *canned

func init() {
	answerSmall = jsonAnswer(http.StatusOK, smallPage)
	answerList = &canned{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: listPage, chunked: true, holdEnd: benchHoldEnd}
	answerColl = jsonAnswer(http.StatusOK, collResp)
	answerAccepted = jsonAnswer(http.StatusAccepted, nil)
	answer401 = jsonAnswer(http.StatusUnauthorized, body401)
	answer503 = jsonAnswer(http.StatusServiceUnavailable, body503, "Retry-After", "0")
}
