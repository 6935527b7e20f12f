package ocitest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// send makes one request with an optional Authorization header and returns
// the status, the WWW-Authenticate header and the body.
func send(t *testing.T, method, u, authorization string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
}

type tokenAnswer struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

func fetchToken(t *testing.T, reg *ocitest.Registry, user, pass string, scopes ...string) (int, tokenAnswer) {
	t.Helper()
	q := url.Values{"service": {"ocitest"}, "scope": scopes}
	req, _ := http.NewRequest(http.MethodGet, "http://"+reg.Host()+ocitest.TokenPath+"?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a tokenAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, a
}

func TestTokenAuth(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithTokenAuth("alice", "s3cret"))
	if _, err := reg.PushBytes(context.Background(), "app:v1", oci.MediaTypeFluxContent, []byte("x")); err != nil {
		t.Fatal(err)
	}
	base := "http://" + reg.Host()
	realm := fmt.Sprintf(`Bearer realm="%s/token",service="ocitest"`, base)

	// Challenges: none scoped for the ping, scoped by repository and action otherwise.
	for _, tc := range []struct{ method, path, challenge string }{
		{http.MethodGet, "/v2/", realm},
		{http.MethodHead, "/v2/org/blobs/manifests/v1", realm + `,scope="repository:org/blobs:pull"`},
		{http.MethodGet, "/v2/app/blobs/sha256:" + strings.Repeat("0", 64), realm + `,scope="repository:app:pull"`},
		{http.MethodPost, "/v2/app/blobs/uploads/", realm + `,scope="repository:app:pull,push"`},
	} {
		status, challenge, _ := send(t, tc.method, base+tc.path, "")
		if status != http.StatusUnauthorized || challenge != tc.challenge {
			t.Errorf("%s %s without a token: %d %q, want 401 %q", tc.method, tc.path, status, challenge, tc.challenge)
		}
	}

	// The token endpoint wants the credentials.
	for _, creds := range [][2]string{{"", ""}, {"alice", "wrong"}, {"mallory", "s3cret"}} {
		if status, _ := fetchToken(t, reg, creds[0], creds[1], "repository:app:pull"); status != http.StatusUnauthorized {
			t.Errorf("token with credentials %q: status %d, want 401", creds, status)
		}
	}
	status, pull := fetchToken(t, reg, "alice", "s3cret", "repository:app:pull")
	if status != http.StatusOK || pull.Token == "" || pull.AccessToken != pull.Token || pull.ExpiresIn != 300 || pull.IssuedAt == "" {
		t.Fatalf("token: %d %+v, want 200 with a token valid 300 s", status, pull)
	}
	bearer := "Bearer " + pull.Token

	for _, tc := range []struct {
		method, path string
		status       int
		challenge    string
	}{
		{http.MethodGet, "/v2/", http.StatusOK, ""},
		{http.MethodGet, "/v2/app/manifests/v1", http.StatusOK, ""},
		{http.MethodGet, "/v2/other/manifests/v1", http.StatusUnauthorized, realm + `,scope="repository:other:pull"`},
		{http.MethodPost, "/v2/app/blobs/uploads/", http.StatusUnauthorized, realm + `,scope="repository:app:pull,push"`},
	} {
		status, challenge, _ := send(t, tc.method, base+tc.path, bearer)
		if status != tc.status || challenge != tc.challenge {
			t.Errorf("%s %s with a pull token for app: %d %q, want %d %q", tc.method, tc.path, status, challenge, tc.status, tc.challenge)
		}
	}

	// Several scopes at once, space-separated or repeated.
	_, both := fetchToken(t, reg, "alice", "s3cret", "repository:app:pull,push repository:other:pull")
	for _, path := range []string{"/v2/app/manifests/v1", "/v2/other/tags/list"} {
		if status, _, _ := send(t, http.MethodGet, base+path, "Bearer "+both.Token); status == http.StatusUnauthorized {
			t.Errorf("GET %s with a token for both repositories: 401", path)
		}
	}

	// A revoked or made-up token is invalid.
	reg.RevokeTokens()
	for _, tok := range []string{pull.Token, "made-up"} {
		status, challenge, _ := send(t, http.MethodGet, base+"/v2/", "Bearer "+tok)
		if want := realm + `,error="invalid_token"`; status != http.StatusUnauthorized || challenge != want {
			t.Errorf("ping with token %q: %d %q, want 401 %q", tok, status, challenge, want)
		}
	}

	// The registry's own client authenticates.
	if _, err := reg.Client().Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
		t.Errorf("Client: %v", err)
	}
}

