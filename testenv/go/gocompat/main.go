// Command gocompat reads one JSON request per line on stdin and answers one
// JSON line with what Go's standard library makes of it, so podreg's
// Go-compatible encoders can be checked against the real thing.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
)

type entry struct {
	K string `json:"k"`
	V string `json:"v"`
}

type request struct {
	Escape   string            `json:"escape"`
	Params   map[string]string `json:"params"`
	Entries  []entry           `json:"entries"`
	Unescape string            `json:"unescape"`
}

type response struct {
	QueryEscape   string `json:"queryEscape"`
	ValuesEncode  string `json:"valuesEncode"`
	Marshal       string `json:"marshal"`
	Annotation    string `json:"annotation"`
	Unescaped     string `json:"unescaped"`
	UnescapeError bool   `json:"unescapeError"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			panic(err)
		}
		values := url.Values{}
		for k, v := range req.Params {
			values.Set(k, v)
		}
		entries := req.Entries
		if entries == nil {
			entries = []entry{}
		}
		marshal, err := json.Marshal(entries)
		if err != nil {
			panic(err)
		}
		unescaped, uerr := url.QueryUnescape(req.Unescape)
		res := response{
			QueryEscape:   url.QueryEscape(req.Escape),
			ValuesEncode:  values.Encode(),
			Marshal:       string(marshal),
			Annotation:    base64.URLEncoding.EncodeToString(marshal),
			Unescaped:     unescaped,
			UnescapeError: uerr != nil,
		}
		if err := out.Encode(res); err != nil {
			panic(err)
		}
	}
}
