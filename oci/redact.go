package oci

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Credentials never appear in an error or a log line. Most of that is by
// construction (no header, body or query string is ever printed); what
// follows handles the text that comes from elsewhere: a registry or token
// service that echoes what it was sent, go-containerregistry's message for a
// token response without a token (which quotes the response), a credential
// helper's output, and URLs with signed query strings (blob storage).

const redacted = "[redacted]"

// requestSecrets returns the credentials req carried in its Authorization
// header: a bearer token, or basic auth's encoded form, "user:password" and
// the password.
func requestSecrets(req *http.Request) []string {
	if req == nil {
		return nil
	}
	var out []string
	for _, h := range req.Header.Values("Authorization") {
		scheme, cred, ok := strings.Cut(h, " ")
		cred = strings.TrimSpace(cred)
		if !ok || cred == "" {
			continue
		}
		out = append(out, cred)
		if strings.EqualFold(scheme, "basic") {
			if b, err := base64.StdEncoding.DecodeString(cred); err == nil {
				out = append(out, string(b))
				if _, pass, ok := strings.Cut(string(b), ":"); ok && pass != "" {
					out = append(out, pass)
				}
			}
		}
	}
	return out
}

// scrub replaces every secret (of 4 characters or more: shorter ones would
// blank ordinary words) in s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// redactError returns err with the query strings (signed storage URLs) of
// any *url.Error it holds removed; its chain is kept for errors.Is/As.
// Go's net/http already hides a URL's password.
func redactError(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	clean := stripQuery(ue.URL)
	if clean == ue.URL {
		return err
	}
	if err == error(ue) {
		return &url.Error{Op: ue.Op, URL: clean, Err: ue.Err}
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), ue.URL, clean), err: err}
}

func stripQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	if u.RawQuery != "" {
		u.RawQuery = redacted
	}
	u.User = nil
	u.Fragment = ""
	return u.String()
}

// redactedError shows msg in place of err's own message and keeps err's
// chain for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrubAuthError rewrites errors of credential resolution and token
// exchange whose text may quote a secret: go-containerregistry's "no token
// in bearer response" (followed by the whole response), and a credential
// helper's output (docker-credential-helpers quotes it after "out:").
func scrubAuthError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	if i := strings.Index(msg, "no token in bearer response"); i >= 0 {
		msg = msg[:i] + "no token in the token service's response (response not shown: it may hold credentials)"
		changed = true
	}
	if i := strings.Index(msg, "out: `"); i >= 0 {
		msg = msg[:i] + "out: (credential helper output not shown)"
		changed = true
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}
