package bench

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	resty2 "github.com/go-resty/resty/v2"
	"github.com/google/go-github/v75/github"
	"github.com/google/go-querystring/query"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"golang.org/x/oauth2"
	resty3 "resty.dev/v3"
)

// The peers: other Go HTTP SDKs, as contestants in the same run as raw and
// the SDK. Each one makes the same request (same method, path, query,
// credential, Accept, Content-Type and JSON body; agree_test.go checks it)
// on the same fixture and transport, decodes into the same Page or
// Collection, and turns a 401 into its own typed error, the way a user of
// that library would. None of them retries (they sit out Retry503).
//
// The credential goes in X-Api-Key as for the SDK, except for oauth2, whose
// Transport can only send "Authorization: Bearer <token>".
var peers = []contestant{
	{name: "go-github", new: func(_ testing.TB, f *fixture, _ *scenario) client { return newGitHubClient(f) }},
	{name: "resty-v2", new: func(_ testing.TB, f *fixture, _ *scenario) client { return newResty2Client(f) }},
	{name: "resty-v3", new: func(tb testing.TB, f *fixture, _ *scenario) client { return newResty3Client(tb, f) }},
	{name: "openai-go", new: func(_ testing.TB, f *fixture, _ *scenario) client { return newOpenAIClient(f) }},
	{name: "oauth2", new: func(_ testing.TB, f *fixture, _ *scenario) client { return newOAuth2Client(f) }},
}

// allContestants is the SDK's own contestants followed by the peers.
func allContestants() []contestant {
	return append(contestants[:len(contestants):len(contestants)], peers...)
}

// komgaError is the JSON error body the peers decode a failure into.
type komgaError struct {
	Message string `json:"message"`
	Error   string `json:"error"`
}

func (e *komgaError) text() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Error
}

// --- go-github v75: NewRequest, then Client.Do -----------------------------

type ghClient struct{ c *github.Client }

func newGitHubClient(f *fixture) client {
	c := github.NewClient(&http.Client{Transport: f.tr})
	u, err := url.Parse(f.baseURL)
	if err != nil {
		panic(err)
	}
	c.BaseURL, c.UploadURL = u, u
	return ghClient{c}
}

func (g ghClient) do(ctx context.Context, req *http.Request, err error, out any) error {
	if err != nil {
		return err
	}
	req.Header.Set("X-Api-Key", apiKey)
	req.Header.Set("Accept", "application/json") // go-github's default is GitHub's v3 media type
	_, err = g.c.Do(ctx, req, out)
	var accepted *github.AcceptedError
	if errors.As(err, &accepted) {
		return nil // go-github reports a 202 as an error; its users treat it as success
	}
	return err
}

func (g ghClient) Get(ctx context.Context, path string, out any) error {
	req, err := g.c.NewRequest(http.MethodGet, path, nil)
	return g.do(ctx, req, err, out)
}

// GetQuery encodes q with go-querystring, as go-github's own list methods
// do (its addOptions).
func (g ghClient) GetQuery(ctx context.Context, path string, q SeriesQuery, out any) error {
	v, err := query.Values(q)
	if err != nil {
		return err
	}
	req, err := g.c.NewRequest(http.MethodGet, path+"?"+v.Encode(), nil)
	return g.do(ctx, req, err, out)
}

func (g ghClient) PostJSON(ctx context.Context, path string, in, out any) error {
	req, err := g.c.NewRequest(http.MethodPost, path, in)
	return g.do(ctx, req, err, out)
}

// PostBytes uses NewUploadRequest, go-github's way to send bytes as they
// are (NewRequest would JSON-encode them).
func (g ghClient) PostBytes(ctx context.Context, path string, in []byte, out any) error {
	req, err := g.c.NewUploadRequest(path, bytes.NewReader(in), int64(len(in)), "application/json")
	return g.do(ctx, req, err, out)
}

func (g ghClient) IsUnauthorized(err error) bool {
	return g.ErrorStatus(err) == http.StatusUnauthorized
}

