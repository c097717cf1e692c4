package audiobookshelf

import (
	"context"
	"iter"
	"net/url"
	"strings"
	"time"

	"github.com/selfhost-sdk/authclient"
)

// LibraryItem is an item of a library (a book or a podcast), as
// Audiobookshelf's paged item list gives it (the minified form).
type LibraryItem struct {
	// ID identifies the item.
	ID string
	// LibraryID is the library it belongs to.
	LibraryID string
	// MediaType is "book" or "podcast".
	MediaType string
	// Title is the item's title; Author its author, when the server says.
	Title, Author string
	// Path is where the item lives on the server.
	Path string
	// Duration is the playing time (zero if unknown).
	Duration time.Duration
	// Size is the item's size in bytes.
	Size int64
	// AddedAt is when the item was added to the library.
	AddedAt time.Time
}

// libraryItemJSON is the part of a minified item the client reads.
type libraryItemJSON struct {
	ID        string `json:"id"`
	LibraryID string `json:"libraryId"`
	MediaType string `json:"mediaType"`
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	AddedAt   int64  `json:"addedAt"`
	Media     struct {
		Duration float64 `json:"duration"`
		Metadata struct {
			Title      string `json:"title"`
			AuthorName string `json:"authorName"`
		} `json:"metadata"`
	} `json:"media"`
}

// maxDuration bounds a duration read from the server (in seconds), so
// that a bogus one does not overflow time.Duration.
const maxDuration = float64(1<<63-1) / float64(time.Second)

func (j *libraryItemJSON) item() LibraryItem {
	it := LibraryItem{ID: j.ID, LibraryID: j.LibraryID, MediaType: j.MediaType, Path: j.Path, Size: j.Size,
		Title: j.Media.Metadata.Title, Author: j.Media.Metadata.AuthorName}
	if d := j.Media.Duration; d > 0 && d < maxDuration {
		it.Duration = time.Duration(d * float64(time.Second))
	}
	if j.AddedAt > 0 {
		it.AddedAt = time.UnixMilli(j.AddedAt).UTC()
	}
	return it
}

// LibraryItems ranges over the items of the Audiobookshelf library with id libraryID
// (GET /api/libraries/:id/items), a page at a time on top of the core's
// authclient.Paginate: pages are fetched lazily (breaking out of the loop
// fetches nothing more), 100 items a page unless opts hold
// authclient.PageSize. opts are those of the core's Do and apply to every
// page (a Query adds filters; it may not set "page" or "limit").
//
//	for it, err := range c.LibraryItems(ctx, libraryID) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(it.Title)
//	}
//
// An error is yielded once, and then the sequence ends: an empty
// libraryID is a [*authclient.ConfigError] and one that would leave
// /api/libraries/ matches authclient.ErrInvalidPath (nothing is sent for
// either); an unknown library matches authclient.ErrNotFound; the other
// errors are those of authclient.Paginate.
func (c *Client) LibraryItems(ctx context.Context, libraryID string, opts ...authclient.CallOption) iter.Seq2[LibraryItem, error] {
	return func(yield func(LibraryItem, error) bool) {
		core, err := c.client()
		if err != nil {
			yield(LibraryItem{}, err)
			return
		}
		if strings.TrimSpace(libraryID) == "" {
			yield(LibraryItem{}, &authclient.ConfigError{Setting: "audiobookshelf.LibraryItems", Problem: "the library id is empty"})
			return
		}
		path := "api/libraries/" + url.PathEscape(libraryID) + "/items"
		for j, err := range authclient.Paginate[libraryItemJSON](ctx, core, path, opts...) {
			if err != nil {
				yield(LibraryItem{}, err)
				return
			}
			if !yield(j.item(), nil) {
				return
			}
		}
	}
}
