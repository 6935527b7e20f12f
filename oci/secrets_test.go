package oci_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// echoAuth answers every request but the ping with status and a registry
// error whose message repeats the Authorization header it got, decoded too,
// as a careless registry or token service might.
func echoAuth(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		msg := "rejected " + h
		if _, cred, ok := strings.Cut(h, " "); ok {
			if b, err := base64.StdEncoding.DecodeString(cred); err == nil {
				msg += " (" + string(b) + ")"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="echo"`)
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "DENIED " + h, "message": msg}}})
	}
}

// TestNoSecretsInErrorsOrLogs: credentials in a URL, given as options, in a
// docker config or a credential helper, echoed back by a registry or a
// token service, or carried in a signed storage URL never appear in an
// error or a log line.
func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	ctx := context.Background()
	logger, logs := debugLogger()
	var secrets []string
	secret := func(s string) string {
		secrets = append(secrets, s, base64.StdEncoding.EncodeToString([]byte("alice:"+s)))
		return s
	}
	client := func(t *testing.T, opts ...oci.Option) *oci.Client {
		c, err := oci.NewClient(append(opts, oci.WithInsecure(), oci.WithRetries(0, 0), oci.WithLogger(logger))...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	host := func(url string) string { return strings.TrimPrefix(url, "http://") }
	anyDesc := oci.Descriptor{Digest: oci.DigestOf([]byte("x")), Size: 1}

	type scenario struct {
		name string
		run  func(t *testing.T) error
		want error // a sentinel the error must match
	}
	pw := secret("PW-SECRET-1")
	hostileRef := oci.Reference{Registry: "alice:" + pw + "@127.0.0.1:1", Repository: "app", Tag: "v1"}
	scenarios := []scenario{
		{"oci URL with userinfo", func(t *testing.T) error {
			_, err := oci.ParseURL("oci://alice:" + pw + "@ghcr.io/org/app:v1")
			return err
		}, oci.ErrInvalidReference},
		{"oci URL with userinfo, no path", func(t *testing.T) error { _, err := oci.ParseURL("oci://alice:" + pw + "@ghcr.io"); return err }, oci.ErrInvalidReference},
		{"oci URL with userinfo and digest", func(t *testing.T) error {
			_, err := oci.ParseURL("oci://alice:" + pw + "@ghcr.io/app@" + string(anyDesc.Digest))
			return err
		}, oci.ErrInvalidReference},
		{"password with a slash", func(t *testing.T) error { _, err := oci.ParseURL("oci://alice:a/" + pw + "@ghcr.io/app"); return err }, oci.ErrInvalidReference},
		{"https URL with userinfo", func(t *testing.T) error { _, err := oci.ParseURL("https://alice:" + pw + "@ghcr.io/app"); return err }, oci.ErrInvalidReference},
		{"reference with userinfo", func(t *testing.T) error { _, err := oci.ParseReference("alice:" + pw + "@ghcr.io/app:v1"); return err }, oci.ErrInvalidReference},
		{"hand-built reference, Validate", func(t *testing.T) error { return hostileRef.Validate() }, oci.ErrInvalidReference},
		{"hand-built reference, Tags", func(t *testing.T) error { _, err := client(t).Tags(ctx, hostileRef); return err }, oci.ErrInvalidReference},
		{"hand-built reference, Blob", func(t *testing.T) error { _, err := client(t).Blob(ctx, hostileRef, anyDesc); return err }, oci.ErrInvalidReference},
		{"hand-built reference, Resolve", func(t *testing.T) error { _, err := client(t).Resolve(ctx, hostileRef); return err }, oci.ErrInvalidReference},
	}

	// A registry that echoes basic auth.
	pw2 := secret("PW-SECRET-2")
	basicEcho := listen(t, "127.0.0.1", echoAuth(http.StatusUnauthorized), false)
	scenarios = append(scenarios, scenario{"basic auth echoed by the registry", func(t *testing.T) error {
		ref, _ := oci.ParseReference(host(basicEcho.URL) + "/app:v1")
		_, err := client(t, oci.WithBasicAuth("alice", pw2)).Manifest(ctx, ref)
		return err
	}, oci.ErrUnauthorized})

	// A registry that echoes a bearer token.
	tok := secret("TOKEN-SECRET-3")
	bearerEcho := listen(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		echoAuth(http.StatusForbidden)(w, r)
	}), false)
	scenarios = append(scenarios, scenario{"bearer token echoed by the registry", func(t *testing.T) error {
		ref, _ := oci.ParseReference(host(bearerEcho.URL) + "/app:v1")
		_, err := client(t, oci.WithBearerToken(tok)).Manifest(ctx, ref)
		return err
	}, oci.ErrUnauthorized})

	// A token service that echoes the basic auth it was sent, and one whose
	// answer holds no token but a refresh token.
	pw4 := secret("PW-SECRET-4")
	refresh := secret("REFRESH-SECRET-5")
	tokenSrv := func(answer http.HandlerFunc) string {
		var url string
		srv := listen(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				answer(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="test"`, url+"/token"))
			w.WriteHeader(http.StatusUnauthorized)
		}), false)
		url = srv.URL
		return strings.TrimPrefix(url, "http://")
	}
	echoingRealm := tokenSrv(echoAuth(http.StatusUnauthorized))
	scenarios = append(scenarios, scenario{"basic auth echoed by the token service", func(t *testing.T) error {
		ref, _ := oci.ParseReference(echoingRealm + "/app:v1")
		_, err := client(t, oci.WithBasicAuth("alice", pw4)).Resolve(ctx, ref)
		return err
	}, oci.ErrUnauthorized})
	noToken := tokenSrv(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"refresh_token":%q}`, refresh)
	})
	scenarios = append(scenarios, scenario{"token response without a token", func(t *testing.T) error {
		ref, _ := oci.ParseReference(noToken + "/app:v1")
		_, err := client(t, oci.WithBasicAuth("alice", pw4)).Resolve(ctx, ref)
		return err
	}, oci.ErrUnauthorized})

	// A docker config whose credentials the registry echoes, and a
	// credential helper that prints a secret as it fails.
	cfgPW := secret("CFG-SECRET-6")
	helperOut := secret("HELPER-SECRET-7")
	cfgHost := host(basicEcho.URL)
	authDir := t.TempDir()
	writeConfig(t, authDir, map[string]any{"auths": map[string]any{cfgHost: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("alice:" + cfgPW))}}})
	scenarios = append(scenarios, scenario{"docker config credentials echoed by the registry", func(t *testing.T) error {
		ref, _ := oci.ParseReference(cfgHost + "/app:v1")
		_, err := client(t, oci.WithDockerConfig(authDir)).Manifest(ctx, ref)
		return err
	}, oci.ErrUnauthorized})
	helperDir := t.TempDir()
	writeConfig(t, helperDir, map[string]any{"credHelpers": map[string]string{cfgHost: "ocisource-leaky"}})
	bin := t.TempDir()
	script := "#!/bin/sh\necho 'credentials are " + helperOut + "'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-ocisource-leaky"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	scenarios = append(scenarios, scenario{"credential helper output", func(t *testing.T) error {
		ref, _ := oci.ParseReference(cfgHost + "/app:v1")
		_, err := client(t, oci.WithDockerConfig(helperDir)).Resolve(ctx, ref)
		return err
	}, oci.ErrUnauthorized})

	// A blob redirected to a signed storage URL that cannot be reached.
	sig := secret("SIG-SECRET-8")
	reg := ocitest.NewT(t)
	repo, layer := layerOf(t, reg, "content")
	storage := closedPort(t)
	reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/", Status: http.StatusTemporaryRedirect,
		Header: http.Header{"Location": {"http://" + storage + "/bucket/blob?X-Amz-Credential=AKIA&X-Amz-Signature=" + sig}}})
	scenarios = append(scenarios, scenario{"signed redirect URL", func(t *testing.T) error {
		_, err := readBlob(client(t, oci.WithAnonymous()), repo, layer)
		return err
	}, nil})

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			err := sc.run(t)
			if err == nil {
				t.Fatal("no error")
			}
			if sc.want != nil && !errors.Is(err, sc.want) {
				t.Errorf("err = %v, want %v", err, sc.want)
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", errors.Unwrap(err))} {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("error shows the secret %q: %s", s, text)
					}
				}
			}
			t.Log(err)
		})
	}
	if !strings.Contains(logs.String(), "registry request") {
		t.Fatalf("nothing was logged: the test would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log shows the secret %q:\n%s", s, logs.String())
		}
	}
}

func writeConfig(t *testing.T, dir string, cfg map[string]any) {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