func (g ghClient) ErrorStatus(err error) int {
	var e *github.ErrorResponse
	if errors.As(err, &e) && e.Response != nil {
		return e.Response.StatusCode
	}
	return 0
}

// --- resty v2 -------------------------------------------------------------

type resty2Client struct{ c *resty2.Client }

func newResty2Client(f *fixture) client {
	c := resty2.NewWithClient(&http.Client{Transport: f.tr}).
		SetBaseURL(f.baseURL).
		SetHeader("X-Api-Key", apiKey).
		SetHeader("Accept", "application/json")
	return resty2Client{c}
}

func (r resty2Client) req(ctx context.Context, out any, e *komgaError) *resty2.Request {
	req := r.c.R().SetContext(ctx).SetError(e)
	if out != nil {
		req.SetResult(out)
	}
	return req
}

func (r resty2Client) finish(resp *resty2.Response, err error, e *komgaError) error {
	if err != nil {
		return err
	}
	if resp.IsError() {
		return &apiError{Method: resp.Request.Method, URL: resp.Request.URL, StatusCode: resp.StatusCode(), Message: e.text()}
	}
	return nil
}

func (r resty2Client) Get(ctx context.Context, path string, out any) error {
	var e komgaError
	resp, err := r.req(ctx, out, &e).Get(path)
	return r.finish(resp, err, &e)
}

func (r resty2Client) GetQuery(ctx context.Context, path string, q SeriesQuery, out any) error {
	var e komgaError
	resp, err := r.req(ctx, out, &e).SetQueryParamsFromValues(handValues(q)).Get(path)
	return r.finish(resp, err, &e)
}

func (r resty2Client) PostJSON(ctx context.Context, path string, in, out any) error {
	var e komgaError
	resp, err := r.req(ctx, out, &e).SetHeader("Content-Type", "application/json").SetBody(in).Post(path)
	return r.finish(resp, err, &e)
}

func (r resty2Client) PostBytes(ctx context.Context, path string, in []byte, out any) error {
	return r.PostJSON(ctx, path, in, out) // resty sends a []byte as it is
}

func (r resty2Client) IsUnauthorized(err error) bool { return isAPIError(err, http.StatusUnauthorized) }

func (r resty2Client) ErrorStatus(err error) int { return apiErrorStatus(err) }

// --- resty v3 -------------------------------------------------------------

type resty3Client struct{ c *resty3.Client }

func newResty3Client(tb testing.TB, f *fixture) client {
	c := resty3.NewWithClient(&http.Client{Transport: f.tr}).
		SetBaseURL(f.baseURL).
		SetHeader("X-Api-Key", apiKey).
		SetHeader("Accept", "application/json")
	tb.Cleanup(func() { _ = c.Close() })
	return resty3Client{c}
}

func (r resty3Client) req(ctx context.Context, out any, e *komgaError) *resty3.Request {
	req := r.c.R().SetContext(ctx).SetResultError(e)
	if out != nil {
		req.SetResult(out)
	}
	return req
}

func (r resty3Client) finish(resp *resty3.Response, err error, e *komgaError) error {
	if err != nil {
		return err
	}
	if resp.IsStatusFailure() {
		return &apiError{Method: resp.Request.Method, URL: resp.Request.URL, StatusCode: resp.StatusCode(), Message: e.text()}
	}
	return nil
}

func (r resty3Client) Get(ctx context.Context, path string, out any) error {
	var e komgaError
	resp, err := r.req(ctx, out, &e).Get(path)
	return r.finish(resp, err, &e)
}

func (r resty3Client) GetQuery(ctx context.Context, path string, q SeriesQuery, out any) error {
	var e komgaError
	resp, err := r.req(ctx, out, &e).SetQueryParamsFromValues(handValues(q)).Get(path)
	return r.finish(resp, err, &e)
}

func (r resty3Client) PostJSON(ctx context.Context, path string, in, out any) error {
	var e komgaError
	resp, err := r.req(ctx, out, &e).SetHeader("Content-Type", "application/json").SetBody(in).Post(path)
	return r.finish(resp, err, &e)
}

