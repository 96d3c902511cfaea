package investigate

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
)

// web holds the page: plain HTML, CSS and JavaScript modules the browser
// loads as they are, so there is no front-end build to run or to trust.
//
//go:embed web
var web embed.FS

// The pages are read once; the login page has a second form that shows the
// "invalid token" message for browsers that post the form without script.
var (
	indexPage       = mustRead("web/index.html")
	loginPage       = mustRead("web/login.html")
	loginFailedPage = bytes.Replace(loginPage, []byte(`id="login-error" hidden`), []byte(`id="login-error"`), 1)
)

func mustRead(name string) []byte {
	b, err := web.ReadFile(name)
	if err != nil {
		panic("investigate: embedded page missing: " + err.Error())
	}
	return b
}

// assetHandler serves the page's scripts and styles. They hold no data,
// so they are served without authentication: the login page needs them.
func assetHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic("investigate: " + err.Error())
	}
	files := http.FileServerFS(sub)
	return http.StripPrefix("/assets", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// no-cache: the browser revalidates, so an upgraded kaudit never
		// runs a stale script against a newer API.
		w.Header().Set("Cache-Control", "no-cache")
		if r.URL.Path == "/" || r.URL.Path == "" {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
}

// index serves the application page; its views are chosen by the URL's
// fragment (#/incidents/ID), so every view has a bookmarkable URL.
func (h *Handler) index(w http.ResponseWriter, _ *http.Request) {
	servePage(w, indexPage, http.StatusOK)
}

// servePage writes one of the HTML pages.
func servePage(w http.ResponseWriter, page []byte, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(page)
}
