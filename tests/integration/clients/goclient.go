// A task's Go client of its proxy (net/http, as the Taskcluster Go client
// uses it): three GETs on one kept-alive connection, a PUT of unknown
// length (chunked), and a POST with Expect: 100-continue.  Prints what it
// saw as JSON.  Usage: goclient PORT
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"time"
)

type out struct {
	Gets     []string       `json:"gets"`
	Reused   int            `json:"reused"`
	Chunked  map[string]any `json:"chunked"`
	Continue map[string]any `json:"continue"`
	Got100   bool           `json:"got100"`
	Errors   []string       `json:"errors"`
}

func main() {
	base := "http://127.0.0.1:" + os.Args[1] + "/queue/v1"
	tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	var o out
	fail := func(what string, err error) { o.Errors = append(o.Errors, fmt.Sprintf("%s: %v", what, err)) }
	trace := &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				o.Reused++
			}
		},
		Got100Continue: func() { o.Got100 = true },
	}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	for _, q := range []string{"go1", "go2", "go3"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/hello?"+q, nil)
		r, err := c.Do(req)
		if err != nil {
			fail("GET "+q, err)
			continue
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		o.Gets = append(o.Gets, fmt.Sprintf("%d %s", r.StatusCode, b))
	}
	// An io.Pipe has no length: net/http sends it chunked.
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("g"), 65536)
		for i := 0; i < 48; i++ {
			pw.Write(chunk)
		}
		pw.Close()
	}()
	req, _ := http.NewRequestWithContext(ctx, "PUT", base+"/echo", pr)
	if r, err := c.Do(req); err != nil {
		fail("chunked PUT", err)
	} else {
		json.NewDecoder(r.Body).Decode(&o.Chunked)
		r.Body.Close()
	}
	body := bytes.Repeat([]byte("e"), 2<<20)
	req, _ = http.NewRequestWithContext(ctx, "POST", base+"/echo", bytes.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	if r, err := c.Do(req); err != nil {
		fail("POST with Expect", err)
	} else {
		json.NewDecoder(r.Body).Decode(&o.Continue)
		r.Body.Close()
	}
	json.NewEncoder(os.Stdout).Encode(o)
}