func (r resty3Client) PostBytes(ctx context.Context, path string, in []byte, out any) error {
	return r.PostJSON(ctx, path, in, out)
}

func (r resty3Client) IsUnauthorized(err error) bool { return isAPIError(err, http.StatusUnauthorized) }

func (r resty3Client) ErrorStatus(err error) int { return apiErrorStatus(err) }

// --- openai-go v3: its generic Client.Get/Post against the fixture --------

type openaiClient struct{ c openai.Client }

func newOpenAIClient(f *fixture) client {
	return openaiClient{openai.NewClient(
		option.WithBaseURL(f.baseURL),
		option.WithHTTPClient(&http.Client{Transport: f.tr}),
		option.WithAPIKey(""), // no Authorization, whatever OPENAI_API_KEY says
		option.WithHeader("X-Api-Key", apiKey),
		option.WithMaxRetries(0),
	)}
}

// seriesParams is GetQuery's options as openai-go takes query parameters:
// a params value with URLQuery.
type seriesParams SeriesQuery

func (p seriesParams) URLQuery() (url.Values, error) { return handValues(SeriesQuery(p)), nil }

// call runs one request. openai-go parses an error body only in OpenAI's
// shape ({"error": {…}}); Komga's ({"error": "Unauthorized", …}) makes it
// return a JSON decoding error instead of its typed *openai.Error. So the
// contestant asks for the response (option.WithResponseInto), as a user of
// another server would, and builds the typed error from the status itself.
func (o openaiClient) call(ctx context.Context, method, path string, params, out any) error {
	var resp *http.Response
	err := o.c.Execute(ctx, method, path, params, out, option.WithResponseInto(&resp))
	var oe *openai.Error
	if err != nil && !errors.As(err, &oe) && resp != nil && resp.StatusCode >= 400 {
		return &apiError{Method: method, URL: resp.Request.URL.String(), StatusCode: resp.StatusCode}
	}
	return err
}

func (o openaiClient) Get(ctx context.Context, path string, out any) error {
	return o.call(ctx, http.MethodGet, path, nil, out)
}

func (o openaiClient) GetQuery(ctx context.Context, path string, q SeriesQuery, out any) error {
	return o.call(ctx, http.MethodGet, path, seriesParams(q), out)
}

func (o openaiClient) PostJSON(ctx context.Context, path string, in, out any) error {
	return o.call(ctx, http.MethodPost, path, in, out)
}

func (o openaiClient) PostBytes(ctx context.Context, path string, in []byte, out any) error {
	return o.call(ctx, http.MethodPost, path, in, out) // a []byte params is sent as it is
}

func (o openaiClient) IsUnauthorized(err error) bool {
	return o.ErrorStatus(err) == http.StatusUnauthorized
}

// ErrorStatus: call turns a non-OpenAI error body into an *apiError.
func (o openaiClient) ErrorStatus(err error) int {
	if s := apiErrorStatus(err); s != 0 {
		return s
	}
	var e *openai.Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// --- golang.org/x/oauth2's Transport over raw -----------------------------

// newOAuth2Client is the raw contestant whose http.Client has an
// oauth2.Transport (static token) in front of the fixture's transport; the
// token goes in "Authorization: Bearer", the only place oauth2 puts it.
func newOAuth2Client(f *fixture) client {
	tr := &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: apiKey, TokenType: "Bearer"}),
		Base:   f.tr,
	}
	return &rawClient{hc: &http.Client{Transport: tr}, base: f.baseURL, noKeyHeader: true}
}

// handValues is handQuery's url.Values, for the peers that take those.
func handValues(q SeriesQuery) url.Values {
	v := make(url.Values, 4)
	if q.LibraryID != "" {
		v["library_id"] = []string{q.LibraryID}
	}
	if q.Search != "" {
		v["search"] = []string{q.Search}
	}
	v["page"] = []string{strconv.Itoa(q.Page)}
	v["size"] = []string{strconv.Itoa(q.Size)}
	return v
}

// hasJSONType reports whether a Content-Type names JSON.
func hasJSONType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(mt) == "application/json"
}
