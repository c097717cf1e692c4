package authtest

// The Audiobookshelf fake's libraries (/api/libraries).

import (
	"net/http"
	"strings"
)

type absFolderJSON struct {
	ID        string `json:"id"`
	FullPath  string `json:"fullPath"`
	LibraryID string `json:"libraryId"`
	AddedAt   int64  `json:"addedAt"`
}

type absLibrarySettings struct {
	CoverAspectRatio                  int      `json:"coverAspectRatio"`
	DisableWatcher                    bool     `json:"disableWatcher"`
	AutoScanCronExpression            *string  `json:"autoScanCronExpression"`
	SkipMatchingMediaWithAsin         bool     `json:"skipMatchingMediaWithAsin"`
	SkipMatchingMediaWithIsbn         bool     `json:"skipMatchingMediaWithIsbn"`
	AudiobooksOnly                    bool     `json:"audiobooksOnly"`
	EpubsAllowScriptedContent         bool     `json:"epubsAllowScriptedContent"`
	HideSingleBookSeries              bool     `json:"hideSingleBookSeries"`
	OnlyShowLaterBooksInContinueSerie bool     `json:"onlyShowLaterBooksInContinueSeries"`
	MetadataPrecedence                []string `json:"metadataPrecedence"`
	MarkAsFinishedPercentComplete     *int     `json:"markAsFinishedPercentComplete"`
	MarkAsFinishedTimeRemaining       int      `json:"markAsFinishedTimeRemaining"`
}

type absLibraryJSON struct {
	ID              string             `json:"id"`
	Name            string             `json:"name"`
	Folders         []absFolderJSON    `json:"folders"`
	DisplayOrder    int                `json:"displayOrder"`
	Icon            string             `json:"icon"`
	MediaType       string             `json:"mediaType"`
	Provider        string             `json:"provider"`
	Settings        absLibrarySettings `json:"settings"`
	LastScan        *int64             `json:"lastScan"`
	LastScanVersion *string            `json:"lastScanVersion"`
	CreatedAt       int64              `json:"createdAt"`
	LastUpdate      int64              `json:"lastUpdate"`
}

func absLibraryToJSON(l *absLibrary) absLibraryJSON {
	ms := l.createdAt.UnixMilli()
	return absLibraryJSON{
		ID: l.id, Name: l.name,
		Folders:      []absFolderJSON{{ID: l.folderID, FullPath: "/data/" + strings.ToLower(strings.ReplaceAll(l.name, " ", "-")), LibraryID: l.id, AddedAt: ms}},
		DisplayOrder: l.order, Icon: "database", MediaType: "book", Provider: "google",
		Settings: absLibrarySettings{CoverAspectRatio: 1,
			MetadataPrecedence:          []string{"folderStructure", "audioMetatags", "nfoFile", "txtFiles", "opfFile", "absMetadata"},
			MarkAsFinishedTimeRemaining: 10},
		CreatedAt: ms, LastUpdate: ms,
	}
}

func (st *absState) hLibraries(q *absReq) *absResp {
	libs := make([]absLibraryJSON, 0, len(st.libraries))
	for _, l := range st.libraries {
		libs = append(libs, absLibraryToJSON(l))
	}
	return absJSON(http.StatusOK, map[string]any{"libraries": libs})
}

func (st *absState) hLibrary(q *absReq) *absResp {
	for _, l := range st.libraries {
		if l.id == q.params[0] {
			return absJSON(http.StatusOK, absLibraryToJSON(l))
		}
	}
	return absSendText(http.StatusNotFound, "Library not found")
}