func TestTokenLifetime(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithTokenAuth("u", "p"), ocitest.WithTokenLifetime(1500*time.Millisecond))
	_, tok := fetchToken(t, reg, "u", "p", "repository:app:pull")
	if tok.ExpiresIn != 2 {
		t.Errorf("expires_in = %d, want 2 (1.5 s, rounded up)", tok.ExpiresIn)
	}
	ping := "http://" + reg.Host() + "/v2/"
	if status, _, _ := send(t, http.MethodGet, ping, "Bearer "+tok.Token); status != http.StatusOK {
		t.Fatalf("fresh token: status %d", status)
	}
	time.Sleep(1600 * time.Millisecond)
	status, challenge, _ := send(t, http.MethodGet, ping, "Bearer "+tok.Token)
	if status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("expired token: %d %q, want 401 with invalid_token", status, challenge)
	}
}

func TestLatency(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithLatency(50*time.Millisecond))
	start := time.Now()
	if status, _, _ := send(t, http.MethodGet, "http://"+reg.Host()+"/v2/", ""); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered after %v, want at least 50ms", d)
	}
}

func TestStallPing(t *testing.T) {
	reg := ocitest.NewT(t)
	base := "http://" + reg.Host()
	stall := reg.StallPing(30 * time.Second)
	defer stall.Release()

	pinged := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/v2/")
		if err != nil {
			pinged <- 0
			return
		}
		resp.Body.Close()
		pinged <- resp.StatusCode
	}()
	<-stall.Holding()
	if n := stall.Held(); n != 1 {
		t.Errorf("Held = %d, want 1", n)
	}
	// Nothing but the ping is held.
	if status, _, _ := send(t, http.MethodGet, base+"/v2/app/tags/list", ""); status != http.StatusNotFound {
		t.Errorf("tags during the stall: %d, want 404 at once", status)
	}
	select {
	case s := <-pinged:
		t.Fatalf("ping answered %d during the stall", s)
	default:
	}

	// A client that gives up leaves the stall.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/", nil)
		_, err := http.DefaultClient.Do(req)
		gaveUp <- err
	}()
	waitHeld(t, stall, 2)
	cancel()
	<-gaveUp
	waitHeld(t, stall, 1)

	stall.Release()
	<-stall.Done()
	if s := <-pinged; s != http.StatusOK {
		t.Errorf("ping after the stall: %d, want 200", s)
	}
	if status, _, _ := send(t, http.MethodGet, base+"/v2/", ""); status != http.StatusOK {
		t.Errorf("ping after the stall ended: %d", status)
	}

	// A stall ends by itself after d.
	short := reg.StallPing(20 * time.Millisecond)
	select {
	case <-short.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a 20ms stall did not end")
	}
}

// waitHeld waits until stall holds n pings.
func waitHeld(t *testing.T, stall *ocitest.Stall, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); stall.Held() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("Held = %d, want %d", stall.Held(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFleetCounters(t *testing.T) {
	reg := ocitest.NewT(t, ocitest.WithTokenAuth("u", "p"))
	if _, err := reg.PushBytes(context.Background(), "app:v1", oci.MediaTypeFluxContent, []byte("x")); err != nil {
		t.Fatal(err)
	}
	reg.ResetRequests()
	if got := [3]int{reg.Pings(), reg.TokenRequests(), reg.Connections()}; got != [3]int{} {
		t.Errorf("after ResetRequests: pings, tokens, connections = %v, want zeros", got)
	}
	c := reg.Client()
	for range 3 {
		if _, err := c.Resolve(context.Background(), reg.Ref("app:v1")); err != nil {
			t.Fatal(err)
		}
	}
	got := [3]int{reg.Pings(), reg.TokenRequests(), reg.Connections()}
	if diff := cmp.Diff([3]int{1, 1, 1}, got); diff != "" {
		t.Errorf("pings, tokens, connections (-want +got):\n%s", diff)
	}
}
